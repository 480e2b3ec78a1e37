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

      // ---- position (position/rope.cpp) ----
      {"rope", "position/rope", "rotary position embedding of queries or keys"},

      // ---- conv (ops/conv.cpp) ----
      {"conv1d", "conv", "1-D convolution over time: padding, dilation, groups (depthwise), optional bias"},

      // ---- dct (ops/dct.cpp) ----
      {"dct", "dct", "orthonormal DCT-II along one dimension (FFTW)"},
      {"idct", "dct", "orthonormal DCT-III along one dimension, the inverse of dct"},

      // ---- matmul (ops/matmul.cpp) ----
      {"matmul", "matmul", "a [..., M, K] @ weight [K, N] (one gemm; transposed views read in place)"},
      {"bmm", "matmul", "a [..., M, K] @ b [..., K, N] with broadcast batch dims"},

      // ---- reduce (ops/reduce.cpp) ----
      {"sum", "reduce", "sum over a list of dimensions (all when empty), accumulated in double"},
      {"mean", "reduce", "mean over a list of dimensions (all when empty)"},
      {"cumsum", "reduce", "inclusive prefix sum along one dimension, optionally reversed"},

      // ---- softmax (ops/softmax.cpp) ----
      {"softmax", "softmax", "softmax over the last dimension with a running max"},
      {"log_softmax", "softmax", "log-softmax over the last dimension with a running max"},

      // ---- norm (ops/norm.cpp) ----
      {"layer_norm", "norm", "layer norm over the last dimension, optional weight and bias"},
      {"rms_norm", "norm", "RMS norm over the last dimension, optional weight"},
      {"l2_normalize", "norm", "x / sqrt(sum x^2 + eps) over the last dimension (unit rows)"},

      // ---- embedding (ops/embedding.cpp) ----
      {"embedding", "embedding", "rows of a [V, C] table gathered by int32 ids (gradient to the table)"},

      // ---- loss (ops/loss.cpp) ----
      {"cross_entropy", "loss", "mean -log softmax(logits)[target] over targets not ignored"},
      {"cross_entropy_per_token", "loss", "-log softmax(logits)[target] per row, 0 where ignored"},

      // ---- mask (ops/mask.cpp) ----
      {"causal_mask", "mask", "scores kept where j <= i + offset, fill elsewhere"},
      {"sliding_window_mask", "mask", "scores kept where i + offset - window < j <= i + offset"},

      // ---- attention (ops/attention.cpp) ----
      {"attention", "attention", "fused softmax attention: causal/window masks, ALiBi, GQA"},

      // ---- emo_loss (ops/emo_loss.cpp) ----
      {"emo_distance", "emo_loss", "EMO's 1 - <e^_target, sum_i softmax(logits)_i e^_i> per row, frozen unit rows e^"},

      // ---- distance bias (ops/attention.cpp, position/kerple.cpp) ----
      {"attention_distance_bias", "attention", "fused attention plus a learned per-head bias by distance (Kerple)"},
      {"kerple_bias", "position/kerple", "Kerple's -p log(1 + a |i - j|) as a table by distance or a matrix"},

      // ---- linear attention (ops/linear_attention.cpp) ----
      {"decayed_linear_attention", "linear_attention",
       "sum_{j<=i} gamma_h^(i-j) (q_i . k_j) v_j, chunkwise or recurrent; learnable log gamma"},

      // ---- pool (ops/pool.cpp) ----
      {"max_over_time", "pool", "max over the valid time steps of [B, T, C] (sequence classification)"},

      // ---- fused MLP activation (ops/elementwise.cpp) ----
      {"swiglu", "elementwise", "silu(gate) * up in one pass (the SwiGLU MLP)"},
  };
  return table;
}

const OpInfo* find_op(std::string_view name) {
  for (const OpInfo& op : op_table())
    if (name == op.name) return &op;
  return nullptr;
}

}  // namespace attnlab::ops
