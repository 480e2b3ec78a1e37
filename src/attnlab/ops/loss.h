// Cross-entropy of logits against integer targets, fused with the log-softmax.
// Shapes: logits [N, V] (or [..., V], flattened to N rows), targets int32 with one
// entry per row: shape [N] or the logits' shape without the last dimension.
#pragma once
#include <cstdint>

#include "attnlab/core/tensor.h"

namespace attnlab::ops {

// The mean over rows whose target is not `ignore_index` of -log softmax(logits)[target]:
// a scalar (shape []). When every target is ignored the result is 0 and so is the
// gradient. A target outside [0, V) other than ignore_index is an error naming it.
// Differentiable w.r.t. the logits.
Tensor cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index = -100);

// The per-row losses -log softmax(logits)[target], 0 where the target is ignored, with
// the targets' shape (for per-position loss and bits per byte). Differentiable.
Tensor cross_entropy_per_token(const Tensor& logits, const Tensor& targets,
                               int64_t ignore_index = -100);

}  // namespace attnlab::ops
