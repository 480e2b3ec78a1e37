// Decoding form: one query at a time. Token t appends its key and value to the cache
// and attends to everything the cache holds (the fused kernel with a single query row
// at key position len - 1). Kerple's table is built once per call, for the longest
// distance of its last token. With DAPE, each token's one row of scores is processed
// whole: its convolution along keys sees that row's past keys and the zeroed future
// exactly as the parallel form's row does (scores.h).
#include "attnlab/mixers/softmax/softmax.h"
#include "attnlab/ops/ops.h"

namespace attnlab::mixers {

namespace {
// One query row at key position pos against keys [0, pos].
Tensor attend_one(const Tensor& q_row, const Tensor& k_all, const Tensor& v_all, int64_t pos,
                  const ops::AttentionOptions& opt, const ScoreTerms& terms, const Tensor& table) {
  if (terms.dape) return dape_attention_rows(q_row, k_all, v_all, pos, opt, terms);
  ops::AttentionOptions step = opt;
  step.q_offset = pos;
  if (table.defined()) return ops::attention_distance_bias(q_row, k_all, v_all, table, step);
  return ops::attention(q_row, k_all, v_all, step);
}
}  // namespace

Tensor softmax_attention_recurrent(const Tensor& q, const Tensor& k, const Tensor& v,
                                   const ops::AttentionOptions& opt, KVCache& cache,
                                   const ScoreTerms& terms) {
  int64_t T = q.size(2);
  Tensor table = terms.kerple() && !terms.dape ? kerple_table(terms, cache.len + T) : Tensor();
  std::vector<Tensor> outs;
  outs.reserve(size_t(T));
  for (int64_t t = 0; t < T; ++t) {
    auto [k_all, v_all] = cache.append(ops::slice(k, 2, t, t + 1), ops::slice(v, 2, t, t + 1));
    outs.push_back(attend_one(ops::slice(q, 2, t, t + 1), k_all, v_all, cache.len - 1, opt, terms, table));
  }
  return T == 1 ? outs[0] : ops::concat(outs, 2);
}

Tensor softmax_attention_recurrent_prefix(const Tensor& q, const Tensor& k_all, const Tensor& v_all,
                                          const ops::AttentionOptions& opt, const ScoreTerms& terms) {
  int64_t T = q.size(2), start = k_all.size(2) - T;
  Tensor table = terms.kerple() && !terms.dape ? kerple_table(terms, k_all.size(2)) : Tensor();
  std::vector<Tensor> outs;
  outs.reserve(size_t(T));
  for (int64_t t = 0; t < T; ++t)
    outs.push_back(attend_one(ops::slice(q, 2, t, t + 1), ops::slice(k_all, 2, 0, start + t + 1),
                              ops::slice(v_all, 2, 0, start + t + 1), start + t, opt, terms, table));
  return T == 1 ? outs[0] : ops::concat(outs, 2);
}

}  // namespace attnlab::mixers
