// Reductions: sum and mean over any set of dimensions, and the inclusive prefix sum.
// float32 inputs accumulate in double, so a sum of 1e6 elements is as accurate as its
// float32 result can be; the result keeps the input's dtype.
#pragma once
#include <vector>

#include "attnlab/core/tensor.h"

namespace attnlab::ops {

// Sum over `dims` (negative indices count from the end; each at most once). An empty
// list reduces every dimension and gives a 0-d tensor (shape [], one element), as
// torch.sum does. keepdim keeps the reduced dimensions with size 1.
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
// sum / (number of elements reduced); reducing over zero elements is an error.
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);

// Inclusive prefix sum along `dim`: y[i] = x[0] + ... + x[i], or with reverse
// y[i] = x[i] + ... + x[n-1]. Its backward is the prefix sum in the other direction.
Tensor cumsum(const Tensor& x, int64_t dim, bool reverse = false);

}  // namespace attnlab::ops
