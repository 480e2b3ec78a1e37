#include "attnlab/ops/op_table.h"

namespace attnlab::ops {

// One block per family, in the order of ops/ops.h. Keep a blank line between blocks.
const std::vector<OpInfo>& op_table() {
  static const std::vector<OpInfo> table = {
      // ---- elementwise (ops/elementwise.cpp) ----
      {"add", "elementwise", "a + b with broadcasting"},
      {"sub", "elementwise", "a - b with broadcasting"},
      {"mul", "elementwise", "a * b with broadcasting"},
      {"div", "elementwise", "a / b with broadcasting"},
      {"scale", "elementwise", "a * s for a scalar s"},
      {"add_scalar", "elementwise", "a + s for a scalar s"},
      {"neg", "elementwise", "-a"},
      {"exp", "elementwise", "exp(a)"},
      {"log", "elementwise", "log(a)"},
      {"sqrt", "elementwise", "sqrt(a)"},
      {"sigmoid", "elementwise", "1 / (1 + exp(-a))"},
      {"silu", "elementwise", "a * sigmoid(a) (swish)"},
      {"gelu", "elementwise", "a * Phi(a) with the exact normal CDF"},
      {"gelu_tanh", "elementwise", "GELU with the tanh approximation (GPT-2)"},
      {"tanh", "elementwise", "tanh(a)"},
      {"relu", "elementwise", "max(a, 0)"},

      // ---- shape (ops/shape.cpp) ----
      {"reshape", "shape", "view with a new shape (copies only a strided input)"},
      {"transpose", "shape", "swap two dimensions (a view)"},
      {"slice", "shape", "a range along one dimension (a view)"},
      {"concat", "shape", "join tensors along one dimension"},
      {"split", "shape", "pieces of given sizes along one dimension (views)"},
      {"contiguous", "shape", "packed copy of a strided view"},

      // ---- attention (ops/attention.cpp) ----
      {"attention", "attention", "fused softmax attention: causal/window masks, ALiBi, GQA"},
  };
  return table;
}

const OpInfo* find_op(std::string_view name) {
  for (const OpInfo& op : op_table())
    if (name == op.name) return &op;
  return nullptr;
}

}  // namespace attnlab::ops
