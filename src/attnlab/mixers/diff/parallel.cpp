// Training / prefill form: the fused softmax attention kernel (ops/attention.h), called
// once per map with values 2d wide (the reference code's flashdiff_1; the kernel allows
// Dv != D and grouped heads), then O = O_1 - lambda O_2. (A_1 - lambda A_2) V equals
// A_1 V - lambda A_2 V, so no T x T matrix is built and memory stays linear in T.
#include "attnlab/mixers/diff/diff.h"
#include "attnlab/ops/ops.h"

namespace attnlab::mixers {

Tensor diff_attention_parallel(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& lambda,
                               const ops::AttentionOptions& opt, const ScoreTerms& terms) {
  // softmax_attention_parallel is ops::attention, or its distance-bias form with Kerple.
  Tensor o1 = softmax_attention_parallel(diff_subhead(q, 0), diff_subhead(k, 0), v, opt, terms);
  Tensor o2 = softmax_attention_parallel(diff_subhead(q, 1), diff_subhead(k, 1), v, opt, terms);
  return ops::sub(o1, ops::mul(ops::reshape(lambda, {1, 1, 1, 1}), o2));
}

}  // namespace attnlab::mixers
