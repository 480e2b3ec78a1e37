// Row loops written once in plain C++ that the compiler vectorises (DESIGN.md
// convention 10): reductions over fixed lanes, and exp_lane without branches or library
// calls for float. Used by the softmax and norm kernels (ops/softmax.cpp, ops/norm.cpp).
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

// Reductions keep kLanes independent partial results, element i going to lane i % kLanes,
// and add them up in double at the end. The inner lane loop is marked `omp simd`, so it
// becomes vector code, and the arithmetic is the same in every build (Debug, another
// vector width, no OpenMP): results do not depend on how the code was compiled. (A plain
// `omp simd reduction` would split by the build's vector width and keep one dependency
// chain per register; these are also faster.)
inline constexpr int64_t kLanes = 16;

#ifdef _OPENMP
#define ATTNLAB_SIMD _Pragma("omp simd")
#else
#define ATTNLAB_SIMD
#endif

// sum_{i<n} f(i), accumulated in T per lane, the lanes and the tail added in double.
template <class T, class F>
double lane_sum_of(int64_t n, F&& f) {
  T acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    ATTNLAB_SIMD
    for (int64_t j = 0; j < kLanes; ++j) acc[j] += f(i + j);
  }
  double s = 0;
  for (; i < n; ++i) s += double(f(i));
  for (int64_t j = 0; j < kLanes; ++j) s += double(acc[j]);
  return s;
}

template <class T>
double lane_sum(const T* x, int64_t n) {
  return lane_sum_of<T>(n, [x](int64_t i) { return x[i]; });
}

template <class T>
double lane_dot(const T* a, const T* b, int64_t n) {
  return lane_sum_of<T>(n, [a, b](int64_t i) { return a[i] * b[i]; });
}

// Maximum of x[0..n), -inf for n = 0. NaN entries are skipped (a following exp(x - max)
// propagates them).
template <class T>
T lane_max(const T* x, int64_t n) {
  T acc[kLanes];
  for (int64_t j = 0; j < kLanes; ++j) acc[j] = kNegInf<T>;
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    ATTNLAB_SIMD
    for (int64_t j = 0; j < kLanes; ++j) acc[j] = x[i + j] > acc[j] ? x[i + j] : acc[j];
  }
  T m = kNegInf<T>;
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  for (int64_t j = 0; j < kLanes; ++j) m = acc[j] > m ? acc[j] : m;
  return m;
}

// y[i] = exp(x[i] - shift), returning sum_i y[i]: one pass for softmax's numerators.
template <class T>
double lane_exp_sum(const T* __restrict x, T* __restrict y, int64_t n, T shift) {
  T acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    ATTNLAB_SIMD
    for (int64_t j = 0; j < kLanes; ++j) {
      T e = exp_lane(x[i + j] - shift);
      y[i + j] = e;
      acc[j] += e;
    }
  }
  double s = 0;
  for (; i < n; ++i) {
    y[i] = exp_lane(x[i] - shift);
    s += double(y[i]);
  }
  for (int64_t j = 0; j < kLanes; ++j) s += double(acc[j]);
  return s;
}

}  // namespace attnlab::kernels
