// The attention tile loops, written once. Included by attention_tiles_{avx512,avx2,
// scalar}.cpp after they set, inside their own `#pragma GCC target` region:
//   ATTNLAB_TILES_NS          the namespace of this build (avx512, avx2, scalar)
//   ATTNLAB_TILES_VEC_BYTES   vector width in bytes (64, 32; 0 = scalar code, no vectors)
//   ATTNLAB_TILES_BLOCK_ROWS  rows per register block of the product
// Everything here is in that namespace and uses no library template, so no function
// compiled for a wide target can be shared with (and reached from) code of another one.
// No include guard: it is meant to be included once per build.
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "attnlab/kernels/cpu/attention_tiles.h"

namespace attnlab::kernels::ATTNLAB_TILES_NS {
namespace {

constexpr int kVecBytes = ATTNLAB_TILES_VEC_BYTES;
constexpr int kBlockRows = ATTNLAB_TILES_BLOCK_ROWS;

// Short vectors with GCC/Clang vector types (the compiler maps them onto the target's
// registers); in the scalar build the "vector" is the element itself.
template <class T, bool kScalar = (kVecBytes == 0)>
struct VecOf {
  typedef T type __attribute__((vector_size(kVecBytes == 0 ? sizeof(T) : kVecBytes)));
  static constexpr int lanes = kVecBytes / int(sizeof(T));
};
template <class T>
struct VecOf<T, true> {
  using type = T;
  static constexpr int lanes = 1;
};
using VecF = VecOf<float>::type;
using VecI = VecOf<int32_t>::type;
constexpr int kLanesF = VecOf<float>::lanes;

inline float fmax_(float a, float b) { return a > b ? a : b; }
inline double fmax_(double a, double b) { return a > b ? a : b; }

// exp(x) = 2^n * e^r with n = round(x / ln 2), |r| <= ln2 / 2, e^r from the Cephes
// polynomial; no libm call, so it runs on whole vectors. F is float or VecF. Relative
// error below 3e-7 on [-87, 88]; 0 below -87.33 and for -inf; NaN stays NaN.
// The same scheme as lanes.h's exp_lane and loss.cpp's exp_fast, kept as a copy on
// purpose: a shared inline template instantiated here would be compiled for this file's
// target, and the linker could keep that copy for the other callers.
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

float exp_row_f(float* __restrict s, int64_t a, int64_t e, float shift) {
  int64_t j = a;
  float sum = 0;
#if ATTNLAB_TILES_VEC_BYTES > 0
  {
    VecF vsum = VecF{};
    for (; j + kLanesF <= e; j += kLanesF) {
      VecF x;
      std::memcpy(&x, s + j, sizeof x);
      x = expf_poly(x - shift);
      std::memcpy(s + j, &x, sizeof x);
      vsum += x;
    }
    for (int l = 0; l < kLanesF; ++l) sum += vsum[l];
  }
#endif
  for (; j < e; ++j) sum += (s[j] = expf_poly(s[j] - shift));
  return sum;
}
// float64 serves references and gradient checks: exactness before speed.
double exp_row_d(double* __restrict s, int64_t a, int64_t e, double shift) {
  double sum = 0;
  for (int64_t j = a; j < e; ++j) sum += (s[j] = __builtin_exp(s[j] - shift));
  return sum;
}

float row_max_f(const float* __restrict s, int64_t a, int64_t e, float init) {
  int64_t j = a;
  float mx = init;
#if ATTNLAB_TILES_VEC_BYTES > 0
  {
    VecF vmax = VecF{} + init;
    for (; j + kLanesF <= e; j += kLanesF) {
      VecF x;
      std::memcpy(&x, s + j, sizeof x);
      vmax = x > vmax ? x : vmax;
    }
    for (int l = 0; l < kLanesF; ++l) mx = fmax_(mx, vmax[l]);
  }
#endif
  for (; j < e; ++j) mx = fmax_(mx, s[j]);
  return mx;
}
double row_max_d(const double* __restrict s, int64_t a, int64_t e, double init) {
  double mx = init;
  for (int64_t j = a; j < e; ++j) mx = fmax_(mx, s[j]);
  return mx;
}

// Full blocks of R rows x 2 vectors keep 2R accumulators in registers across the whole k
// loop; the columns left over take plain loops. Acc: C += A B; else C = A B (C is not
// read, so it needs no zero fill and may hold anything, NaN included).
template <class T, int R, bool Acc>
void product_block(const T* __restrict a, int64_t ars, int64_t aks, const T* __restrict b,
                   int64_t ldb, int64_t K, T* __restrict c, int64_t ldc) {
  using V = typename VecOf<T>::type;
  constexpr int L = VecOf<T>::lanes;
  V acc[R][2];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < 2; ++v) {
      if constexpr (Acc) std::memcpy(&acc[r][v], c + r * ldc + v * L, sizeof(V));
      else acc[r][v] = V{};
    }
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

template <class T, bool Acc>
void product(int64_t M, int64_t N, int64_t K, const T* __restrict a, int64_t ars, int64_t aks,
             const T* __restrict b, int64_t ldb, T* __restrict c, int64_t ldc) {
  constexpr int64_t W = 2 * VecOf<T>::lanes;
  int64_t n0 = 0;
  for (; n0 + W <= N; n0 += W) {
    int64_t m0 = 0;
    for (; m0 + kBlockRows <= M; m0 += kBlockRows)
      product_block<T, kBlockRows, Acc>(a + m0 * ars, ars, aks, b + n0, ldb, K, c + m0 * ldc + n0, ldc);
    for (; m0 + 4 <= M; m0 += 4)
      product_block<T, 4, Acc>(a + m0 * ars, ars, aks, b + n0, ldb, K, c + m0 * ldc + n0, ldc);
    for (; m0 + 2 <= M; m0 += 2)
      product_block<T, 2, Acc>(a + m0 * ars, ars, aks, b + n0, ldb, K, c + m0 * ldc + n0, ldc);
    for (; m0 < M; ++m0)
      product_block<T, 1, Acc>(a + m0 * ars, ars, aks, b + n0, ldb, K, c + m0 * ldc + n0, ldc);
  }
  if (n0 == N) return;
  for (int64_t m = 0; m < M; ++m) {
    T* __restrict cm = c + m * ldc;
    if constexpr (!Acc)
      for (int64_t n = n0; n < N; ++n) cm[n] = T(0);
    for (int64_t k = 0; k < K; ++k) {
      const T am = a[m * ars + k * aks];
      const T* __restrict bk = b + k * ldb;
      for (int64_t n = n0; n < N; ++n) cm[n] += am * bk[n];
    }
  }
}

// out[j] = sum_c q[c] k[j * ldk + c] for j < n: one query row against key rows as they
// are stored, for the few-row (decoding) calls, where transposing the keys first would
// cost more than the products. Four keys at a time, each a vector sum over D, reduced
// across lanes at the end.
template <class T>
void row_dots(const T* __restrict q, const T* __restrict k, int64_t ldk, int64_t n, int64_t D,
              T* __restrict out) {
  using V = typename VecOf<T>::type;
  constexpr int64_t L = VecOf<T>::lanes;
  const int64_t Dv = D / L * L;
  auto finish = [&](V acc, const T* kj) {
    T sum = T(0);
    if constexpr (L > 1) {
      for (int l = 0; l < int(L); ++l) sum += acc[l];
    } else {
      sum = acc;
    }
    for (int64_t c = Dv; c < D; ++c) sum += q[c] * kj[c];
    return sum;
  };
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
    const T* k0 = k + j * ldk;
    V a0{}, a1{}, a2{}, a3{};
    for (int64_t c = 0; c < Dv; c += L) {
      V qv, x0, x1, x2, x3;
      std::memcpy(&qv, q + c, sizeof(V));
      std::memcpy(&x0, k0 + c, sizeof(V));
      std::memcpy(&x1, k0 + ldk + c, sizeof(V));
      std::memcpy(&x2, k0 + 2 * ldk + c, sizeof(V));
      std::memcpy(&x3, k0 + 3 * ldk + c, sizeof(V));
      a0 += qv * x0;
      a1 += qv * x1;
      a2 += qv * x2;
      a3 += qv * x3;
    }
    out[j] = finish(a0, k0);
    out[j + 1] = finish(a1, k0 + ldk);
    out[j + 2] = finish(a2, k0 + 2 * ldk);
    out[j + 3] = finish(a3, k0 + 3 * ldk);
  }
  for (; j < n; ++j) {
    const T* kj = k + j * ldk;
    V a{};
    for (int64_t c = 0; c < Dv; c += L) {
      V qv, x;
      std::memcpy(&qv, q + c, sizeof(V));
      std::memcpy(&x, kj + c, sizeof(V));
      a += qv * x;
    }
    out[j] = finish(a, kj);
  }
}

}  // namespace

void fill(TileOps<float>& f, TileOps<double>& d) {
  f = {&product<float, true>, &product<float, false>, &exp_row_f, &row_max_f, &row_dots<float>};
  d = {&product<double, true>, &product<double, false>, &exp_row_d, &row_max_d, &row_dots<double>};
}

}  // namespace attnlab::kernels::ATTNLAB_TILES_NS
