// Counter-based random numbers (Philox4x32-10, Salmon et al., SC'11).
//
// A value is a pure function of (seed, counter): element i of a fill uses counter
// offset + i, so a tensor gets the same values whatever the thread count and however
// the work is split. An Rng is just (seed, offset); saving those two numbers in a
// checkpoint restores the stream exactly.
#pragma once
#include <array>
#include <cstdint>

namespace attnlab {

// Four 32-bit random words for one 128-bit counter under a 64-bit key.
std::array<uint32_t, 4> philox4x32(uint64_t key, uint64_t counter_hi, uint64_t counter_lo);

// Uniform in [0, 1) with 24 random bits (exactly representable as float).
inline float uniform_from_bits(uint32_t bits) { return float(bits >> 8) * (1.0f / 16777216.0f); }
// Uniform in [0, 1) with 53 random bits.
inline double uniform53_from_bits(uint32_t hi, uint32_t lo) {
  return double((uint64_t(hi) << 21) ^ (lo >> 11)) * (1.0 / 9007199254740992.0);
}

class Rng {
 public:
  explicit Rng(uint64_t seed = 0, uint64_t offset = 0) : seed_(seed), offset_(offset) {}

  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }  // counters consumed so far

  // n values; element i depends only on (seed, offset + i). Advances the offset by n.
  void fill_uniform(float* out, int64_t n, float lo, float hi);
  void fill_uniform(double* out, int64_t n, double lo, double hi);
  void fill_normal(float* out, int64_t n, float mean, float std);
  void fill_normal(double* out, int64_t n, double mean, double std);

  double next_uniform();   // one value in [0, 1)
  uint64_t next_u64();
  // Uniform integer in [0, n) without modulo bias beyond 2^-64.
  uint64_t next_below(uint64_t n);

 private:
  uint64_t seed_;
  uint64_t offset_;
};

}  // namespace attnlab
