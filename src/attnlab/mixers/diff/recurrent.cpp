// Decoding form: one query at a time against the KV cache, for both maps. The softmax
// mixer's single-row loop (softmax_attention_recurrent_prefix) runs each map: query row
// t sees the keys and values up to its own position in the cache, which already holds
// the new tokens (DiffAttention::forward appends them first, one cache for both maps).
#include "attnlab/mixers/diff/diff.h"
#include "attnlab/ops/ops.h"

namespace attnlab::mixers {

Tensor diff_attention_recurrent(const Tensor& q, const Tensor& k_all, const Tensor& v_all, const Tensor& lambda,
                                const ops::AttentionOptions& opt, const ScoreTerms& terms) {
  Tensor o1 = softmax_attention_recurrent_prefix(diff_subhead(q, 0), diff_subhead(k_all, 0), v_all, opt, terms);
  Tensor o2 = softmax_attention_recurrent_prefix(diff_subhead(q, 1), diff_subhead(k_all, 1), v_all, opt, terms);
  return ops::sub(o1, ops::mul(ops::reshape(lambda, {1, 1, 1, 1}), o2));
}

}  // namespace attnlab::mixers
