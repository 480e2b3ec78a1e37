// Fused, tiled softmax attention on CPU (flash-attention style): the hot loops behind
// ops::attention. Raw pointers and explicit strides; shapes are validated by the op.
//
// Shapes (fixed letters, G = H / Hkv query heads per kv head):
//   q [B, H, Tq, D], k [B, Hkv, Tk, D], v [B, Hkv, Tk, Dv]   strided in B, H, T; unit stride in D
//   o, dout [B, H, Tq, Dv], lse [B, H, Tq], dq [B, H, Tq, D], dk [B, Hkv, Tk, D],
//   dv [B, Hkv, Tk, Dv]                                       contiguous
//
// Query row i sits at key position p = q_offset + i and sees key j when
//   (!causal || j <= p) && (window == 0 || p - j < window),
// so every row sees one contiguous key range [lo, hi), and lo, hi never decrease with i.
// That is what lets both passes skip whole blocks. A row whose range is empty gets o = 0,
// lse = -inf and zero gradients.
//
// Memory is O(T * D): the forward keeps a running max and sum per row (online softmax)
// and saves only o and lse; the backward recomputes the probabilities from lse.
//
// The tile products, exponentials and row maxima come from attention_tiles.h, whose
// kernel set (avx512, avx2, scalar) is chosen at run time; the rest is compiled once.
#pragma once
#include <cstdint>

namespace attnlab::kernels {

struct AttentionStrides {
  int64_t b = 0, h = 0, t = 0;  // in elements
};

struct AttentionDims {
  int64_t B = 0, H = 0, Hkv = 0, Tq = 0, Tk = 0, D = 0, Dv = 0;
  double scale = 1.0;
  bool causal = true;
  int64_t q_offset = 0;            // resolved: >= 0
  int64_t window = 0;              // 0 = unlimited
  const float* alibi_slopes = nullptr;  // H values (logit += -slope_h * (p - j)) or null
  // A learned bias by distance, per head (Kerple): logit += distance_bias[h * len + |p - j|],
  // len = distance_bias_len >= every |p - j| + 1 that occurs. In the kernel's element type
  // T (float or double); null for none.
  const void* distance_bias = nullptr;
  int64_t distance_bias_len = 0;
};

// o = softmax(scale * q k^T + bias, masked) v, and lse = log(sum_j exp(logit_j)) per row.
// Parallel over B x H x query blocks; every output element is written.
template <class T>
void attention_fused_fwd(const AttentionDims& d, const T* q, AttentionStrides qs, const T* k,
                         AttentionStrides ks, const T* v, AttentionStrides vs, T* o, T* lse);

// Gradients of the forward above given dout, o and lse from it (flash-attention-2:
// P = exp(logit - lse), dS = P * (dP - rowsum(dout * o))). Writes every element of dq, dk
// and dv. Parallel over B x Hkv x chunks of key tiles, with the fewest chunks that make
// the task count a multiple of the thread count (1 when B x Hkv already is); each task
// owns its dk, dv rows, and the dq of each chunk is summed in a fixed order, so results
// are deterministic for a given thread count. Needs (chunks - 1) extra dq buffers.
// With a distance bias, d_distance_bias [H, distance_bias_len] (required then) receives
// the sum of the logit gradients dS/scale at each distance: each task sums its own in
// double, and the task sums are added in a fixed order, so it is deterministic too.
template <class T>
void attention_fused_bwd(const AttentionDims& d, const T* q, AttentionStrides qs, const T* k,
                         AttentionStrides ks, const T* v, AttentionStrides vs, const T* o,
                         const T* lse, const T* dout, T* dq, T* dk, T* dv,
                         T* d_distance_bias = nullptr);

// x[i] = exp(x[i]) by the kernel's float exponential (whole vectors, then a scalar
// tail): relative error below 3e-7 on [-87, 88]; 0 below about -87.3 and for -inf; NaN
// stays NaN. Exposed for its test.
void attention_expf_row(float* x, int64_t n);

}  // namespace attnlab::kernels
