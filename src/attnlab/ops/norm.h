// Normalisation over the last dimension C: layer norm, RMS norm and L2 normalisation.
//
// The forward saves per-row statistics (mean and 1/std, or 1/rms) for the backward, as
// llm.c's layernorm_forward/backward do. The weight and bias gradients are sums over
// rows: each thread sums its own contiguous rows (in the input's type for 32 rows at a
// time, then into a double partial), and the partials are added in thread order, so
// they are bitwise reproducible for a given thread count.
#pragma once
#include "attnlab/core/tensor.h"

namespace attnlab::ops {

// x: [..., C]; weight, bias: [C] or undefined (Tensor()) for none.
// y = (x - mean) / sqrt(var + eps) * weight + bias, var the biased (1/C) variance.
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps = 1e-5);
// x: [..., C]; weight: [C] or undefined.  y = x / sqrt(mean(x^2) + eps) * weight.
Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps = 1e-6);
// x: [..., C].  y = x / sqrt(sum_c x^2 + eps): unit rows (KeyNorm, cosine attention).
// eps inside the root keeps it smooth at 0 (F.normalize clamps the norm instead).
Tensor l2_normalize(const Tensor& x, double eps = 1e-12);

// The kernels without autograd, for code that keeps its own activations.
// mean and rstd: [N] with N = numel / C; rms_norm leaves mean undefined.
struct NormForward {
  Tensor y, mean, rstd;
};
struct NormGrads {
  Tensor dx, dweight, dbias;  // dweight/dbias undefined when not asked for
};
NormForward layer_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps);
NormGrads layer_norm_backward(const Tensor& g, const Tensor& x, const Tensor& weight,
                              const Tensor& mean, const Tensor& rstd, bool need_dweight, bool need_dbias);
NormForward rms_norm_forward(const Tensor& x, const Tensor& weight, double eps);
NormGrads rms_norm_backward(const Tensor& g, const Tensor& x, const Tensor& weight,
                            const Tensor& rstd, bool need_dweight);

}  // namespace attnlab::ops
