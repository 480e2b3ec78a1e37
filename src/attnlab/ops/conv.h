// 1-D convolution over time (stride 1), as PyTorch's conv1d (a cross-correlation).
// Used for short token-mixing convolutions (depthwise, causal) and for convolutions
// over attention scores along the key axis (DAPE).
//
// Shapes: x [B, C_in, T], weight [C_out, C_in / groups, K], bias [C_out] or undefined
//   -> y [B, C_out, T_out],  T_out = T + padding_left + padding_right - dilation * (K - 1)
//   y[b, o, t] = bias[o] + sum_{c, k} weight[o, c, k] * x[b, g * C_in/groups + c, t + k * dilation - padding_left]
// with g = o / (C_out / groups) and x read as zero outside [0, T).
#pragma once
#include <cstdint>

#include "attnlab/core/tensor.h"

namespace attnlab::ops {

struct ConvOptions {
  int64_t padding_left = 0;
  int64_t padding_right = 0;
  int64_t dilation = 1;
  int64_t groups = 1;

  // T_out == T: dilation * (K - 1) zeros split as PyTorch's padding="same" does
  // (the odd one goes on the right).
  static ConvOptions same(int64_t kernel, int64_t dilation = 1, int64_t groups = 1);
  // T_out == T and y[t] depends on x[<= t] only: all dilation * (K - 1) zeros on the left.
  static ConvOptions causal(int64_t kernel, int64_t dilation = 1, int64_t groups = 1);
  // Depthwise (groups = channels), the common token-mixing case.
  static ConvOptions causal_depthwise(int64_t kernel, int64_t channels) {
    return causal(kernel, 1, channels);
  }
};

Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias, const ConvOptions& options);

}  // namespace attnlab::ops
