// Matrix products, through BLAS (kernels/cpu/blas.h). Float32 and float64.
//
//   matmul(a, b): a [..., M, K] @ b [K, N] -> [..., M, N]. The linear layer: b is a 2-D
//                 weight and the leading dims of a fold into M, so x [B, T, C] @ w [C, 3C]
//                 is one gemm of (B*T) x C by C x 3C.
//   bmm(a, b):    a [..., M, K] @ b [..., K, N] -> [..., M, N], batch dims broadcast as in
//                 NumPy. Attention scores: q [B, H, T, D] @ transpose(k, -1, -2) [B, H, D, T].
//
// Operands are read in place whenever each matrix has unit stride along one of its two
// dims: transposed views (ops::transpose of the last two dims) go to BLAS as transpose
// flags and row-strided slices (a column range of a fused qkv projection) as leading
// dimensions, without a copy. Other layouts are packed first.
#pragma once
#include "attnlab/core/tensor.h"

namespace attnlab::ops {

Tensor matmul(const Tensor& a, const Tensor& b);
Tensor bmm(const Tensor& a, const Tensor& b);

}  // namespace attnlab::ops
