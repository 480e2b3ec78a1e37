// Softmax and log-softmax over the last dimension, with a running maximum so logits of
// any finite size (±1e4 and beyond) give finite, exact-to-rounding results.
//
// Rows where every logit is -inf (fully masked attention rows) are defined, not NaN:
// softmax gives a row of zeros and log_softmax a row of -inf (the log of those zeros).
// The softmax backward through such a row is zero; log_softmax's backward formula with
// zero probabilities passes g through (dx = g), as it does for any -inf entry, matching
// PyTorch. -inf entries in an ordinary row get probability 0. +inf or NaN logits make
// their row NaN, so a bug upstream is not hidden.
#pragma once
#include "attnlab/core/tensor.h"

namespace attnlab::ops {

// x: [..., C] -> y: [..., C], each row over C summing to 1.
Tensor softmax(const Tensor& x);
// x: [..., C] -> y = x - max - log(sum exp(x - max)), each row.
Tensor log_softmax(const Tensor& x);

// The backward formulas on their own (no autograd), for fused ops that keep their own
// activations. y is the forward's output, g the gradient of the output; both [..., C].
//   softmax:     dx = y * (g - sum_c g*y)
//   log_softmax: dx = g - exp(y) * sum_c g
Tensor softmax_backward(const Tensor& y, const Tensor& g);
Tensor log_softmax_backward(const Tensor& y, const Tensor& g);

}  // namespace attnlab::ops
