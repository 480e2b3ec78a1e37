// Decoding form of DiJiang's core (not released by the authors): S_t = gamma S_{t-1} +
// phi(k_t)^T v_t, o_t = phi(q_t) S_t with a fixed-size state [B, H, D, D]. With the original
// decay the same recurrence runs with gamma = 1 on D1- and D2-scaled features.
#include "attnlab/mixers/dijiang/dijiang.h"

namespace attnlab::mixers {

Tensor dijiang_core_recurrent(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& lg, DecayedState* st) {
  return decayed_core(q, k, v, lg, Form::Recurrent, 0, st);
}

}  // namespace attnlab::mixers
