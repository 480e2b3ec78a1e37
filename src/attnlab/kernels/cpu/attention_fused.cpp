#include "attnlab/kernels/cpu/attention_fused.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <vector>

#include "attnlab/core/parallel.h"
#include "attnlab/core/tensor.h"

// Reductions over a row of logits. `omp simd` lets the compiler reorder the max and sum
// into vector lanes (it may not otherwise without -ffast-math); without OpenMP the
// pragma is dropped and the loops stay scalar.
#ifdef _OPENMP
#define ATTN_PRAGMA(x) _Pragma(#x)
#else
#define ATTN_PRAGMA(x)
#endif

namespace attnlab::kernels {

namespace {

// Tile sizes: a forward task is kBlockQ query rows; keys go kBlockK at a time. One key
// tile transposed (D x kBlockK), its values and a row of logits stay in L1 for D = 64.
constexpr int64_t kBlockQ = 64;
constexpr int64_t kBlockK = 64;

// exp(x) = 2^n * e^r with n = round(x / ln 2), |r| <= ln2 / 2, e^r from the Cephes
// polynomial. Branch-free and libm-free so that loops over it vectorise.
inline float expf_lanes(float x) {
  constexpr float kLo = -87.33f, kHi = 88.0f;
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  float xc = std::min(std::max(x, kLo), kHi);
  float t = xc * 1.44269504088896341f + kRound;
  float n = t - kRound;
  int32_t ni = std::bit_cast<int32_t>(t) - std::bit_cast<int32_t>(kRound);
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  float two_n = std::bit_cast<float>((ni + 127) << 23);
  return x < kLo ? 0.0f : p * two_n;
}

inline float exp_lanes(float x) { return expf_lanes(x); }
inline double exp_lanes(double x) { return std::exp(x); }

// The key range [lo, hi) that query row i sees (header comment).
struct RowRange {
  int64_t Tk, q_offset, window;
  bool causal;
  explicit RowRange(const AttentionDims& d)
      : Tk(d.Tk), q_offset(d.q_offset), window(d.window), causal(d.causal) {}
  int64_t lo(int64_t i) const {
    return window ? std::clamp<int64_t>(q_offset + i - window + 1, 0, Tk) : 0;
  }
  int64_t hi(int64_t i) const { return causal ? std::clamp<int64_t>(q_offset + i + 1, 0, Tk) : Tk; }
};

// kt[c * kBlockK + j] = k[j][c] for the n key rows starting at `k` (row stride `ld`).
template <class T>
void transpose_tile(const T* __restrict k, int64_t ld, int64_t n, int64_t cols, T* __restrict kt) {
  for (int64_t j = 0; j < n; ++j)
    for (int64_t c = 0; c < cols; ++c) kt[c * kBlockK + j] = k[j * ld + c];
}

// s[j] = sum_c x[c] * mt[c * kBlockK + j] for j in [a, b): a row times a transposed tile,
// with j innermost so it vectorises without reassociating a reduction.
template <class T>
void row_times_tile(const T* __restrict x, const T* __restrict mt, int64_t cols, int64_t a,
                    int64_t b, T* __restrict s) {
  for (int64_t j = a; j < b; ++j) s[j] = T(0);
  int64_t c = 0;
  for (; c + 4 <= cols; c += 4) {
    const T x0 = x[c], x1 = x[c + 1], x2 = x[c + 2], x3 = x[c + 3];
    const T* m0 = mt + c * kBlockK;
    const T* m1 = m0 + kBlockK;
    const T* m2 = m1 + kBlockK;
    const T* m3 = m2 + kBlockK;
    for (int64_t j = a; j < b; ++j) s[j] += x0 * m0[j] + x1 * m1[j] + x2 * m2[j] + x3 * m3[j];
  }
  for (; c < cols; ++c) {
    const T xc = x[c];
    const T* m = mt + c * kBlockK;
    for (int64_t j = a; j < b; ++j) s[j] += xc * m[j];
  }
}

// acc[e] += sum_j w[j] * rows[j][e] for j in [a, b) (rows with stride ld): the e loop is
// contiguous; four rows per pass cut the loads and stores of acc by four.
template <class T>
void accumulate_rows(const T* __restrict w, const T* __restrict rows, int64_t ld, int64_t a,
                     int64_t b, int64_t cols, T* __restrict acc) {
  int64_t j = a;
  for (; j + 4 <= b; j += 4) {
    const T w0 = w[j], w1 = w[j + 1], w2 = w[j + 2], w3 = w[j + 3];
    const T* r0 = rows + j * ld;
    const T* r1 = r0 + ld;
    const T* r2 = r1 + ld;
    const T* r3 = r2 + ld;
    for (int64_t e = 0; e < cols; ++e) acc[e] += w0 * r0[e] + w1 * r1[e] + w2 * r2[e] + w3 * r3[e];
  }
  for (; j < b; ++j) {
    const T wj = w[j];
    const T* r = rows + j * ld;
    for (int64_t e = 0; e < cols; ++e) acc[e] += wj * r[e];
  }
}

// Logits of one query row against keys [j0 + a, j0 + b) of a transposed key tile:
// s[j] = scale * q.k_j - slope * (pos - (j0 + j)).
template <class T>
void row_logits(const T* __restrict qi, const T* __restrict kt, int64_t D, int64_t a, int64_t b,
                T scale, T slope, int64_t pos, int64_t j0, T* __restrict s) {
  row_times_tile(qi, kt, D, a, b, s);
  if (slope != T(0)) {
    // -slope * (pos - j0 - j) = slope * (rel0 + j); exact in float below 2^24 positions
    const T rel0 = T(j0 - pos);
    for (int64_t j = a; j < b; ++j) s[j] = s[j] * scale + slope * (rel0 + T(j));
  } else {
    for (int64_t j = a; j < b; ++j) s[j] *= scale;
  }
}

// Spreads heavy and light tasks: position p of n maps to 0, n-1, 1, n-2, ... so that any
// contiguous range of positions (one thread's share) mixes early and late causal blocks.
inline int64_t zigzag(int64_t p, int64_t n) { return (p % 2 == 0) ? p / 2 : n - 1 - p / 2; }

}  // namespace

float attention_expf(float x) { return expf_lanes(x); }

// ---- forward ----
// Per task: query rows [i0, i1) of one (b, h); for each key tile, the online softmax
// keeps per row the running max m, the running sum l of exp(logit - m), and the
// accumulator acc = sum exp(logit - m) v, rescaled by exp(m_old - m_new) when m grows.

template <class T>
void attention_fused_fwd(const AttentionDims& d, const T* q, AttentionStrides qs, const T* k,
                         AttentionStrides ks, const T* v, AttentionStrides vs, T* o, T* lse) {
  const int64_t nqb = (d.Tq + kBlockQ - 1) / kBlockQ;
  const int64_t group = d.H / d.Hkv;
  const RowRange range(d);
  const T scale = T(d.scale);
  const T neg_inf = -std::numeric_limits<T>::infinity();

  parallel_for(0, d.B * d.H * nqb, 1, [&](int64_t t_begin, int64_t t_end) {
    std::vector<T> kt_buf(size_t(d.D * kBlockK)), s_buf(kBlockK), acc_buf(size_t(kBlockQ * d.Dv));
    std::vector<T> m_buf(kBlockQ), l_buf(kBlockQ);
    T* __restrict kt = kt_buf.data();
    T* __restrict s = s_buf.data();
    T* __restrict acc = acc_buf.data();
    T* m = m_buf.data();
    T* l = l_buf.data();
    for (int64_t task = t_begin; task < t_end; ++task) {
      const int64_t bh = task / nqb, b = bh / d.H, h = bh % d.H, g = h / group;
      const int64_t i0 = zigzag(task % nqb, nqb) * kBlockQ, i1 = std::min(i0 + kBlockQ, d.Tq);
      const T* qh = q + b * qs.b + h * qs.h;
      const T* kh = k + b * ks.b + g * ks.h;
      const T* vh = v + b * vs.b + g * vs.h;
      const T slope = d.alibi_slopes ? T(d.alibi_slopes[h]) : T(0);

      for (int64_t r = 0; r < i1 - i0; ++r) {
        m[r] = neg_inf;
        l[r] = T(0);
      }
      std::fill(acc, acc + (i1 - i0) * d.Dv, T(0));

      const int64_t klo = range.lo(i0), khi = range.hi(i1 - 1);
      for (int64_t j0 = klo; j0 < khi; j0 += kBlockK) {
        const int64_t n = std::min(kBlockK, khi - j0);
        transpose_tile(kh + j0 * ks.t, ks.t, n, d.D, kt);
        for (int64_t i = i0; i < i1; ++i) {
          const int64_t a = std::max(range.lo(i), j0) - j0, e = std::min(range.hi(i), j0 + n) - j0;
          if (a >= e) continue;  // this row sees nothing in the tile
          const int64_t r = i - i0;
          row_logits(qh + i * qs.t, kt, d.D, a, e, scale, slope, d.q_offset + i, j0, s);
          T mx = m[r];
          ATTN_PRAGMA(omp simd reduction(max : mx))
          for (int64_t j = a; j < e; ++j) mx = std::max(mx, s[j]);
          T sum = T(0);
          ATTN_PRAGMA(omp simd reduction(+ : sum))
          for (int64_t j = a; j < e; ++j) {
            s[j] = exp_lanes(s[j] - mx);
            sum += s[j];
          }
          T* acc_r = acc + r * d.Dv;
          if (mx != m[r]) {
            // exp(-inf) = 0 clears the (zero) accumulator of a row seeing its first key
            const T alpha = exp_lanes(m[r] - mx);
            l[r] *= alpha;
            for (int64_t c = 0; c < d.Dv; ++c) acc_r[c] *= alpha;
            m[r] = mx;
          }
          l[r] += sum;
          accumulate_rows(s, vh + j0 * vs.t, vs.t, a, e, d.Dv, acc_r);
        }
      }

      const int64_t row0 = bh * d.Tq;
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t r = i - i0;
        T* o_r = o + (row0 + i) * d.Dv;
        if (l[r] > T(0)) {
          const T inv = T(1) / l[r];
          for (int64_t c = 0; c < d.Dv; ++c) o_r[c] = acc[r * d.Dv + c] * inv;
          lse[row0 + i] = m[r] + std::log(l[r]);
        } else {  // no visible key: defined as 0 output (and zero gradients)
          for (int64_t c = 0; c < d.Dv; ++c) o_r[c] = T(0);
          lse[row0 + i] = neg_inf;
        }
      }
    }
  });
}

// ---- backward ----
// Per task: one (b, kv head) and every chunk-th key tile. For each tile the task visits
// every query row of every query head in the group that sees a key of the tile,
// recomputes P = exp(logit - lse), and accumulates
//   dv_j += P_ij dout_i,  dk_j += scale dS_ij q_i,  dq_i += scale dS_ij k_j,
//   dS_ij = P_ij (dout_i . v_j - delta_i),  delta_i = dout_i . o_i.
// dk and dv rows of a tile belong to one task; dq rows belong to the (b, kv head) and,
// when the key tiles are split into chunks, each chunk adds into its own dq copy.

template <class T>
void attention_fused_bwd(const AttentionDims& d, const T* q, AttentionStrides qs, const T* k,
                         AttentionStrides ks, const T* v, AttentionStrides vs, const T* o,
                         const T* lse, const T* dout, T* dq, T* dk, T* dv) {
  const int64_t group = d.H / d.Hkv;
  const int64_t nkb = (d.Tk + kBlockK - 1) / kBlockK;
  const int64_t base = d.B * d.Hkv;
  const int64_t threads = num_threads();
  // Split key tiles into chunks only when B x Hkv alone would leave threads idle.
  int64_t chunks = 1;
  if (base % threads != 0 && base < 8 * threads)
    chunks = std::clamp<int64_t>((4 * threads + base - 1) / base, 1, std::max<int64_t>(nkb, 1));
  const RowRange range(d);
  const T scale = T(d.scale);
  const int64_t q_rows = d.B * d.H * d.Tq;
  const int64_t dq_numel = q_rows * d.D;

  // delta_i = dout_i . o_i, and zeroed dq accumulators (dq itself is chunk 0's).
  // From the caching allocator: fresh pages are slow to fault in (specs/machine.md #5).
  Tensor delta_buf = Tensor::empty({q_rows}, dtype_of<T>());
  Tensor dq_extra_buf = Tensor::empty({(chunks - 1) * dq_numel}, dtype_of<T>());
  T* delta = delta_buf.data<T>();
  T* dq_extra = dq_extra_buf.data<T>();
  parallel_for(0, q_rows, 256, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* o_r = o + r * d.Dv;
      const T* g_r = dout + r * d.Dv;
      T acc = T(0);
      ATTN_PRAGMA(omp simd reduction(+ : acc))
      for (int64_t c = 0; c < d.Dv; ++c) acc += o_r[c] * g_r[c];
      delta[r] = acc;
      std::fill(dq + r * d.D, dq + (r + 1) * d.D, T(0));
      for (int64_t c = 1; c < chunks; ++c) {
        T* p = dq_extra + (c - 1) * dq_numel + r * d.D;
        std::fill(p, p + d.D, T(0));
      }
    }
  });

  parallel_for(0, base * chunks, 1, [&](int64_t t_begin, int64_t t_end) {
    std::vector<T> kt_buf(size_t(d.D * kBlockK)), vt_buf(size_t(d.Dv * kBlockK));
    std::vector<T> dk_buf(size_t(kBlockK * d.D)), dv_buf(size_t(kBlockK * d.Dv));
    std::vector<T> p_buf(kBlockK), ds_buf(kBlockK), dq_row_buf(size_t(d.D));
    T* __restrict kt = kt_buf.data();
    T* __restrict vt = vt_buf.data();
    T* __restrict dk_acc = dk_buf.data();
    T* __restrict dv_acc = dv_buf.data();
    T* __restrict p = p_buf.data();
    T* __restrict ds = ds_buf.data();
    T* __restrict dq_row = dq_row_buf.data();
    for (int64_t task = t_begin; task < t_end; ++task) {
      const int64_t bg = task / chunks, chunk = task % chunks, b = bg / d.Hkv, g = bg % d.Hkv;
      const T* kh = k + b * ks.b + g * ks.h;
      const T* vh = v + b * vs.b + g * vs.h;
      T* dq_out = chunk == 0 ? dq : dq_extra + (chunk - 1) * dq_numel;
      for (int64_t kb = chunk; kb < nkb; kb += chunks) {
        const int64_t j0 = kb * kBlockK, n = std::min(kBlockK, d.Tk - j0);
        transpose_tile(kh + j0 * ks.t, ks.t, n, d.D, kt);
        transpose_tile(vh + j0 * vs.t, vs.t, n, d.Dv, vt);
        std::fill(dk_acc, dk_acc + n * d.D, T(0));
        std::fill(dv_acc, dv_acc + n * d.Dv, T(0));
        // Query rows that see a key of [j0, j0 + n): hi(i) > j0 and lo(i) < j0 + n.
        const int64_t ia = d.causal ? std::clamp<int64_t>(j0 - d.q_offset, 0, d.Tq) : 0;
        const int64_t ib =
            d.window ? std::clamp<int64_t>(j0 + n + d.window - 1 - d.q_offset, 0, d.Tq) : d.Tq;
        for (int64_t h = g * group; h < (g + 1) * group; ++h) {
          const T* qh = q + b * qs.b + h * qs.h;
          const int64_t row0 = (b * d.H + h) * d.Tq;
          const T slope = d.alibi_slopes ? T(d.alibi_slopes[h]) : T(0);
          for (int64_t i = ia; i < ib; ++i) {
            const int64_t a = std::max(range.lo(i), j0) - j0, e = std::min(range.hi(i), j0 + n) - j0;
            if (a >= e) continue;
            const T* qi = qh + i * qs.t;
            const T* gi = dout + (row0 + i) * d.Dv;
            const T lse_i = lse[row0 + i], delta_i = delta[row0 + i];
            row_logits(qi, kt, d.D, a, e, scale, slope, d.q_offset + i, j0, p);
            for (int64_t j = a; j < e; ++j) p[j] = exp_lanes(p[j] - lse_i);
            row_times_tile(gi, vt, d.Dv, a, e, ds);  // dP_ij = dout_i . v_j
            for (int64_t j = a; j < e; ++j) ds[j] = p[j] * (ds[j] - delta_i);
            for (int64_t j = a; j < e; ++j) {
              const T pj = p[j], sj = ds[j];
              T* dv_j = dv_acc + j * d.Dv;
              T* dk_j = dk_acc + j * d.D;
              for (int64_t c = 0; c < d.Dv; ++c) dv_j[c] += pj * gi[c];
              for (int64_t c = 0; c < d.D; ++c) dk_j[c] += sj * qi[c];
            }
            std::fill(dq_row, dq_row + d.D, T(0));
            accumulate_rows(ds, kh + j0 * ks.t, ks.t, a, e, d.D, dq_row);
            T* dq_i = dq_out + (row0 + i) * d.D;
            for (int64_t c = 0; c < d.D; ++c) dq_i[c] += scale * dq_row[c];
          }
        }
        T* dk_out = dk + ((b * d.Hkv + g) * d.Tk + j0) * d.D;
        T* dv_out = dv + ((b * d.Hkv + g) * d.Tk + j0) * d.Dv;
        for (int64_t x = 0; x < n * d.D; ++x) dk_out[x] = scale * dk_acc[x];
        for (int64_t x = 0; x < n * d.Dv; ++x) dv_out[x] = dv_acc[x];
      }
    }
  });

  if (chunks > 1) {
    // Fixed order over chunks, so the sum does not depend on which thread ran what.
    parallel_for(0, dq_numel, 1 << 14, [&](int64_t x0, int64_t x1) {
      for (int64_t c = 1; c < chunks; ++c) {
        const T* src = dq_extra + (c - 1) * dq_numel;
        for (int64_t x = x0; x < x1; ++x) dq[x] += src[x];
      }
    });
  }
}

template void attention_fused_fwd<float>(const AttentionDims&, const float*, AttentionStrides,
                                         const float*, AttentionStrides, const float*,
                                         AttentionStrides, float*, float*);
template void attention_fused_fwd<double>(const AttentionDims&, const double*, AttentionStrides,
                                          const double*, AttentionStrides, const double*,
                                          AttentionStrides, double*, double*);
template void attention_fused_bwd<float>(const AttentionDims&, const float*, AttentionStrides,
                                         const float*, AttentionStrides, const float*,
                                         AttentionStrides, const float*, const float*,
                                         const float*, float*, float*, float*);
template void attention_fused_bwd<double>(const AttentionDims&, const double*, AttentionStrides,
                                          const double*, AttentionStrides, const double*,
                                          AttentionStrides, const double*, const double*,
                                          const double*, double*, double*, double*);

}  // namespace attnlab::kernels
