// Training / prefill form: the fused, tiled attention kernel (ops/attention.h). It never
// builds the T x T matrix; the backward recomputes probabilities from the saved
// log-sum-exp, so memory grows linearly with T.
#include "attnlab/mixers/softmax/softmax.h"

namespace attnlab::mixers {

Tensor softmax_attention_parallel(const Tensor& q, const Tensor& k, const Tensor& v,
                                  const ops::AttentionOptions& opt) {
  return ops::attention(q, k, v, opt);
}

}  // namespace attnlab::mixers
