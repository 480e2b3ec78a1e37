// Training / prefill form: the fused, tiled attention kernel (ops/attention.h). It never
// builds the T x T matrix; the backward recomputes probabilities from the saved
// log-sum-exp, so memory grows linearly with T. Kerple enters the kernel as a bias
// table by distance.
//
// DAPE needs the processed scores of whole rows before the softmax, so it cannot use the
// online softmax: it goes block by block over query rows (each block sees the keys up to
// its last row), every block under gradient checkpointing, so neither the forward nor the
// backward ever holds more than one block's scores and convolution activations.
#include "attnlab/autograd/checkpoint.h"
#include "attnlab/mixers/softmax/softmax.h"
#include "attnlab/ops/ops.h"

namespace attnlab::mixers {

namespace {

Tensor dape_parallel(const Tensor& q, const Tensor& k, const Tensor& v, const ops::AttentionOptions& opt,
                     const ScoreTerms& terms) {
  const int64_t B = q.size(0), H = q.size(1), Tq = q.size(2), Tk = k.size(2);
  const int64_t offset = opt.q_offset >= 0 ? opt.q_offset : Tk - Tq;
  const DapeWeights& w = *terms.dape;
  const int64_t rows = dape_block_rows(B, Tq, Tk, H, w.w1.size(1), w.w1.size(0),
                                       int64_t(dtype_size(q.dtype())), kDapeBlockBudgetBytes);
  // One block holds no more than the budget anyway: no recomputation then.
  if (rows >= Tq) return dape_attention_rows(q, k, v, offset, opt, terms);
  std::vector<Tensor> outs;
  for (int64_t i0 = 0; i0 < Tq; i0 += rows) {
    const int64_t r = std::min(rows, Tq - i0), keys = std::min(Tk, offset + i0 + r);
    // Everything with a gradient is an input of the checkpoint (checkpoint.h).
    std::vector<Tensor> in{ops::slice(q, 2, i0, i0 + r), ops::slice(k, 2, 0, keys), ops::slice(v, 2, 0, keys),
                           terms.kerple_p, terms.kerple_a, w.w1, w.b1, w.w2, w.b2};
    auto block = [opt, kernel = w.kernel, with_bias = w.with_bias, pos = offset + i0](const std::vector<Tensor>& x) {
      DapeWeights bw{x[5], x[6], x[7], x[8], kernel, with_bias};
      ScoreTerms t;
      t.kerple_p = x[3];
      t.kerple_a = x[4];
      t.dape = &bw;
      return dape_attention_rows(x[0], x[1], x[2], pos, opt, t);
    };
    outs.push_back(autograd::checkpoint("dape_block", block, in));
  }
  return ops::concat(outs, 2);
}

}  // namespace

Tensor softmax_attention_parallel(const Tensor& q, const Tensor& k, const Tensor& v,
                                  const ops::AttentionOptions& opt, const ScoreTerms& terms) {
  if (terms.dape) return dape_parallel(q, k, v, opt, terms);
  if (terms.kerple()) {
    const int64_t offset = opt.q_offset >= 0 ? opt.q_offset : k.size(2) - q.size(2);
    return ops::attention_distance_bias(q, k, v, kerple_table(terms, std::max(offset + q.size(2), k.size(2))), opt);
  }
  return ops::attention(q, k, v, opt);
}

}  // namespace attnlab::mixers
