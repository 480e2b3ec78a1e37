// Elementwise ops: binary with broadcasting, scalar, and unary activations.
// Shapes: any; binary results take the broadcast shape of the inputs.
#pragma once
#include "attnlab/core/tensor.h"

namespace attnlab::ops {

Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor scale(const Tensor& a, double s);
Tensor add_scalar(const Tensor& a, double s);

Tensor neg(const Tensor& a);
Tensor exp(const Tensor& a);
Tensor log(const Tensor& a);
Tensor sqrt(const Tensor& a);
Tensor sigmoid(const Tensor& a);
Tensor silu(const Tensor& a);
Tensor gelu(const Tensor& a);       // exact: a * Phi(a)
Tensor gelu_tanh(const Tensor& a);  // tanh approximation, as GPT-2
Tensor tanh(const Tensor& a);
Tensor relu(const Tensor& a);
// The SwiGLU MLP's activation in one pass: silu(gate) * up (same shapes), without the
// silu(gate) tensor of the composition or its extra passes over memory.
Tensor swiglu(const Tensor& gate, const Tensor& up);

}  // namespace attnlab::ops
