// Softmax attention, the training/prefill form: a fused, tiled kernel whose memory grows
// linearly with length (kernels/cpu/attention_fused.h), differentiable in q, k and v.
//
// Shapes: q [B, H, Tq, D], k [B, Hkv, Tk, D], v [B, Hkv, Tk, Dv] -> o [B, H, Tq, Dv].
// H % Hkv == 0 (grouped-query: query head h reads kv head h / (H / Hkv)); Dv may differ
// from D. Inputs may be strided views (e.g. [B, T, H, D] transposed) as long as the last
// dimension is contiguous; otherwise they are copied.
//
// Query row i sits at key position p = q_offset + i. Its logit for key j is
//   scale * q_i . k_j - slope_h * (p - j)      (the ALiBi term only with slopes)
// and key j is masked when causal and j > p, or when window > 0 and p - j >= window.
// A row with no visible key outputs 0 and passes no gradient.
#pragma once
#include <cstdint>
#include <vector>

#include "attnlab/core/tensor.h"
#include "attnlab/kernels/cpu/attention_fused.h"

namespace attnlab::ops {

struct AttentionOptions {
  double scale;                     // logit multiplier, usually 1/sqrt(D)
  bool causal = true;
  int64_t q_offset = -1;            // key position of query row 0; -1 means Tk - Tq
  std::vector<float> alibi_slopes;  // empty = none; else one per query head
  int64_t window = 0;               // 0 = unlimited; else keys with p - j >= window are masked

  // All fields in one call (designated initialisers that skip a member warn under -Wextra).
  static AttentionOptions make(double scale, bool causal = true, int64_t q_offset = -1,
                               std::vector<float> slopes = {}, int64_t window = 0) {
    AttentionOptions o;
    o.scale = scale;
    o.causal = causal;
    o.q_offset = q_offset;
    o.alibi_slopes = std::move(slopes);
    o.window = window;
    return o;
  }
};

// Checks dtypes, shapes and options (one error line naming `op` and the shapes) and
// returns the kernel's view of them, with q_offset resolved. slopes: opt.alibi_slopes.
// distance_bias, when defined, is checked as attention_distance_bias() describes.
kernels::AttentionDims attention_check(const char* op, const Tensor& q, const Tensor& k,
                                       const Tensor& v, const AttentionOptions& opt,
                                       const Tensor& distance_bias = Tensor());

// The differentiable op ("attention" in the op table).
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& opt);

// The same with a learned bias by distance per head (Kerple, position/kerple.h):
//   logit_ij += bias[h, |p - j|],   bias [H, n] in q's dtype, n >= max(q_offset + Tq, Tk)
// (every distance that can occur). Differentiable in q, k, v and bias
// ("attention_distance_bias" in the op table).
Tensor attention_distance_bias(const Tensor& q, const Tensor& k, const Tensor& v,
                               const Tensor& bias, const AttentionOptions& opt);

// The kernel entries without autograd. attention_forward returns o and, when lse_out is
// given, the log-sum-exp of each row's logits, lse [B, H, Tq] in q's dtype (-inf for a
// row with no visible key): softmax weights are exp(logit - lse), so diagnostics can
// recompute any row's attention from q, k and lse.
Tensor attention_forward(const Tensor& q, const Tensor& k, const Tensor& v,
                         const AttentionOptions& opt, Tensor* lse_out = nullptr,
                         const Tensor& distance_bias = Tensor());
// dq, dk, dv (contiguous, in q's dtype) from the forward's o and lse and the output
// gradient dout [B, H, Tq, Dv]; with a distance bias also its gradient (a fourth tensor).
std::vector<Tensor> attention_backward(const Tensor& q, const Tensor& k, const Tensor& v,
                                       const Tensor& o, const Tensor& lse, const Tensor& dout,
                                       const AttentionOptions& opt,
                                       const Tensor& distance_bias = Tensor());

// The oracle: explicit O(Tq * Tk) loops accumulating in double, no autograd, float64
// results whatever the input dtype. lse_out as above.
Tensor attention_reference(const Tensor& q, const Tensor& k, const Tensor& v,
                           const AttentionOptions& opt, Tensor* lse_out = nullptr);
// Gradients of sum(o * dout) by the same explicit loops: {dq, dk, dv} in float64.
std::vector<Tensor> attention_reference_backward(const Tensor& q, const Tensor& k, const Tensor& v,
                                                 const Tensor& dout, const AttentionOptions& opt);

}  // namespace attnlab::ops
