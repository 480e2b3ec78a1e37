// Decoding form of the retention core: S_t = gamma S_{t-1} + k_t^T v_t, o_t = q_t S_t, one
// token at a time with a fixed-size state [B, H, D, Dv]. (torchscale's recurrent form also
// rescales S by sqrt(c_{t-1} / c_t); here that scalar is applied to o_t outside the core,
// which is the same number and keeps the core shared with the other forms.)
#include "attnlab/mixers/retention/retention.h"

namespace attnlab::mixers {

Tensor retention_core_recurrent(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& lg,
                                DecayedState* st) {
  return decayed_core(q, k, v, lg, Form::Recurrent, 0, st);
}

}  // namespace attnlab::mixers
