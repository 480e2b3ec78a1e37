#include "attnlab/core/rng.h"

#include <gtest/gtest.h>

#include <cmath>

#include "attnlab/core/parallel.h"
#include "attnlab/core/tensor.h"

namespace attnlab {
namespace {

TEST(Philox, MatchesTheKnownAnswerVector) {
  // Random123's known-answer test for philox4x32-10 with counter = key = 0.
  auto r = philox4x32(0, 0, 0);
  EXPECT_EQ(r[0], 0x6627e8d5u);
  EXPECT_EQ(r[1], 0xe169c58du);
  EXPECT_EQ(r[2], 0xbc57ac4cu);
  EXPECT_EQ(r[3], 0x9b00dbd8u);
}

TEST(Rng, SameSeedSameValuesWhateverTheThreadCount) {
  set_num_threads(1);
  Rng a(42);
  std::vector<float> one(100003);
  a.fill_normal(one.data(), int64_t(one.size()), 0.f, 1.f);
  set_num_threads(2);
  Rng b(42);
  std::vector<float> two(100003);
  b.fill_normal(two.data(), int64_t(two.size()), 0.f, 1.f);
  set_num_threads(0);
  EXPECT_EQ(one, two);
}

TEST(Rng, OffsetResumesTheStream) {
  Rng a(9);
  std::vector<double> first(10), rest(10), whole(20);
  a.fill_uniform(first.data(), 10, 0.0, 1.0);
  Rng resumed(9, a.offset());
  resumed.fill_uniform(rest.data(), 10, 0.0, 1.0);
  Rng b(9);
  b.fill_uniform(whole.data(), 20, 0.0, 1.0);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(first[size_t(i)], whole[size_t(i)]);
    EXPECT_EQ(rest[size_t(i)], whole[size_t(i + 10)]);
  }
}

TEST(Rng, NormalHasUnitMomentsAndUniformStaysInRange) {
  Rng rng(1);
  const int64_t n = 1000000;
  std::vector<double> x(static_cast<size_t>(n));
  rng.fill_normal(x.data(), n, 0.0, 1.0);
  double m = 0, v = 0;
  for (double e : x) m += e;
  m /= double(n);
  for (double e : x) v += (e - m) * (e - m);
  v /= double(n);
  EXPECT_NEAR(m, 0.0, 5.0 / std::sqrt(double(n)));
  EXPECT_NEAR(v, 1.0, 0.01);
  std::vector<float> u(static_cast<size_t>(n));
  rng.fill_uniform(u.data(), n, -2.f, 3.f);
  for (float e : u) {
    ASSERT_GE(e, -2.f);
    ASSERT_LT(e, 3.f);
  }
}

TEST(Rng, NextBelowIsInRangeAndCoversIt) {
  Rng rng(5);
  std::vector<int> seen(7, 0);
  for (int i = 0; i < 7000; ++i) {
    uint64_t k = rng.next_below(7);
    ASSERT_LT(k, 7u);
    seen[size_t(k)]++;
  }
  for (int c : seen) EXPECT_GT(c, 800);
}

}  // namespace
}  // namespace attnlab
