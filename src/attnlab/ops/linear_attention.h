// Decayed linear attention (the kernel that retention and DiJiang share; DESIGN.md
// convention 5). With q, k already feature-mapped (phi applied by the caller):
//
//   o_i = gamma_h^(i+1) q_i S0 + sum_{j <= i} gamma_h^(i-j) (q_i . k_j) v_j
//   S_T = gamma_h^T S0 + sum_{j < T} gamma_h^(T-1-j) k_j^T v_j        (the state after the call)
//
// Shapes: q, k [B, H, T, Dk], v [B, H, T, Dv], log_gamma [H] with every entry <= 0
// (gamma in (0, 1]; a caller that learns the decay passes log_gamma = -exp(theta), so any
// theta gives a valid decay), s0 [B, H, Dk, Dv] or undefined (zero state) -> o [B, H, T, Dv].
//
// Forms (kernels/cpu/decayed_scan.h), all differentiable in q, k, v, log_gamma and s0
// through the same chunkwise backward:
//   chunkwise (default)  exponents are in-chunk differences (r - s) >= 0 and whole-chunk
//                        lengths, so every factor gamma^m <= 1 at any length;
//   recurrent            S <- gamma S + k_t^T v_t, o_t = q_t S (decoding, one token at a time).
// The reference is decayed_linear_attention_reference: explicit T x T matrices built
// from autograd ops (its gradients come from those ops).
#pragma once
#include <cstdint>

#include "attnlab/core/tensor.h"

namespace attnlab::ops {

struct DecayedLinearOptions {
  int64_t chunk = 32;      // rows per chunk (chunkwise form); measured in docs/BENCHMARKS.md
  bool recurrent = false;  // forward token by token instead of chunkwise

  static DecayedLinearOptions make(int64_t chunk, bool recurrent = false) {
    DecayedLinearOptions o;
    o.chunk = chunk;
    o.recurrent = recurrent;
    return o;
  }
};

// The differentiable op ("decayed_linear_attention" in the op table). When state_out is
// given it receives S_T computed by the kernel, without autograd history (decoding);
// a differentiable S_T is decayed_linear_state's.
Tensor decayed_linear_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& log_gamma,
                                const Tensor& s0, const DecayedLinearOptions& opt = {},
                                Tensor* state_out = nullptr);

// S_T from autograd ops (one bmm): what a differentiable recurrent state carries.
Tensor decayed_linear_state(const Tensor& k, const Tensor& v, const Tensor& log_gamma, const Tensor& s0);

// The definition: explicit T x T decay matrix exp(log_gamma * max(i - j, 0)) masked to
// j <= i, from autograd ops. O(T^2) memory; for tests and the mixers' ref forms.
Tensor decayed_linear_attention_reference(const Tensor& q, const Tensor& k, const Tensor& v,
                                          const Tensor& log_gamma, const Tensor& s0);

// With the normaliser: o_i = num_i / (den_i + eps), where num_i is the output above and
// den_i = gamma^(i+1) q_i z0 + sum_{j <= i} gamma^(i-j) q_i . k_j. Computed by running the
// op on [v, 1] (so the state is [B, H, Dk, Dv + 1], its last column z); for positive
// feature maps den > 0. s0 (when defined) and *state_out are that augmented state.
Tensor decayed_linear_attention_normalized(const Tensor& q, const Tensor& k, const Tensor& v,
                                           const Tensor& log_gamma, const Tensor& s0, double eps,
                                           const DecayedLinearOptions& opt = {}, Tensor* state_out = nullptr);

}  // namespace attnlab::ops
