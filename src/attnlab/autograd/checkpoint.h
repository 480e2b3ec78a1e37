// Gradient checkpointing: run a differentiable function without keeping its
// intermediate activations, and recompute them during the backward pass.
//
// checkpoint(name, fn, inputs) returns fn(inputs) computed under NoGradGuard and records
// one node "name" whose backward runs fn again on detached copies of the inputs (leaves)
// with grad mode on, back-propagates the incoming gradient through that fresh graph, and
// returns the leaves' gradients. So the forward keeps only the inputs and the output, and
// the backward holds one call's activations at a time: calling it on blocks of a large
// computation bounds peak memory by a block (DAPE's parallel form, mixers/softmax/).
//
// fn must be a pure function of its inputs (the same values twice); tensors it captures
// instead of taking as inputs get no gradient through the node.
#pragma once
#include <functional>
#include <vector>

#include "attnlab/core/tensor.h"

namespace attnlab::autograd {

using CheckpointFn = std::function<Tensor(const std::vector<Tensor>&)>;

Tensor checkpoint(const char* name, const CheckpointFn& fn, const std::vector<Tensor>& inputs);

}  // namespace attnlab::autograd
