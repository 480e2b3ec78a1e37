// Attention masks applied to a block of scores.
// Shapes: scores [..., Tq, Tk] -> the same shape. Query row i sits at absolute position
// i + offset among the keys: offset = Tk - Tq for a block of queries at the end of a
// longer key sequence (decoding with a cache), 0 for training.
#pragma once
#include <cstdint>
#include <limits>

#include "attnlab/core/tensor.h"

namespace attnlab::ops {

// Keeps (i, j) when j <= i + offset, sets the rest to `fill`. The gradient passes where
// kept and is zero where masked.
Tensor causal_mask(const Tensor& scores, int64_t offset = 0,
                   double fill = -std::numeric_limits<double>::infinity());

// Keeps (i, j) when i + offset - window < j <= i + offset: each query sees itself and
// the window - 1 keys before it. window >= 1.
Tensor sliding_window_mask(const Tensor& scores, int64_t window, int64_t offset = 0,
                           double fill = -std::numeric_limits<double>::infinity());

}  // namespace attnlab::ops
