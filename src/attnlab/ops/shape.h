// Shape ops: views where possible (reshape of a contiguous tensor, transpose, slice),
// copies otherwise (concat, contiguous of a strided view). All differentiable.
#pragma once
#include <vector>

#include "attnlab/core/tensor.h"

namespace attnlab::ops {

// One dimension may be -1 (inferred). Copies only when `a` is not contiguous.
Tensor reshape(const Tensor& a, Shape shape);
Tensor transpose(const Tensor& a, int64_t d0, int64_t d1);
// Elements [start, end) along `dim`; a view.
Tensor slice(const Tensor& a, int64_t dim, int64_t start, int64_t end);
Tensor concat(const std::vector<Tensor>& parts, int64_t dim);
// Pieces of the given sizes along `dim` (they must add up to its size); views.
std::vector<Tensor> split(const Tensor& a, const std::vector<int64_t>& sizes, int64_t dim);
// A packed copy when `a` is strided, `a` itself otherwise; gradients pass through.
Tensor contiguous(const Tensor& a);

}  // namespace attnlab::ops
