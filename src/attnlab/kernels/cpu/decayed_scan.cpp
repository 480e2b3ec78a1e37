#include "attnlab/kernels/cpu/decayed_scan.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "attnlab/core/parallel.h"
#include "attnlab/kernels/cpu/blas.h"

namespace attnlab::kernels::cpu {

namespace {

// Enough multiply-adds per task that fork/join costs little against them.
constexpr int64_t kGrainWork = 1 << 16;

int64_t grain_for(const DecayedScanDims& d) {
  int64_t work = std::max<int64_t>(1, d.T * (std::min(d.T, d.chunk) + d.Dk) * (d.Dk + d.Dv));
  return std::max<int64_t>(1, kGrainWork / work);
}

// g[m] = gamma^m = exp(m log gamma) for m in [0, n]; every m >= 0, so every g[m] <= 1.
template <class T>
void decay_powers(double log_gamma, int64_t n, T* g) {
  for (int64_t m = 0; m <= n; ++m) g[m] = T(std::exp(double(m) * log_gamma));
}

template <class T>
double dot(const T* a, const T* b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += double(a[i]) * double(b[i]);
  return s;
}

// The state after one chunk of n rows: S <- gamma^n S + (diag(gamma^(n-1-s)) K)^T V.
template <class T>
void advance_state(int64_t n, int64_t Dk, int64_t Dv, const T* g, const T* Kc, const T* Vc, T* kw, T* S) {
  for (int64_t s = 0; s < n; ++s)
    for (int64_t a = 0; a < Dk; ++a) kw[s * Dk + a] = g[n - 1 - s] * Kc[s * Dk + a];
  for (int64_t i = 0; i < Dk * Dv; ++i) S[i] *= g[n];
  gemm(true, false, Dk, Dv, n, T(1), kw, Dk, Vc, Dv, T(1), S, Dv);
}

}  // namespace

template <class T>
void decayed_scan_chunk_fwd(const DecayedScanDims& d, const T* q, const T* k, const T* v, const T* log_gamma,
                            const T* s0, T* o, T* s_out) {
  const int64_t C = std::max<int64_t>(1, std::min(d.chunk, std::max<int64_t>(d.T, 1)));
  const int64_t Dk = d.Dk, Dv = d.Dv, T_ = d.T;
  parallel_for(0, d.B * d.H, grain_for(d), [&](int64_t i0, int64_t i1) {
    std::vector<T> A(size_t(C * C)), tmp(size_t(C * Dv)), kw(size_t(C * Dk)), S(size_t(Dk * Dv)), g(size_t(C + 1));
    for (int64_t bh = i0; bh < i1; ++bh) {
      decay_powers(double(log_gamma[bh % d.H]), C, g.data());
      if (s0) std::copy(s0 + bh * Dk * Dv, s0 + (bh + 1) * Dk * Dv, S.begin());
      else std::fill(S.begin(), S.end(), T(0));
      for (int64_t t0 = 0; t0 < T_; t0 += C) {
        const int64_t n = std::min(C, T_ - t0);
        const T* Qc = q + (bh * T_ + t0) * Dk;
        const T* Kc = k + (bh * T_ + t0) * Dk;
        const T* Vc = v + (bh * T_ + t0) * Dv;
        T* Oc = o + (bh * T_ + t0) * Dv;
        // Inside the chunk: A = (Q K^T) .* G, G_rs = gamma^(r-s) for s <= r, else 0.
        gemm(false, true, n, n, Dk, T(1), Qc, Dk, Kc, Dk, T(0), A.data(), n);
        for (int64_t r = 0; r < n; ++r)
          for (int64_t s = 0; s < n; ++s) A[size_t(r * n + s)] = s <= r ? A[size_t(r * n + s)] * g[size_t(r - s)] : T(0);
        gemm(false, false, n, Dv, n, T(1), A.data(), n, Vc, Dv, T(0), Oc, Dv);
        // From earlier chunks: gamma^(r+1) q_r S.
        gemm(false, false, n, Dv, Dk, T(1), Qc, Dk, S.data(), Dv, T(0), tmp.data(), Dv);
        for (int64_t r = 0; r < n; ++r)
          for (int64_t c = 0; c < Dv; ++c) Oc[r * Dv + c] += g[size_t(r + 1)] * tmp[size_t(r * Dv + c)];
        advance_state(n, Dk, Dv, g.data(), Kc, Vc, kw.data(), S.data());
      }
      if (s_out) std::copy(S.begin(), S.end(), s_out + bh * Dk * Dv);
    }
  });
}

template <class T>
void decayed_scan_recurrent_fwd(const DecayedScanDims& d, const T* q, const T* k, const T* v,
                                const T* log_gamma, const T* s0, T* o, T* s_out) {
  const int64_t Dk = d.Dk, Dv = d.Dv, T_ = d.T;
  parallel_for(0, d.B * d.H, grain_for(d), [&](int64_t i0, int64_t i1) {
    std::vector<T> S(size_t(Dk * Dv));
    for (int64_t bh = i0; bh < i1; ++bh) {
      const T gamma = T(std::exp(double(log_gamma[bh % d.H])));
      if (s0) std::copy(s0 + bh * Dk * Dv, s0 + (bh + 1) * Dk * Dv, S.begin());
      else std::fill(S.begin(), S.end(), T(0));
      for (int64_t t = 0; t < T_; ++t) {
        const T* qt = q + (bh * T_ + t) * Dk;
        const T* kt = k + (bh * T_ + t) * Dk;
        const T* vt = v + (bh * T_ + t) * Dv;
        T* ot = o + (bh * T_ + t) * Dv;
        for (int64_t c = 0; c < Dv; ++c) ot[c] = T(0);
        for (int64_t a = 0; a < Dk; ++a) {
          T* Sa = S.data() + a * Dv;
          for (int64_t c = 0; c < Dv; ++c) {
            Sa[c] = gamma * Sa[c] + kt[a] * vt[c];
            ot[c] += qt[a] * Sa[c];
          }
        }
      }
      if (s_out) std::copy(S.begin(), S.end(), s_out + bh * Dk * Dv);
    }
  });
}

template <class T>
void decayed_scan_chunk_bwd(const DecayedScanDims& d, const T* q, const T* k, const T* v, const T* log_gamma,
                            const T* s0, const T* dout, T* dq, T* dk, T* dv, T* dlog_gamma, T* ds0) {
  const int64_t C = std::max<int64_t>(1, std::min(d.chunk, std::max<int64_t>(d.T, 1)));
  const int64_t Dk = d.Dk, Dv = d.Dv, T_ = d.T, SD = Dk * Dv;
  const int64_t chunks = (T_ + C - 1) / C;
  const int64_t Dm = std::max(Dk, Dv);
  std::vector<double> dlg_part(size_t(d.B * d.H), 0.0);
  parallel_for(0, d.B * d.H, grain_for(d), [&](int64_t i0, int64_t i1) {
    std::vector<T> states(size_t(std::max<int64_t>(chunks, 1) * SD)), A(size_t(C * C)), P(size_t(C * C));
    std::vector<T> tmp(size_t(C * Dm)), w(size_t(C * Dm)), dS(static_cast<size_t>(SD)), g(size_t(C + 1));
    for (int64_t bh = i0; bh < i1; ++bh) {
      decay_powers(double(log_gamma[bh % d.H]), C, g.data());
      // Pass 1: the state before each chunk.
      T* S = states.data();
      if (s0) std::copy(s0 + bh * SD, s0 + (bh + 1) * SD, S);
      else std::fill(S, S + SD, T(0));
      for (int64_t c = 0; c + 1 < chunks; ++c) {
        const int64_t t0 = c * C, n = std::min(C, T_ - t0);
        std::copy(S + c * SD, S + (c + 1) * SD, S + (c + 1) * SD);
        advance_state(n, Dk, Dv, g.data(), k + (bh * T_ + t0) * Dk, v + (bh * T_ + t0) * Dv, w.data(),
                      S + (c + 1) * SD);
      }
      // Pass 2, last chunk first, carrying dS = d loss / d (state after the chunk).
      std::fill(dS.begin(), dS.end(), T(0));
      double dlg = 0;
      for (int64_t c = chunks - 1; c >= 0; --c) {
        const int64_t t0 = c * C, n = std::min(C, T_ - t0);
        const T* Sp = S + c * SD;
        const T* Qc = q + (bh * T_ + t0) * Dk;
        const T* Kc = k + (bh * T_ + t0) * Dk;
        const T* Vc = v + (bh * T_ + t0) * Dv;
        const T* dOc = dout + (bh * T_ + t0) * Dv;
        // A = Q K^T and P = dO V^T, both masked and decayed; d gamma^(r-s) / d log gamma = (r-s) gamma^(r-s).
        gemm(false, true, n, n, Dk, T(1), Qc, Dk, Kc, Dk, T(0), A.data(), n);
        gemm(false, true, n, n, Dv, T(1), dOc, Dv, Vc, Dv, T(0), P.data(), n);
        for (int64_t r = 0; r < n; ++r)
          for (int64_t s = 0; s < n; ++s) {
            size_t i = size_t(r * n + s);
            if (s <= r) {
              T gm = g[size_t(r - s)];
              dlg += double(r - s) * double(gm) * double(A[i]) * double(P[i]);
              A[i] *= gm;
              P[i] *= gm;
            } else {
              A[i] = P[i] = T(0);
            }
          }
        // dQ = P K + diag(gamma^(r+1)) dO S^T.
        if (dq) {
          T* dQc = dq + (bh * T_ + t0) * Dk;
          gemm(false, false, n, Dk, n, T(1), P.data(), n, Kc, Dk, T(0), dQc, Dk);
          gemm(false, true, n, Dk, Dv, T(1), dOc, Dv, Sp, Dv, T(0), tmp.data(), Dk);
          for (int64_t r = 0; r < n; ++r)
            for (int64_t a = 0; a < Dk; ++a) dQc[r * Dk + a] += g[size_t(r + 1)] * tmp[size_t(r * Dk + a)];
        }
        // log gamma through gamma^(r+1) q_r S.
        gemm(false, false, n, Dv, Dk, T(1), Qc, Dk, Sp, Dv, T(0), tmp.data(), Dv);
        for (int64_t r = 0; r < n; ++r)
          dlg += double(r + 1) * double(g[size_t(r + 1)]) * dot(dOc + r * Dv, tmp.data() + r * Dv, Dv);
        // dK = P^T Q + diag(gamma^(n-1-s)) V dS^T.
        if (dk) {
          T* dKc = dk + (bh * T_ + t0) * Dk;
          gemm(true, false, n, Dk, n, T(1), P.data(), n, Qc, Dk, T(0), dKc, Dk);
          gemm(false, true, n, Dk, Dv, T(1), Vc, Dv, dS.data(), Dv, T(0), tmp.data(), Dk);
          for (int64_t s = 0; s < n; ++s)
            for (int64_t a = 0; a < Dk; ++a) dKc[s * Dk + a] += g[size_t(n - 1 - s)] * tmp[size_t(s * Dk + a)];
        }
        // K dS serves dV and the state update's share of d log gamma.
        gemm(false, false, n, Dv, Dk, T(1), Kc, Dk, dS.data(), Dv, T(0), tmp.data(), Dv);
        for (int64_t s = 0; s < n; ++s)
          dlg += double(n - 1 - s) * double(g[size_t(n - 1 - s)]) * dot(tmp.data() + s * Dv, Vc + s * Dv, Dv);
        if (dv) {
          T* dVc = dv + (bh * T_ + t0) * Dv;
          gemm(true, false, n, Dv, n, T(1), A.data(), n, dOc, Dv, T(0), dVc, Dv);
          for (int64_t s = 0; s < n; ++s)
            for (int64_t c2 = 0; c2 < Dv; ++c2) dVc[s * Dv + c2] += g[size_t(n - 1 - s)] * tmp[size_t(s * Dv + c2)];
        }
        dlg += double(n) * double(g[size_t(n)]) * dot(dS.data(), Sp, SD);
        // dS (before this chunk) = gamma^n dS + (diag(gamma^(r+1)) Q)^T dO.
        for (int64_t r = 0; r < n; ++r)
          for (int64_t a = 0; a < Dk; ++a) w[size_t(r * Dk + a)] = g[size_t(r + 1)] * Qc[r * Dk + a];
        for (int64_t i = 0; i < SD; ++i) dS[size_t(i)] *= g[size_t(n)];
        gemm(true, false, Dk, Dv, n, T(1), w.data(), Dk, dOc, Dv, T(1), dS.data(), Dv);
      }
      if (ds0) std::copy(dS.begin(), dS.end(), ds0 + bh * SD);
      dlg_part[size_t(bh)] = dlg;
    }
  });
  if (dlog_gamma)
    for (int64_t h = 0; h < d.H; ++h) {
      double s = 0;
      for (int64_t b = 0; b < d.B; ++b) s += dlg_part[size_t(b * d.H + h)];
      dlog_gamma[h] = T(s);
    }
}

#define ATTNLAB_DECAYED_SCAN(T)                                                                                  \
  template void decayed_scan_chunk_fwd<T>(const DecayedScanDims&, const T*, const T*, const T*, const T*,       \
                                          const T*, T*, T*);                                                    \
  template void decayed_scan_recurrent_fwd<T>(const DecayedScanDims&, const T*, const T*, const T*, const T*,   \
                                              const T*, T*, T*);                                                \
  template void decayed_scan_chunk_bwd<T>(const DecayedScanDims&, const T*, const T*, const T*, const T*,       \
                                          const T*, const T*, T*, T*, T*, T*, T*);
ATTNLAB_DECAYED_SCAN(float)
ATTNLAB_DECAYED_SCAN(double)
#undef ATTNLAB_DECAYED_SCAN

}  // namespace attnlab::kernels::cpu
