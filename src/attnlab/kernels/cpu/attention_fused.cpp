#include "attnlab/kernels/cpu/attention_fused.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "attnlab/core/parallel.h"
#include "attnlab/core/tensor.h"
#include "attnlab/kernels/cpu/attention_tiles.h"

// `omp simd` lets the compiler split a sum over vector lanes (it may not reassociate
// otherwise without -ffast-math); without OpenMP the pragma is dropped.
#ifdef _OPENMP
#define ATTN_PRAGMA(x) _Pragma(#x)
#else
#define ATTN_PRAGMA(x)
#endif

namespace attnlab::kernels {

namespace {

// Tile sizes, chosen by `attnlab bench attention` (T = 1024 and 4096, D = 64, AVX-512):
// a forward task is kFwdQ query rows and walks the keys kFwdK at a time; the backward
// walks query blocks of kBwdQ rows over key tiles of kBwdK. Larger key tiles spread the
// per-row work of the online softmax (a horizontal max and sum per row and tile) over
// more products; the backward keeps five tile-sized buffers and prefers smaller ones.
constexpr int64_t kFwdQ = 128, kFwdK = 128;
constexpr int64_t kBwdQ = 64, kBwdK = 128;
constexpr int64_t kMaxQ = kFwdQ > kBwdQ ? kFwdQ : kBwdQ;
// A forward task of at most this many query rows (decoding) takes its scores as dot
// products with the key rows as stored: transposing every key tile for so few rows would
// move the whole cache through memory twice more per token.
constexpr int64_t kDirectRows = 4;

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

// kt[c * ldt + j] = k[j][c] for the n key rows starting at `k` (row stride `ld`).
template <class T>
void transpose_tile(const T* __restrict k, int64_t ld, int64_t n, int64_t cols, T* __restrict kt,
                    int64_t ldt) {
  for (int64_t j = 0; j < n; ++j)
    for (int64_t c = 0; c < cols; ++c) kt[c * ldt + j] = k[j * ld + c];
}

// The visible keys of each row of a query block within one key tile, as tile-local
// ranges [a_r, e_r) (empty when a_r >= e_r), and their union [ja, je).
struct TileRows {
  int64_t a[kMaxQ], e[kMaxQ];
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

// s[j] += -slope * (pos - (j0 + j)) for j in [a, e): ALiBi on already scaled logits.
template <class T>
void add_alibi(T* __restrict s, int64_t a, int64_t e, T slope, int64_t pos, int64_t j0) {
  const T rel0 = T(j0 - pos);  // exact in float below 2^24 positions
  for (int32_t j = int32_t(a); j < int32_t(e); ++j) s[j] += slope * (rel0 + T(j));
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

void attention_expf_row(float* x, int64_t n) { active_tile_ops<float>().exp_row(x, 0, n, 0.0f); }

// ---- forward ----
// Per task: query rows [i0, i1) of one (b, h); for each key tile, the online softmax
// keeps per row the running max m, the running sum l of exp(logit - m), and the
// accumulator acc = sum exp(logit - m) v, rescaled by exp(m_old - m_new) when m grows.
//   S = Q Kt (tile), P = exp(S - m) per row, acc += P V   (two products per tile)

template <class T>
void attention_fused_fwd(const AttentionDims& d, const T* q, AttentionStrides qs, const T* k,
                         AttentionStrides ks, const T* v, AttentionStrides vs, T* o, T* lse) {
  const int64_t nqb = (d.Tq + kFwdQ - 1) / kFwdQ;
  const int64_t group = d.H / d.Hkv;
  const RowRange range(d);
  const T scale = T(d.scale);
  const T neg_inf = -std::numeric_limits<T>::infinity();
  const T* dist_tab = static_cast<const T*>(d.distance_bias);
  const TileOps<T>& ops = active_tile_ops<T>();

  const int64_t nkb = (d.Tk + kFwdK - 1) / kFwdK;
  parallel_for(0, d.B * d.H * nqb, 1, [&](int64_t t_begin, int64_t t_end) {
    // The transposed key tiles of one (b, kv head), each made on first use and kept while
    // this thread's tasks stay on that head (its tasks are contiguous, so each head's keys
    // are transposed about once per thread instead of once per query block). From the
    // caching allocator: no fresh pages per call, and counted in its high-water mark.
    Tensor kt_cache_buf;  // made by the first task that needs it (none when decoding)
    std::vector<uint8_t> kt_ready(size_t(nkb), 0);
    int64_t kt_owner = -1;
    std::vector<T> s_buf(size_t(kFwdQ * kFwdK));
    std::vector<T> acc_buf(size_t(kFwdQ * d.Dv)), m_buf(kFwdQ), l_buf(kFwdQ);
    std::vector<T> qsc_buf(size_t(kFwdQ * d.D)), alpha_buf(kFwdQ), tile_sum_buf(kFwdQ);
    T* __restrict s = s_buf.data();
    T* __restrict acc = acc_buf.data();
    T* __restrict m = m_buf.data();
    T* __restrict l = l_buf.data();
    T* __restrict qsc = qsc_buf.data();
    T* __restrict alpha = alpha_buf.data();
    T* __restrict tile_sum = tile_sum_buf.data();
    TileRows tile;
    for (int64_t task = t_begin; task < t_end; ++task) {
      const int64_t bh = task / nqb, b = bh / d.H, h = bh % d.H, g = h / group;
      const int64_t i0 = zigzag(task % nqb, nqb) * kFwdQ, rows = std::min(kFwdQ, d.Tq - i0);
      const T* qh = q + b * qs.b + h * qs.h + i0 * qs.t;
      const T* kh = k + b * ks.b + g * ks.h;
      const T* vh = v + b * vs.b + g * vs.h;
      const T slope = d.alibi_slopes ? T(d.alibi_slopes[h]) : T(0);
      if (kt_owner != b * d.Hkv + g) {
        kt_owner = b * d.Hkv + g;
        std::fill(kt_ready.begin(), kt_ready.end(), 0);
      }

      std::fill(m, m + rows, neg_inf);
      std::fill(l, l + rows, T(0));
      std::fill(acc, acc + rows * d.Dv, T(0));
      // The block's queries times the scale, packed once: the tile product then gives the
      // scaled logits directly, with no pass over the scores to scale them.
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < d.D; ++c) qsc[r * d.D + c] = scale * qh[r * qs.t + c];

      const int64_t klo = range.lo(i0), khi = range.hi(i0 + rows - 1);
      for (int64_t j0 = klo / kFwdK * kFwdK; j0 < khi; j0 += kFwdK) {  // whole tiles
        const int64_t n = std::min(kFwdK, khi - j0);
        tile.compute(range, i0, rows, j0, n);
        if (!tile.any()) continue;
        const int64_t ja = tile.ja, je = tile.je;
        if (rows <= kDirectRows) {
          for (int64_t r = 0; r < rows; ++r)
            ops.row_dots(qsc + r * d.D, kh + (j0 + ja) * ks.t, ks.t, je - ja, d.D, s + r * kFwdK + ja);
        } else {
          if (!kt_cache_buf.defined()) kt_cache_buf = Tensor::empty({nkb * d.D * kFwdK}, dtype_of<T>());
          T* kt = kt_cache_buf.data<T>() + (j0 / kFwdK) * d.D * kFwdK;
          if (!kt_ready[j0 / kFwdK]) {
            transpose_tile(kh + j0 * ks.t, ks.t, std::min(kFwdK, d.Tk - j0), d.D, kt, kFwdK);
            kt_ready[j0 / kFwdK] = 1;
          }
          ops.product(rows, je - ja, d.D, qsc, d.D, 1, kt + ja, kFwdK, s + ja, kFwdK);
        }
        for (int64_t r = 0; r < rows; ++r) {
          T* s_r = s + r * kFwdK;
          const int64_t a = tile.a[r], e = tile.e[r];
          if (a >= e) {  // sees nothing in this tile: a zero row in the P V product
            std::fill(s_r + ja, s_r + je, T(0));
            alpha[r] = T(0);  // exp(0) = 1: the row's sums stay as they are
            tile_sum[r] = T(0);
            continue;
          }
          if (slope != T(0)) add_alibi(s_r, a, e, slope, d.q_offset + i0 + r, j0);
          if (dist_tab)
            add_distance_bias(s_r, a, e, dist_tab + h * d.distance_bias_len, d.q_offset + i0 + r - j0);
          const T mx = ops.row_max(s_r, a, e, m[r]);
          tile_sum[r] = ops.exp_row(s_r, a, e, mx);
          std::fill(s_r + ja, s_r + a, T(0));
          std::fill(s_r + e, s_r + je, T(0));
          // exp(-inf) = 0 clears the (zero) accumulator of a row seeing its first key
          alpha[r] = mx == m[r] ? T(0) : m[r] - mx;
          m[r] = mx;
        }
        // The rescale factors of all rows in one vector call (one libm exp per row and
        // tile cost about as much as the row's maximum).
        ops.exp_row(alpha, 0, rows, T(0));
        for (int64_t r = 0; r < rows; ++r) {
          l[r] = l[r] * alpha[r] + tile_sum[r];
          if (alpha[r] != T(1)) {
            T* acc_r = acc + r * d.Dv;
            const T f = alpha[r];
            for (int64_t c = 0; c < d.Dv; ++c) acc_r[c] *= f;
          }
        }
        ops.product_acc(rows, d.Dv, je - ja, s + ja, kFwdK, 1, vh + (j0 + ja) * vs.t, vs.t, acc, d.Dv);
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
// in blocks of kBwdQ rows, every query row of every query head in the group that sees
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
  const TileOps<T>& ops = active_tile_ops<T>();
  const int64_t nkb = (d.Tk + kBwdK - 1) / kBwdK;
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
    std::vector<T> kt_buf(size_t(d.D * kBwdK)), vt_buf(size_t(d.Dv * kBwdK));
    std::vector<T> dk_buf(size_t(kBwdK * d.D)), dv_buf(size_t(kBwdK * d.Dv));
    std::vector<T> p_buf(size_t(kBwdQ * kBwdK)), ds_buf(size_t(kBwdQ * kBwdK));
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
        const int64_t j0 = kb * kBwdK, n = std::min(kBwdK, d.Tk - j0);
        transpose_tile(kh + j0 * ks.t, ks.t, n, d.D, kt, kBwdK);
        // Scaled once per key tile, so Q Kt gives the scaled logits for every query block.
        for (int64_t c = 0; c < d.D; ++c)
          for (int64_t j = 0; j < n; ++j) kt[c * kBwdK + j] *= scale;
        transpose_tile(vh + j0 * vs.t, vs.t, n, d.Dv, vt, kBwdK);
        std::fill(dk_acc, dk_acc + n * d.D, T(0));
        std::fill(dv_acc, dv_acc + n * d.Dv, T(0));
        // Query rows that see a key of [j0, j0 + n): hi(i) > j0 and lo(i) < j0 + n.
        const int64_t ia = d.causal ? std::clamp<int64_t>(j0 - d.q_offset, 0, d.Tq) : 0;
        const int64_t ib =
            d.window ? std::clamp<int64_t>(j0 + n + d.window - 1 - d.q_offset, 0, d.Tq) : d.Tq;
        for (int64_t h = g * group; h < (g + 1) * group; ++h) {
          const T slope = d.alibi_slopes ? T(d.alibi_slopes[h]) : T(0);
          for (int64_t i0 = ia; i0 < ib; i0 += kBwdQ) {
            const int64_t rows = std::min(kBwdQ, ib - i0);
            tile.compute(range, i0, rows, j0, n);
            if (!tile.any()) continue;
            const int64_t ja = tile.ja, je = tile.je, w = je - ja;
            const int64_t row0 = (b * d.H + h) * d.Tq + i0;
            const T* qb = q + b * qs.b + h * qs.h + i0 * qs.t;
            const T* gb = dout + row0 * d.Dv;
            ops.product(rows, w, d.D, qb, qs.t, 1, kt + ja, kBwdK, p + ja, kBwdK);   // scaled S
            ops.product(rows, w, d.Dv, gb, d.Dv, 1, vt + ja, kBwdK, ds + ja, kBwdK);  // dP
            for (int64_t r = 0; r < rows; ++r) {
              T* p_r = p + r * kBwdK;
              T* ds_r = ds + r * kBwdK;
              const int64_t a = tile.a[r], e = tile.e[r];
              if (a >= e) {
                std::fill(p_r + ja, p_r + je, T(0));
                std::fill(ds_r + ja, ds_r + je, T(0));
                continue;
              }
              if (slope != T(0)) add_alibi(p_r, a, e, slope, d.q_offset + i0 + r, j0);
              const int64_t rel = d.q_offset + i0 + r - j0;
              if (dist_tab) add_distance_bias(p_r, a, e, dist_tab + h * dist_len, rel);
              ops.exp_row(p_r, a, e, lse[row0 + r]);
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
            ops.product_acc(w, d.Dv, rows, p + ja, 1, kBwdK, gb, d.Dv, dv_acc + ja * d.Dv, d.Dv);
            ops.product_acc(w, d.D, rows, ds + ja, 1, kBwdK, qb, qs.t, dk_acc + ja * d.D, d.D);
            ops.product_acc(rows, d.D, w, ds + ja, kBwdK, 1, kh + (j0 + ja) * ks.t, ks.t,
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
