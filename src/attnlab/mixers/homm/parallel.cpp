// Training / prefill form of HoMM's causal mean: the running sums are one cumulative sum
// over tokens, R = (cumsum_t M + S_prev) / (n_prev + t + 1). O(T F) time and memory.
//
// Precision: ops::cumsum accumulates in double even for float32 tensors (ops/reduce.h),
// so the sum at token t is the exact sum rounded once to float32, whatever t; a float32
// running sum would instead round at every token, an error that grows with the length
// (bench/bench_homm.cpp measures 5.2e-5 relative after a million tokens).
// Its backward, the reversed cumulative sum, accumulates in double too.
#include "attnlab/mixers/homm/homm.h"
#include "attnlab/ops/ops.h"

namespace attnlab::mixers {

Tensor homm_mean_parallel(const Tensor& m, const HommState* prev) {
  const int64_t B = m.size(0), T = m.size(1), F = m.size(2);
  Tensor sums = ops::cumsum(m, 1);  // [B, T, F]
  int64_t start = 0;
  if (prev && prev->len > 0) {
    start = prev->len;
    sums = ops::add(sums, ops::reshape(prev->sum.to(m.dtype()), {B, 1, F}));
  }
  return ops::mul(sums, homm_inverse_counts(start, T, m.dtype()));
}

}  // namespace attnlab::mixers
