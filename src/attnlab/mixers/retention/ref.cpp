// The definition of the retention core: O = (Q K^T .* D) V with D_ij = gamma^(i-j) for
// j <= i, an explicit T x T matrix of autograd ops (ops::decayed_linear_attention_reference),
// plus gamma^(i+1) q_i S for a state S left by earlier calls.
#include "attnlab/mixers/retention/retention.h"

namespace attnlab::mixers {

Tensor retention_core_ref(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& lg, DecayedState* st) {
  return decayed_core(q, k, v, lg, Form::Ref, 0, st);
}

}  // namespace attnlab::mixers
