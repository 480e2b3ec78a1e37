// Broadcasting rules (NumPy's): shapes align on the right; a dimension of 1 stretches.
#pragma once
#include "attnlab/core/tensor.h"

namespace attnlab::ops {

// The broadcast shape of a and b, or an error naming `op` and both shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

// Strides that read `t` as if it had shape `target` (0 along stretched dimensions).
Shape broadcast_strides(const Tensor& t, const Shape& target);

// Sums `g` over the dimensions that broadcasting stretched, giving a tensor of `shape`:
// the gradient of an input that was broadcast to g's shape.
Tensor sum_to_shape(const Tensor& g, const Shape& shape);

}  // namespace attnlab::ops
