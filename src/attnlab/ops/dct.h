// Orthonormal discrete cosine transforms along one dimension, through FFTW
// (O(N log N) for every N). Used by DCT-kernel linear attention (DiJiang), whose
// feature map multiplies by the orthonormal DCT-II matrix C (scipy's dct(norm="ortho")).
//
// Shapes: x [..., N, ...] -> same shape; `dim` picks N (negative counts from the end).
//   dct:  X_k = s_k sum_n x_n cos(pi (2n + 1) k / (2N)),  s_0 = sqrt(1/N), s_k = sqrt(2/N)
//   idct: x_n = sum_k s_k X_k cos(pi (2n + 1) k / (2N))  (DCT-III, the inverse)
// C is orthogonal, so each op's gradient is the other op applied to grad_out.
// Any strides are accepted; the output is contiguous.
#pragma once
#include <cstddef>
#include <cstdint>

#include "attnlab/core/tensor.h"

namespace attnlab::ops {

Tensor dct(const Tensor& x, int64_t dim = -1);
Tensor idct(const Tensor& x, int64_t dim = -1);

// FFTW plans created so far in this process; repeated calls with the same layout reuse
// their plans, so tests can see that this stops growing.
size_t dct_plans_created();

}  // namespace attnlab::ops
