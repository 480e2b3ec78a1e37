// The definition of HoMM's causal mean, as the reference code writes it (layers.py,
// `high_order_aggregation_` with a 3-d mask): a dense T x T mask of ones on and below the
// diagonal, a matrix product that sums the moments of every earlier token, and a division
// by the number of tokens summed:
//   sums = mask M + S_prev,   R_t = sums_t / (n_prev + t + 1)
// (S_prev, n_prev: what a state holds of earlier calls; zero without one). O(T^2 F), built
// from autograd ops so its gradients come from the ops' own checked rules.
#include "attnlab/mixers/homm/homm.h"
#include "attnlab/ops/ops.h"

namespace attnlab::mixers {

Tensor homm_mean_ref(const Tensor& m, const HommState* prev) {
  const int64_t B = m.size(0), T = m.size(1), F = m.size(2);
  std::vector<double> mask(static_cast<size_t>(T * T), 0.0);
  for (int64_t i = 0; i < T; ++i)
    for (int64_t j = 0; j <= i; ++j) mask[size_t(i * T + j)] = 1.0;
  Tensor sums = ops::bmm(Tensor::from_vector(mask, {1, T, T}).to(m.dtype()), m);  // [B, T, F]
  int64_t start = 0;
  if (prev && prev->len > 0) {
    start = prev->len;
    sums = ops::add(sums, ops::reshape(prev->sum.to(m.dtype()), {B, 1, F}));
  }
  return ops::mul(sums, homm_inverse_counts(start, T, m.dtype()));
}

}  // namespace attnlab::mixers
