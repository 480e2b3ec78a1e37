// Decayed linear attention, the hot loops (no autograd; ops/linear_attention.h wraps them).
//
//   o_i = gamma_h^(i+1) q_i S0 + sum_{j <= i} gamma_h^(i-j) (q_i . k_j) v_j
//   S_T = gamma_h^T S0 + sum_j gamma_h^(T-1-j) k_j^T v_j          (the state after the call)
//
// Shapes (contiguous): q, k [B, H, T, Dk], v, o [B, H, T, Dv], log_gamma [H] (each <= 0),
// S0 and S_T [B, H, Dk, Dv]. Work is split over B * H, one (b, h) per task.
//
// Numerics (DESIGN.md convention 7): every decay is exp(m * log_gamma) with m >= 0, an
// in-chunk difference of positions or a whole-chunk length, so no factor ever exceeds 1;
// the state carries across chunks multiplied by gamma^(chunk length). Nothing like
// gamma^-j is ever formed, so any length is safe.
#pragma once
#include <cstdint>

namespace attnlab::kernels::cpu {

struct DecayedScanDims {
  int64_t B = 0, H = 0, T = 0, Dk = 0, Dv = 0;
  int64_t chunk = 64;  // chunkwise form only
};

// Chunkwise parallel form: inside a chunk of n rows, A = (Q K^T) .* G with G_rs = gamma^(r-s)
// (r >= s), O = A V + diag(gamma^(r+1)) Q S; then S <- gamma^n S + (diag(gamma^(n-1-s)) K)^T V.
// Products through BLAS (single-threaded inside the per-(b, h) tasks).
// s0 may be null (zero state); s_out may be null.
template <class T>
void decayed_scan_chunk_fwd(const DecayedScanDims& d, const T* q, const T* k, const T* v, const T* log_gamma,
                            const T* s0, T* o, T* s_out);

// Recurrent form: S <- gamma S + k_t^T v_t, o_t = q_t S, one token at a time.
template <class T>
void decayed_scan_recurrent_fwd(const DecayedScanDims& d, const T* q, const T* k, const T* v,
                                const T* log_gamma, const T* s0, T* o, T* s_out);

// Gradients of sum(o .* dout) (chunkwise; chunk states recomputed from the inputs).
// dq, dk [B, H, T, Dk], dv [B, H, T, Dv], dlog_gamma [H] (summed over B), ds0 [B, H, Dk, Dv];
// any output pointer may be null when that gradient is not wanted.
template <class T>
void decayed_scan_chunk_bwd(const DecayedScanDims& d, const T* q, const T* k, const T* v, const T* log_gamma,
                            const T* s0, const T* dout, T* dq, T* dk, T* dv, T* dlog_gamma, T* ds0);

}  // namespace attnlab::kernels::cpu
