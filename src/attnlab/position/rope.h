// Rotary position embedding (Su et al., RoFormer). Each pair of features (a, b) of a
// query or key at position p is rotated by the angle p * theta_i, theta_i = base^(-2i/R),
// for i < R/2, where R = rotary_dim (the first R features; the rest pass unchanged).
// Pairs are (2i, 2i+1) in the interleaved style (GPT-J, ggml "NORM") or (i, i + R/2) in
// the half-split style (GPT-NeoX, LLaMA in HF).
//
// Shapes: x [B, H, T, D]; position of row t is start_pos + t.
#pragma once
#include <string>
#include <vector>

#include "attnlab/core/tensor.h"

namespace attnlab::position {

enum class RopeStyle { HalfSplit, Interleaved };

struct RopeParams {
  double base = 10000.0;
  RopeStyle style = RopeStyle::HalfSplit;
  int64_t rotary_dim = 0;  // 0 means the whole head dimension
};

RopeStyle parse_rope_style(const std::string& name);  // "half" | "interleaved"
const char* rope_style_name(RopeStyle s);

// theta_i for i < rotary_dim / 2.
std::vector<double> rope_frequencies(const RopeParams& p, int64_t rotary_dim);

// Differentiable: the backward rotates the gradient by the opposite angle.
Tensor rope(const Tensor& x, int64_t start_pos, const RopeParams& p);

}  // namespace attnlab::position
