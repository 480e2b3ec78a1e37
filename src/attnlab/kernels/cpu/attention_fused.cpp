#include "attnlab/kernels/cpu/attention_fused.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <type_traits>
#include <vector>

#include "attnlab/core/parallel.h"
#include "attnlab/core/tensor.h"

// `omp simd` lets the compiler split a sum over vector lanes (it may not reassociate
// otherwise without -ffast-math); without OpenMP the pragma is dropped.
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

// Short vectors written once with GCC/Clang vector types: they compile for any target
// (AVX-512 where -march has it, narrower or scalar code elsewhere), so there is no
// separate intrinsic path to keep in step.
#if defined(__AVX512F__)
constexpr int kVecBytes = 64;
#elif defined(__AVX__)
constexpr int kVecBytes = 32;
#else
constexpr int kVecBytes = 16;  // SSE2, NEON
#endif
template <class T>
struct VecOf {
  typedef T type __attribute__((vector_size(kVecBytes)));
};
using VecF = VecOf<float>::type;
using VecI = VecOf<int32_t>::type;
constexpr int kLanesF = kVecBytes / 4;

// exp(x) = 2^n * e^r with n = round(x / ln 2), |r| <= ln2 / 2, e^r from the Cephes
// polynomial; no libm call, so it runs on whole vectors. F is float or VecF.
template <class F>
inline F expf_poly(F x) {
  using I = std::conditional_t<std::is_same_v<F, float>, int32_t, VecI>;
  const F lo = F{} + -87.33f, hi = F{} + 88.0f;
  const F round = F{} + 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  F xc = x < lo ? lo : x;             // NaN stays NaN (the comparisons are false)
  xc = xc > hi ? hi : xc;
  const F t = xc * 1.44269504088896341f + round;
  const F n = t - round;
  I ni;
  std::memcpy(&ni, &t, sizeof ni);
  ni -= 0x4B400000;  // the bits of `round`
  F r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  F p = F{} + 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const I bits = (ni + 127) << 23;
  F two_n;
  std::memcpy(&two_n, &bits, sizeof two_n);
  return x < lo ? F{} : p * two_n;  // 0 below the smallest normal result, and for -inf
}

inline double exp_scalar(double x) { return std::exp(x); }
inline float exp_scalar(float x) { return expf_poly(x); }

// Exponentials of a row of logits shifted by `shift` over [a, e), in place; returns their sum.
inline float exp_row(float* __restrict s, int64_t a, int64_t e, float shift) {
  int64_t j = a;
  VecF vsum = VecF{};
  for (; j + kLanesF <= e; j += kLanesF) {
    VecF x;
    std::memcpy(&x, s + j, sizeof x);
    x = expf_poly(x - shift);
    std::memcpy(s + j, &x, sizeof x);
    vsum += x;
  }
  float sum = 0;
  for (int l = 0; l < kLanesF; ++l) sum += vsum[l];
  for (; j < e; ++j) sum += (s[j] = expf_poly(s[j] - shift));
  return sum;
}
inline double exp_row(double* __restrict s, int64_t a, int64_t e, double shift) {
  double sum = 0;
  for (int64_t j = a; j < e; ++j) sum += (s[j] = std::exp(s[j] - shift));
  return sum;
}

// max(init, s[a..e)).
inline float row_max(const float* __restrict s, int64_t a, int64_t e, float init) {
  int64_t j = a;
  VecF vmax = VecF{} + init;
  for (; j + kLanesF <= e; j += kLanesF) {
    VecF x;
    std::memcpy(&x, s + j, sizeof x);
    vmax = x > vmax ? x : vmax;
  }
  float mx = init;
  for (int l = 0; l < kLanesF; ++l) mx = std::max(mx, vmax[l]);
  for (; j < e; ++j) mx = std::max(mx, s[j]);
  return mx;
}
inline double row_max(const double* __restrict s, int64_t a, int64_t e, double init) {
  double mx = init;
  for (int64_t j = a; j < e; ++j) mx = std::max(mx, s[j]);
  return mx;
}

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

// ---- the one product shape every pass uses ----
// C[m][n] += sum_k A(m, k) B[k][n] with A(m, k) = a[m * ars + k * aks] (so A may be read
// transposed), B and C row-major with row strides ldb and ldc.
//
// Full blocks of R rows x 2 vectors keep 2R accumulators in registers across the whole k
// loop (GCC/Clang vector types: any target, AVX-512 where -march has it); the columns
// left over take plain loops.

template <class T, int R>
void product_block(const T* __restrict a, int64_t ars, int64_t aks, const T* __restrict b,
                   int64_t ldb, int64_t K, T* __restrict c, int64_t ldc) {
  using V = typename VecOf<T>::type;
  constexpr int L = kVecBytes / int(sizeof(T));
  V acc[R][2];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < 2; ++v) std::memcpy(&acc[r][v], c + r * ldc + v * L, sizeof(V));
  for (int64_t k = 0; k < K; ++k) {
    V b0, b1;
    std::memcpy(&b0, b + k * ldb, sizeof(V));
    std::memcpy(&b1, b + k * ldb + L, sizeof(V));
    for (int r = 0; r < R; ++r) {
      const T ar = a[r * ars + k * aks];
      acc[r][0] += ar * b0;
      acc[r][1] += ar * b1;
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < 2; ++v) std::memcpy(c + r * ldc + v * L, &acc[r][v], sizeof(V));
}

// Rows per register block: 2R accumulators must cover the FMA latency of both pipes
// (10 or more) and, with the two B vectors and a broadcast, fit the register file.
#if defined(__AVX512F__) || defined(__aarch64__)
constexpr int kBlockRows = 8;  // 16 of 32 vector registers
#else
constexpr int kBlockRows = 6;  // 12 of 16
#endif

template <class T>
void product_acc(int64_t M, int64_t N, int64_t K, const T* __restrict a, int64_t ars, int64_t aks,
                 const T* __restrict b, int64_t ldb, T* __restrict c, int64_t ldc) {
  constexpr int64_t W = 2 * kVecBytes / int64_t(sizeof(T));
  int64_t n0 = 0;
  for (; n0 + W <= N; n0 += W) {
    int64_t m0 = 0;
    for (; m0 + kBlockRows <= M; m0 += kBlockRows)
      product_block<T, kBlockRows>(a + m0 * ars, ars, aks, b + n0, ldb, K, c + m0 * ldc + n0, ldc);
    for (; m0 + 4 <= M; m0 += 4)
      product_block<T, 4>(a + m0 * ars, ars, aks, b + n0, ldb, K, c + m0 * ldc + n0, ldc);
    for (; m0 + 2 <= M; m0 += 2)
      product_block<T, 2>(a + m0 * ars, ars, aks, b + n0, ldb, K, c + m0 * ldc + n0, ldc);
    for (; m0 < M; ++m0)
      product_block<T, 1>(a + m0 * ars, ars, aks, b + n0, ldb, K, c + m0 * ldc + n0, ldc);
  }
  if (n0 == N) return;
  for (int64_t m = 0; m < M; ++m) {
    T* __restrict cm = c + m * ldc;
    for (int64_t k = 0; k < K; ++k) {
      const T am = a[m * ars + k * aks];
      const T* __restrict bk = b + k * ldb;
      for (int64_t n = n0; n < N; ++n) cm[n] += am * bk[n];
    }
  }
}

// The visible keys of each row of a query block within one key tile, as tile-local
// ranges [a_r, e_r) (empty when a_r >= e_r), and their union [ja, je).
struct TileRows {
  int64_t a[kBlockQ], e[kBlockQ];
  int64_t ja, je;
  bool any() const { return ja < je; }
  void compute(const RowRange& range, int64_t i0, int64_t rows, int64_t j0, int64_t n) {
    ja = n;
    je = 0;
    for (int64_t r = 0; r < rows; ++r) {
      a[r] = std::max(range.lo(i0 + r), j0) - j0;
      e[r] = std::min(range.hi(i0 + r), j0 + n) - j0;
      if (a[r] < e[r]) {
        ja = std::min(ja, a[r]);
        je = std::max(je, e[r]);
      }
    }
  }
};

// s[j] = scale * s[j] - slope * (pos - (j0 + j)) for j in [a, e).
template <class T>
void scale_and_bias(T* __restrict s, int64_t a, int64_t e, T scale, T slope, int64_t pos, int64_t j0) {
  if (slope != T(0)) {
    // -slope * (pos - j0 - j) = slope * (rel0 + j); exact in float below 2^24 positions
    const T rel0 = T(j0 - pos);
    for (int32_t j = int32_t(a); j < int32_t(e); ++j) s[j] = s[j] * scale + slope * (rel0 + T(j));
  } else {
    for (int64_t j = a; j < e; ++j) s[j] *= scale;
  }
}

// s[j] += tab[|rel - j|] for j in [a, e): the distance bias of one row, rel = p - j0 being
// the distance to the tile's first key (AttentionDims::distance_bias).
template <class T>
void add_distance_bias(T* __restrict s, int64_t a, int64_t e, const T* __restrict tab, int64_t rel) {
  for (int64_t j = a; j < e; ++j) s[j] += tab[rel >= j ? rel - j : j - rel];
}

// Spreads heavy and light tasks: position p of n maps to 0, n-1, 1, n-2, ... so that any
// contiguous range of positions (one thread's share) mixes early and late causal blocks.
inline int64_t zigzag(int64_t p, int64_t n) { return (p % 2 == 0) ? p / 2 : n - 1 - p / 2; }

}  // namespace

void attention_expf_row(float* x, int64_t n) { exp_row(x, 0, n, 0.0f); }

// ---- forward ----
// Per task: query rows [i0, i1) of one (b, h); for each key tile, the online softmax
// keeps per row the running max m, the running sum l of exp(logit - m), and the
// accumulator acc = sum exp(logit - m) v, rescaled by exp(m_old - m_new) when m grows.
//   S = Q Kt (tile), P = exp(S - m) per row, acc += P V   (two products per tile)

template <class T>
void attention_fused_fwd(const AttentionDims& d, const T* q, AttentionStrides qs, const T* k,
                         AttentionStrides ks, const T* v, AttentionStrides vs, T* o, T* lse) {
  const int64_t nqb = (d.Tq + kBlockQ - 1) / kBlockQ;
  const int64_t group = d.H / d.Hkv;
  const RowRange range(d);
  const T scale = T(d.scale);
  const T neg_inf = -std::numeric_limits<T>::infinity();
  const T* dist_tab = static_cast<const T*>(d.distance_bias);

  parallel_for(0, d.B * d.H * nqb, 1, [&](int64_t t_begin, int64_t t_end) {
    std::vector<T> kt_buf(size_t(d.D * kBlockK)), s_buf(size_t(kBlockQ * kBlockK));
    std::vector<T> acc_buf(size_t(kBlockQ * d.Dv)), m_buf(kBlockQ), l_buf(kBlockQ);
    T* __restrict kt = kt_buf.data();
    T* __restrict s = s_buf.data();
    T* __restrict acc = acc_buf.data();
    T* __restrict m = m_buf.data();
    T* __restrict l = l_buf.data();
    TileRows tile;
    for (int64_t task = t_begin; task < t_end; ++task) {
      const int64_t bh = task / nqb, b = bh / d.H, h = bh % d.H, g = h / group;
      const int64_t i0 = zigzag(task % nqb, nqb) * kBlockQ, rows = std::min(kBlockQ, d.Tq - i0);
      const T* qh = q + b * qs.b + h * qs.h + i0 * qs.t;
      const T* kh = k + b * ks.b + g * ks.h;
      const T* vh = v + b * vs.b + g * vs.h;
      const T slope = d.alibi_slopes ? T(d.alibi_slopes[h]) : T(0);

      std::fill(m, m + rows, neg_inf);
      std::fill(l, l + rows, T(0));
      std::fill(acc, acc + rows * d.Dv, T(0));

      const int64_t klo = range.lo(i0), khi = range.hi(i0 + rows - 1);
      for (int64_t j0 = klo; j0 < khi; j0 += kBlockK) {
        const int64_t n = std::min(kBlockK, khi - j0);
        tile.compute(range, i0, rows, j0, n);
        if (!tile.any()) continue;
        const int64_t ja = tile.ja, je = tile.je;
        transpose_tile(kh + j0 * ks.t, ks.t, n, d.D, kt);
        for (int64_t r = 0; r < rows; ++r) std::fill(s + r * kBlockK + ja, s + r * kBlockK + je, T(0));
        product_acc(rows, je - ja, d.D, qh, qs.t, 1, kt + ja, kBlockK, s + ja, kBlockK);
        for (int64_t r = 0; r < rows; ++r) {
          T* s_r = s + r * kBlockK;
          const int64_t a = tile.a[r], e = tile.e[r];
          if (a >= e) {  // sees nothing in this tile: a zero row in the P V product
            std::fill(s_r + ja, s_r + je, T(0));
            continue;
          }
          scale_and_bias(s_r, a, e, scale, slope, d.q_offset + i0 + r, j0);
          if (dist_tab)
            add_distance_bias(s_r, a, e, dist_tab + h * d.distance_bias_len, d.q_offset + i0 + r - j0);
          const T mx = row_max(s_r, a, e, m[r]);
          const T sum = exp_row(s_r, a, e, mx);
          std::fill(s_r + ja, s_r + a, T(0));
          std::fill(s_r + e, s_r + je, T(0));
          if (mx != m[r]) {
            // exp(-inf) = 0 clears the (zero) accumulator of a row seeing its first key
            const T alpha = exp_scalar(m[r] - mx);
            l[r] *= alpha;
            T* acc_r = acc + r * d.Dv;
            for (int64_t c = 0; c < d.Dv; ++c) acc_r[c] *= alpha;
            m[r] = mx;
          }
          l[r] += sum;
        }
        product_acc(rows, d.Dv, je - ja, s + ja, kBlockK, 1, vh + (j0 + ja) * vs.t, vs.t, acc, d.Dv);
      }

      const int64_t row0 = bh * d.Tq + i0;
      for (int64_t r = 0; r < rows; ++r) {
        T* o_r = o + (row0 + r) * d.Dv;
        if (l[r] > T(0)) {
          const T inv = T(1) / l[r];
          for (int64_t c = 0; c < d.Dv; ++c) o_r[c] = acc[r * d.Dv + c] * inv;
          lse[row0 + r] = m[r] + std::log(l[r]);
        } else {  // no visible key: defined as 0 output (and zero gradients)
          std::fill(o_r, o_r + d.Dv, T(0));
          lse[row0 + r] = neg_inf;
        }
      }
    }
  });
}

// ---- backward ----
// Per task: one (b, kv head) and every chunk-th key tile. For each tile the task visits,
// in blocks of kBlockQ rows, every query row of every query head in the group that sees
// a key of the tile, and with P = exp(S - lse), delta_i = dout_i . o_i computes
//   dP = dout Vt,  dS = scale P (dP - delta),
//   dv += P^T dout,  dk += dS^T Q,  dq += dS K            (five products per tile pair)
// dk and dv rows of a tile belong to one task; dq rows belong to the (b, kv head) and,
// when the key tiles are split into chunks, each chunk adds into its own dq copy.

template <class T>
void attention_fused_bwd(const AttentionDims& d, const T* q, AttentionStrides qs, const T* k,
                         AttentionStrides ks, const T* v, AttentionStrides vs, const T* o,
                         const T* lse, const T* dout, T* dq, T* dk, T* dv, T* d_distance_bias) {
  const int64_t group = d.H / d.Hkv;
  const int64_t nkb = (d.Tk + kBlockK - 1) / kBlockK;
  const int64_t base = d.B * d.Hkv;
  const int64_t threads = num_threads();
  // Split the key tiles into chunks (interleaved, so each holds early and late causal
  // tiles alike) just enough that the task count B x Hkv x chunks is a multiple of the
  // thread count: every thread gets the same number of similar tasks.
  const int64_t chunks =
      std::clamp<int64_t>(threads / std::gcd(base, threads), 1, std::max<int64_t>(nkb, 1));
  const RowRange range(d);
  const T scale = T(d.scale);
  const int64_t q_rows = d.B * d.H * d.Tq;
  const int64_t dq_numel = q_rows * d.D;

  // From the caching allocator: fresh pages are slow to fault in (specs/machine.md #5).
  Tensor delta_buf = Tensor::empty({q_rows}, dtype_of<T>());
  Tensor dq_extra_buf = Tensor::empty({(chunks - 1) * dq_numel}, dtype_of<T>());
  T* delta = delta_buf.data<T>();
  T* dq_extra = dq_extra_buf.data<T>();
  // The distance bias: its table, and each task's gradient sums [group, len] in double.
  const T* dist_tab = static_cast<const T*>(d.distance_bias);
  const int64_t dist_len = dist_tab ? d.distance_bias_len : 0;
  Tensor dist_parts_buf = Tensor::empty({base * chunks * group * dist_len}, DType::F64);
  double* dist_parts = dist_parts_buf.data<double>();
  // delta_i = dout_i . o_i, and zeroed dq accumulators (dq itself is chunk 0's).
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
    std::vector<T> p_buf(size_t(kBlockQ * kBlockK)), ds_buf(size_t(kBlockQ * kBlockK));
    T* __restrict kt = kt_buf.data();
    T* __restrict vt = vt_buf.data();
    T* __restrict dk_acc = dk_buf.data();
    T* __restrict dv_acc = dv_buf.data();
    T* __restrict p = p_buf.data();
    T* __restrict ds = ds_buf.data();
    TileRows tile;
    for (int64_t task = t_begin; task < t_end; ++task) {
      const int64_t bg = task / chunks, chunk = task % chunks, b = bg / d.Hkv, g = bg % d.Hkv;
      const T* kh = k + b * ks.b + g * ks.h;
      const T* vh = v + b * vs.b + g * vs.h;
      T* dq_out = chunk == 0 ? dq : dq_extra + (chunk - 1) * dq_numel;
      double* dist_part = dist_parts + task * group * dist_len;  // task == bg * chunks + chunk
      std::fill(dist_part, dist_part + group * dist_len, 0.0);
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
          const T slope = d.alibi_slopes ? T(d.alibi_slopes[h]) : T(0);
          for (int64_t i0 = ia; i0 < ib; i0 += kBlockQ) {
            const int64_t rows = std::min(kBlockQ, ib - i0);
            tile.compute(range, i0, rows, j0, n);
            if (!tile.any()) continue;
            const int64_t ja = tile.ja, je = tile.je, w = je - ja;
            const int64_t row0 = (b * d.H + h) * d.Tq + i0;
            const T* qb = q + b * qs.b + h * qs.h + i0 * qs.t;
            const T* gb = dout + row0 * d.Dv;
            for (int64_t r = 0; r < rows; ++r) {
              std::fill(p + r * kBlockK + ja, p + r * kBlockK + je, T(0));
              std::fill(ds + r * kBlockK + ja, ds + r * kBlockK + je, T(0));
            }
            product_acc(rows, w, d.D, qb, qs.t, 1, kt + ja, kBlockK, p + ja, kBlockK);   // S
            product_acc(rows, w, d.Dv, gb, d.Dv, 1, vt + ja, kBlockK, ds + ja, kBlockK);  // dP
            for (int64_t r = 0; r < rows; ++r) {
              T* p_r = p + r * kBlockK;
              T* ds_r = ds + r * kBlockK;
              const int64_t a = tile.a[r], e = tile.e[r];
              if (a >= e) {
                std::fill(p_r + ja, p_r + je, T(0));
                std::fill(ds_r + ja, ds_r + je, T(0));
                continue;
              }
              scale_and_bias(p_r, a, e, scale, slope, d.q_offset + i0 + r, j0);
              const int64_t rel = d.q_offset + i0 + r - j0;
              if (dist_tab) add_distance_bias(p_r, a, e, dist_tab + h * dist_len, rel);
              exp_row(p_r, a, e, lse[row0 + r]);
              const T delta_r = delta[row0 + r];
              if (dist_tab) {
                // The logit gradient dS / scale, summed by distance for the bias table.
                double* acc_h = dist_part + (h - g * group) * dist_len;
                for (int64_t j = a; j < e; ++j) {
                  const T dlogit = p_r[j] * (ds_r[j] - delta_r);
                  acc_h[rel >= j ? rel - j : j - rel] += double(dlogit);
                  ds_r[j] = scale * dlogit;
                }
              } else {
                for (int64_t j = a; j < e; ++j) ds_r[j] = scale * p_r[j] * (ds_r[j] - delta_r);
              }
              std::fill(p_r + ja, p_r + a, T(0));
              std::fill(p_r + e, p_r + je, T(0));
              std::fill(ds_r + ja, ds_r + a, T(0));
              std::fill(ds_r + e, ds_r + je, T(0));
            }
            product_acc(w, d.Dv, rows, p + ja, 1, kBlockK, gb, d.Dv, dv_acc + ja * d.Dv, d.Dv);
            product_acc(w, d.D, rows, ds + ja, 1, kBlockK, qb, qs.t, dk_acc + ja * d.D, d.D);
            product_acc(rows, d.D, w, ds + ja, kBlockK, 1, kh + (j0 + ja) * ks.t, ks.t,
                        dq_out + row0 * d.D, d.D);
          }
        }
        std::copy(dk_acc, dk_acc + n * d.D, dk + ((b * d.Hkv + g) * d.Tk + j0) * d.D);
        std::copy(dv_acc, dv_acc + n * d.Dv, dv + ((b * d.Hkv + g) * d.Tk + j0) * d.Dv);
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
  if (dist_tab) {
    // Task sums added over batch and chunks in a fixed order.
    parallel_for(0, d.H, 1, [&](int64_t h0, int64_t h1) {
      for (int64_t h = h0; h < h1; ++h) {
        const int64_t g = h / group, hl = h % group;
        for (int64_t x = 0; x < dist_len; ++x) {
          double sum = 0;
          for (int64_t b = 0; b < d.B; ++b)
            for (int64_t c = 0; c < chunks; ++c)
              sum += dist_parts[(((b * d.Hkv + g) * chunks + c) * group + hl) * dist_len + x];
          d_distance_bias[h * dist_len + x] = T(sum);
        }
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
                                         const float*, float*, float*, float*, float*);
template void attention_fused_bwd<double>(const AttentionDims&, const double*, AttentionStrides,
                                          const double*, AttentionStrides, const double*,
                                          AttentionStrides, const double*, const double*,
                                          const double*, double*, double*, double*, double*);

}  // namespace attnlab::kernels
