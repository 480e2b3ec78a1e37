// Row loops written once in plain C++ that the compiler vectorises (DESIGN.md
// convention 10): reductions are marked `omp simd` so they may be split across vector
// lanes, and exp_lane has no branches or library calls for float. Used by the softmax and norm kernels (ops/softmax.cpp, ops/norm.cpp).
#pragma once
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

namespace attnlab::kernels {

template <class T>
inline constexpr T kNegInf = -std::numeric_limits<T>::infinity();

// exp for float that vectorises (glibc's expf is one call per element and would make
// softmax compute-bound several times over). Cephes' expf: n = round(x log2 e), a
// degree-6 polynomial on r = x - n ln 2 (ln 2 split in two so r is exact), and 2^n put
// straight into the exponent bits; within about 1 ulp for -87.3 <= x <= 88. Below -87.3
// (where expf leaves the normal range) it gives 0, so -inf gives 0; above 88 it gives
// +inf (true overflow is at 88.72; softmax only passes x - max <= 0). NaN stays NaN.
// Out-of-range inputs are fixed up with bit masks at the end rather than clamped first:
// a clamp makes the result a constant on one side, GCC turns that into a branch, and the
// loop no longer vectorises.
inline float exp_lane(float x) {
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  float t = x * 1.44269504088896341f + kMagic;
  float n = t - kMagic;
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  uint32_t scale = (std::bit_cast<uint32_t>(t) - std::bit_cast<uint32_t>(kMagic) + 127u) << 23;
  uint32_t y = std::bit_cast<uint32_t>(p * std::bit_cast<float>(scale));
  uint32_t low = 0u - uint32_t(x < -87.3f), high = 0u - uint32_t(x > 88.0f);
  return std::bit_cast<float>((y & ~(low | high)) | (0x7f800000u & high));
}
// float64 serves references and gradient checks: exactness matters more than speed.
inline double exp_lane(double x) { return std::exp(x); }

// `#pragma omp simd reduction(...)` lets the compiler split a reduction across vector
// lanes (it may not reassociate floating-point sums on its own). The lane split is fixed
// by the build's vector width, so results are reproducible run to run. Without OpenMP
// the loops compile as plain scalar code.
#ifdef _OPENMP
#define ATTNLAB_PRAGMA(x) _Pragma(#x)
#define ATTNLAB_SIMD_REDUCE(op, ...) ATTNLAB_PRAGMA(omp simd reduction(op : __VA_ARGS__))
#else
#define ATTNLAB_SIMD_REDUCE(op, ...)
#endif

// sum_{i<n} f(i), accumulated in T across the vector lanes, returned as double.
template <class T, class F>
double lane_sum_of(int64_t n, F&& f) {
  T s = 0;
  ATTNLAB_SIMD_REDUCE(+, s)
  for (int64_t i = 0; i < n; ++i) s += f(i);
  return double(s);
}

template <class T>
double lane_sum(const T* x, int64_t n) {
  return lane_sum_of<T>(n, [x](int64_t i) { return x[i]; });
}

template <class T>
double lane_dot(const T* a, const T* b, int64_t n) {
  return lane_sum_of<T>(n, [a, b](int64_t i) { return a[i] * b[i]; });
}

// Maximum of x[0..n), -inf for n = 0. NaN entries may be skipped (a following
// exp(x - max) propagates them).
template <class T>
T lane_max(const T* x, int64_t n) {
  T m = kNegInf<T>;
  ATTNLAB_SIMD_REDUCE(max, m)
  for (int64_t i = 0; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

// y[i] = exp(x[i] - shift), returning sum_i y[i]: one pass for softmax's numerators.
template <class T>
double lane_exp_sum(const T* __restrict x, T* __restrict y, int64_t n, T shift) {
  T s = 0;
  ATTNLAB_SIMD_REDUCE(+, s)
  for (int64_t i = 0; i < n; ++i) {
    T e = exp_lane(x[i] - shift);
    y[i] = e;
    s += e;
  }
  return double(s);
}

}  // namespace attnlab::kernels
