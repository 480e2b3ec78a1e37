// Decoding form: one query at a time. Token t appends its key and value to the cache
// and attends to everything the cache holds (the fused kernel with a single query row
// at key position len - 1).
#include "attnlab/mixers/softmax/softmax.h"
#include "attnlab/ops/ops.h"

namespace attnlab::mixers {

Tensor softmax_attention_recurrent(const Tensor& q, const Tensor& k, const Tensor& v,
                                   const ops::AttentionOptions& opt, KVCache& cache) {
  int64_t T = q.size(2);
  std::vector<Tensor> outs;
  outs.reserve(size_t(T));
  for (int64_t t = 0; t < T; ++t) {
    auto [k_all, v_all] = cache.append(ops::slice(k, 2, t, t + 1), ops::slice(v, 2, t, t + 1));
    ops::AttentionOptions step = opt;
    step.q_offset = cache.len - 1;
    outs.push_back(ops::attention(ops::slice(q, 2, t, t + 1), k_all, v_all, step));
  }
  return T == 1 ? outs[0] : ops::concat(outs, 2);
}

Tensor softmax_attention_recurrent_prefix(const Tensor& q, const Tensor& k_all, const Tensor& v_all,
                                          const ops::AttentionOptions& opt) {
  int64_t T = q.size(2), start = k_all.size(2) - T;
  std::vector<Tensor> outs;
  outs.reserve(size_t(T));
  for (int64_t t = 0; t < T; ++t) {
    ops::AttentionOptions step = opt;
    step.q_offset = start + t;
    outs.push_back(ops::attention(ops::slice(q, 2, t, t + 1), ops::slice(k_all, 2, 0, start + t + 1),
                                  ops::slice(v_all, 2, 0, start + t + 1), step));
  }
  return T == 1 ? outs[0] : ops::concat(outs, 2);
}

}  // namespace attnlab::mixers
