#include "attnlab/core/rng.h"

#include <cmath>

#include "attnlab/core/parallel.h"

namespace attnlab {

std::array<uint32_t, 4> philox4x32(uint64_t key, uint64_t counter_hi, uint64_t counter_lo) {
  constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  uint32_t c0 = uint32_t(counter_lo), c1 = uint32_t(counter_lo >> 32);
  uint32_t c2 = uint32_t(counter_hi), c3 = uint32_t(counter_hi >> 32);
  uint32_t k0 = uint32_t(key), k1 = uint32_t(key >> 32);
  for (int round = 0; round < 10; ++round) {
    uint64_t p0 = uint64_t(kMul0) * c0, p1 = uint64_t(kMul1) * c2;
    uint32_t n0 = uint32_t(p1 >> 32) ^ c1 ^ k0, n1 = uint32_t(p1);
    uint32_t n2 = uint32_t(p0 >> 32) ^ c3 ^ k1, n3 = uint32_t(p0);
    c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    k0 += kWeyl0; k1 += kWeyl1;
  }
  return {c0, c1, c2, c3};
}

namespace {

// Stream ids keep the uses of one seed apart.
constexpr uint64_t kStreamUniform = 1, kStreamNormal = 2, kStreamScalar = 3;

template <class T>
void fill_uniform_impl(uint64_t seed, uint64_t offset, T* out, int64_t n, T lo, T hi) {
  parallel_for(0, n, 4096, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      auto r = philox4x32(seed, kStreamUniform, offset + uint64_t(i));
      double u = uniform53_from_bits(r[0], r[1]);
      out[i] = T(lo + (hi - lo) * u);
    }
  });
}

template <class T>
void fill_normal_impl(uint64_t seed, uint64_t offset, T* out, int64_t n, T mean, T std) {
  parallel_for(0, n, 4096, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      auto r = philox4x32(seed, kStreamNormal, offset + uint64_t(i));
      // Box-Muller on two 53-bit uniforms; 1 - u keeps the log argument in (0, 1].
      double u1 = 1.0 - uniform53_from_bits(r[0], r[1]);
      double u2 = uniform53_from_bits(r[2], r[3]);
      double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
      out[i] = T(mean + std * z);
    }
  });
}

}  // namespace

void Rng::fill_uniform(float* out, int64_t n, float lo, float hi) {
  fill_uniform_impl(seed_, offset_, out, n, lo, hi);
  offset_ += uint64_t(n);
}
void Rng::fill_uniform(double* out, int64_t n, double lo, double hi) {
  fill_uniform_impl(seed_, offset_, out, n, lo, hi);
  offset_ += uint64_t(n);
}
void Rng::fill_normal(float* out, int64_t n, float mean, float std) {
  fill_normal_impl(seed_, offset_, out, n, mean, std);
  offset_ += uint64_t(n);
}
void Rng::fill_normal(double* out, int64_t n, double mean, double std) {
  fill_normal_impl(seed_, offset_, out, n, mean, std);
  offset_ += uint64_t(n);
}

uint64_t Rng::next_u64() {
  auto r = philox4x32(seed_, kStreamScalar, offset_++);
  return (uint64_t(r[0]) << 32) | r[1];
}

double Rng::next_uniform() {
  auto r = philox4x32(seed_, kStreamScalar, offset_++);
  return uniform53_from_bits(r[0], r[1]);
}

uint64_t Rng::next_below(uint64_t n) {
  // 128-bit multiply-shift (Lemire); bias is below 2^-64 * n.
  unsigned __int128 m = (unsigned __int128)next_u64() * n;
  return uint64_t(m >> 64);
}

}  // namespace attnlab
