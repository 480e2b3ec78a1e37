// The definition of differential attention, as explicit T x T matrices built from
// autograd ops: the two softmax maps of the softmax mixer's reference (same scale, ALiBi
// term, Kerple's bias, causal and window masks), their difference, and its product with the values:
//   A_s = softmax_attention_probs_ref(q_s, k_s)        [B, hkv, G, Tq, Tk]
//   O   = (A_1 - lambda A_2) V                          [B, h, Tq, 2d]
#include "attnlab/mixers/diff/diff.h"
#include "attnlab/ops/ops.h"

namespace attnlab::mixers {

Tensor diff_attention_ref(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& lambda,
                          const ops::AttentionOptions& opt, const ScoreTerms& terms) {
  int64_t B = q.size(0), H = q.size(1) / 2, Tq = q.size(2), Hkv = v.size(1), Tk = v.size(2);
  Tensor a1 = softmax_attention_probs_ref(diff_subhead(q, 0), diff_subhead(k, 0), opt, terms);
  Tensor a2 = softmax_attention_probs_ref(diff_subhead(q, 1), diff_subhead(k, 1), opt, terms);
  Tensor a = ops::sub(a1, ops::mul(ops::reshape(lambda, {1, 1, 1, 1, 1}), a2));
  Tensor v5 = ops::reshape(v, {B, Hkv, 1, Tk, v.size(3)});
  return ops::reshape(ops::bmm(a, v5), {B, H, Tq, v.size(3)});
}

}  // namespace attnlab::mixers
