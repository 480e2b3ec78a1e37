// Training / prefill form of the retention core: the chunkwise decayed scan
// (kernels/cpu/decayed_scan.h). Inside a chunk the decays are gamma^(r-s), r >= s; across
// chunks the state is carried with gamma^(chunk length). Memory is linear in T.
#include "attnlab/mixers/retention/retention.h"

namespace attnlab::mixers {

Tensor retention_core_parallel(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& lg, int64_t chunk,
                               DecayedState* st) {
  return decayed_core(q, k, v, lg, Form::Parallel, chunk, st);
}

}  // namespace attnlab::mixers
