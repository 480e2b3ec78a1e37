// Rotary position embedding (Su et al., RoFormer). Each pair of features (a, b) of a
// query or key at position p is rotated by the angle p * theta_i, theta_i = base^(-2i/R),
// for i < R/2, where R = rotary_dim (the first R features; the rest pass unchanged).
// Pairs are (2i, 2i+1) in the interleaved style (GPT-J, ggml "NORM") or (i, i + R/2) in
// the half-split style (GPT-NeoX, LLaMA in HF).
//
// Shapes: x [B, H, T, D]; position of row t is start_pos + t.
//
// Scalings that stretch a trained model's context without retraining (factor s, trained
// length L_train = original_length; docs/MECHANISMS.md "RoPE scalings"):
//   pi           theta_i / s (position interpolation: positions divided by s)
//   ntk          base' = base * s^(R/(R-2))
//   dynamic_ntk  base' = base * (s L / L_train - s + 1)^(R/(R-2)) when L > L_train, where
//                L is the current total length; unscaled otherwise
//   yarn         theta_i' = (theta_i / s)(1 - r_i) + theta_i r_i, r_i = 1 - ramp between the
//                correction dims of beta_fast and beta_slow; cos and sin (so q and k) are
//                multiplied by mscale = 1 + 0.1 ln s, the logits by mscale^2 (as in
//                jquesnelle/yarn, LlamaYaRNScaledRotaryEmbedding).
#pragma once
#include <string>
#include <vector>

#include "attnlab/core/tensor.h"

namespace attnlab::position {

enum class RopeStyle { HalfSplit, Interleaved };
enum class RopeScaling { None, PI, NTK, DynamicNTK, YaRN };

struct RopeParams {
  double base = 10000.0;
  RopeStyle style = RopeStyle::HalfSplit;
  int64_t rotary_dim = 0;  // 0 means the whole head dimension
  RopeScaling scaling = RopeScaling::None;
  double factor = 1.0;           // s
  int64_t original_length = 0;   // L_train (dynamic_ntk and yarn need it)
  double beta_fast = 32.0;       // yarn: rotations per L_train above which no interpolation
  double beta_slow = 1.0;        // yarn: rotations per L_train below which full interpolation
};

RopeStyle parse_rope_style(const std::string& name);  // "half" | "interleaved"
const char* rope_style_name(RopeStyle s);
RopeScaling parse_rope_scaling(const std::string& name);  // none | pi | ntk | dynamic_ntk | yarn
const char* rope_scaling_name(RopeScaling s);

// theta_i for i < rotary_dim / 2; `length` is the current total length L (used by dynamic_ntk).
std::vector<double> rope_frequencies(const RopeParams& p, int64_t rotary_dim, int64_t length = 0);
// The factor cos and sin are multiplied by: 1 + 0.1 ln s for yarn with s > 1, else 1.
double rope_mscale(const RopeParams& p);

// Differentiable: the backward rotates the gradient by the opposite angle (and the same
// mscale). `length` is L for dynamic_ntk; 0 means start_pos + T.
Tensor rope(const Tensor& x, int64_t start_pos, const RopeParams& p, int64_t length = 0);

}  // namespace attnlab::position
