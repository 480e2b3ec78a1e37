// The backward engine: reverse topological order from a root, gradients accumulated
// per node, leaf gradients accumulated (+=) into their buffers. Zeroing leaf gradients
// is explicit and belongs to the caller (the trainer zeroes its flat gradient buffer).
#pragma once
#include "attnlab/autograd/node.h"

namespace attnlab::autograd {

// Back-propagates from `root`. `seed` is d(loss)/d(root); when undefined, root must
// have one element and the seed is 1. The graph is consumed: a second backward through
// the same nodes is an error.
void backward(const Tensor& root, const Tensor& seed = Tensor());

// dst += src, elementwise, same shape and dtype (dst contiguous).
void accumulate_into(Tensor& dst, const Tensor& src);

}  // namespace attnlab::autograd
