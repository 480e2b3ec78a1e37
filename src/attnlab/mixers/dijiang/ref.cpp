// The definition of DiJiang's core once the feature map is applied: explicit T x T decay
// matrix gamma^(i-j) (j <= i) of autograd ops (ops::decayed_linear_attention_reference).
// The released code's O(L^2) parallel form is this with the decay matrix D1[i] D2[j].
#include "attnlab/mixers/dijiang/dijiang.h"

namespace attnlab::mixers {

Tensor dijiang_core_ref(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& lg, DecayedState* st) {
  return decayed_core(q, k, v, lg, Form::Ref, 0, st);
}

}  // namespace attnlab::mixers
