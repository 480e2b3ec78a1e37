// Training / prefill form of DiJiang's core: the chunkwise decayed scan. Every decay factor
// is gamma^m with m >= 0 (in-chunk differences, whole-chunk lengths), so unlike the
// released D1 = gamma^i, D2 = gamma^-j it cannot overflow at any length.
#include "attnlab/mixers/dijiang/dijiang.h"

namespace attnlab::mixers {

Tensor dijiang_core_parallel(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& lg, int64_t chunk,
                             DecayedState* st) {
  return decayed_core(q, k, v, lg, Form::Parallel, chunk, st);
}

}  // namespace attnlab::mixers
