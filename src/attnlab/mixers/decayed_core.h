// What the decayed linear-attention mixers (retention, DiJiang) share: their recurrent
// state and the one call that runs the decayed core in a given form
// (ops/linear_attention.h). Only the core differs between forms; the projections,
// feature maps, norms and gates around it are shared code in each mixer, so a
// difference between forms can only come from here.
#pragma once
#include <cstdint>
#include <vector>

#include "attnlab/mixers/mixer.h"

namespace attnlab::mixers {

// S [B, H, Dk, Dv] (sum of decayed k^T v so far) and the tokens consumed. Its size does
// not depend on the length: B * H * Dk * Dv numbers.
class DecayedState : public MixerState {
 public:
  int64_t length() const override { return len; }
  size_t bytes() const override { return s.defined() ? size_t(s.numel()) * dtype_size(s.dtype()) : 0; }
  Tensor s;  // undefined until the first call
  int64_t len = 0;
};

// q, k [B, H, T, Dk], v [B, H, T, Dv], log_gamma [H] -> o [B, H, T, Dv]:
//   Ref        decayed_linear_attention_reference (explicit T x T, autograd ops);
//   Parallel   the chunkwise op with `chunk` rows per chunk;
//   Recurrent  the op's token-by-token forward (S <- gamma S + k^T v).
// With a state, o continues from state->s and the state is advanced in place (under grad
// mode through autograd ops, so gradients reach earlier calls' tokens).
Tensor decayed_core(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& log_gamma, Form form,
                    int64_t chunk, DecayedState* state);

// Fetches the mixer's own state type from `state` (null stays null); a wrong type is an
// error naming the mixer.
DecayedState* decayed_state_of(MixerState* state, const char* mixer);

// x [B, T, C] -> [B, heads, T, D] through weight [heads * D, C] (PyTorch's Linear layout).
Tensor project_to_heads(const Tensor& x, const Tensor& w, int64_t heads, int64_t D);
// o [B, H, T, D] -> [B, T, H * D].
Tensor merge_heads(const Tensor& o);

// Xavier-uniform bound gain * sqrt(6 / (fan_in + fan_out)) (torchscale's initialisation).
double xavier_bound(int64_t fan_in, int64_t fan_out, double gain);

// Parametrisation of a learnable decay: theta_h = log(-log gamma_h), so that
// log gamma = -exp(theta) < 0 for any theta (gamma stays in (0, 1)).
std::vector<double> decay_theta(const std::vector<double>& gammas);
// The log gammas as a tensor [H] in `dtype`, without autograd (fixed decays).
Tensor log_gamma_constant(const std::vector<double>& gammas, DType dtype);

}  // namespace attnlab::mixers
