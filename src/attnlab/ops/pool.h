// Pooling over time for sequence classification (lra/classifier.h).
// Shapes: x [B, T, C], lengths: B valid lengths (1 <= len <= T; padding at the end)
// -> [B, C].
#pragma once
#include <cstdint>
#include <vector>

#include "attnlab/core/tensor.h"

namespace attnlab::ops {

// y[b, c] = max over t < lengths[b] of x[b, t, c]. The gradient goes to the first
// position holding the maximum.
Tensor max_over_time(const Tensor& x, const std::vector<int64_t>& lengths);

}  // namespace attnlab::ops
