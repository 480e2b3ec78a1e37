#include <gtest/gtest.h>

#include <cmath>

#include "attnlab/position/alibi.h"
#include "attnlab/position/rope.h"
#include "harness/assert_close.h"

namespace attnlab::position {
namespace {

TEST(Alibi, PowerOfTwoHeadsFollowPress) {
  auto s = alibi_slopes(8);
  ASSERT_EQ(s.size(), 8u);
  for (int h = 1; h <= 8; ++h) EXPECT_DOUBLE_EQ(s[size_t(h - 1)], std::pow(2.0, -h));
}

TEST(Alibi, TwelveHeadsInterleaveTheExtraSlopes) {
  auto s = alibi_slopes(12);
  ASSERT_EQ(s.size(), 12u);
  for (int h = 1; h <= 8; ++h) EXPECT_DOUBLE_EQ(s[size_t(h - 1)], std::pow(2.0, -h));
  // every other slope of the 16-head set: 2^-0.5, 2^-1.5, 2^-2.5, 2^-3.5
  EXPECT_NEAR(s[8], 0.7071067811865476, 1e-15);
  EXPECT_NEAR(s[9], 0.3535533905932738, 1e-15);
  EXPECT_NEAR(s[10], 0.1767766952966369, 1e-15);
  EXPECT_NEAR(s[11], 0.0883883476483184, 1e-15);
}

TEST(Alibi, AnyHeadCountGivesDistinctPositiveSlopes) {
  for (int64_t h : {1, 3, 5, 6, 7, 16, 24}) {
    auto s = alibi_slopes(h);
    ASSERT_EQ(int64_t(s.size()), h);
    for (size_t i = 0; i < s.size(); ++i) {
      EXPECT_GT(s[i], 0.0);
      for (size_t j = 0; j < i; ++j) EXPECT_NE(s[i], s[j]);
    }
  }
  EXPECT_THROW(alibi_slopes(0), Error);
}

// Plain reference: rotate each pair by pos * theta_i.
Tensor rope_reference(const Tensor& x, int64_t start, const RopeParams& p) {
  int64_t D = x.size(3), T = x.size(2), R = p.rotary_dim ? p.rotary_dim : D;
  std::vector<double> v = x.to_vector(), out = v;
  for (int64_t row = 0; row < x.numel() / D; ++row) {
    double pos = double(start + row % T);
    for (int64_t i = 0; i < R / 2; ++i) {
      double th = pos * std::pow(p.base, -2.0 * double(i) / double(R));
      int64_t a = p.style == RopeStyle::HalfSplit ? i : 2 * i;
      int64_t b = p.style == RopeStyle::HalfSplit ? i + R / 2 : 2 * i + 1;
      double xa = v[size_t(row * D + a)], xb = v[size_t(row * D + b)];
      out[size_t(row * D + a)] = xa * std::cos(th) - xb * std::sin(th);
      out[size_t(row * D + b)] = xa * std::sin(th) + xb * std::cos(th);
    }
  }
  return Tensor::from_vector(out, x.shape());
}

TEST(Rope, MatchesReferenceForBothStylesAtOddLengths) {
  Rng rng(11);
  for (auto style : {RopeStyle::HalfSplit, RopeStyle::Interleaved}) {
    for (int64_t T : {1, 3, 63, 127}) {
      RopeParams p;
      p.style = style;
      Tensor x = Tensor::randn({2, 3, T, 8}, rng);
      Tensor got = rope(x, 7, p);
      EXPECT_CLOSE(cat("rope T=", T), rope_reference(x.to(DType::F64), 7, p), got, 1e-6);
    }
  }
}

TEST(Rope, RelativePositionProperty) {
  // <rope(q, m), rope(k, n)> depends only on m - n.
  Rng rng(2);
  Tensor q = Tensor::randn({1, 1, 1, 16}, rng, DType::F64), k = Tensor::randn({1, 1, 1, 16}, rng, DType::F64);
  RopeParams p;
  auto dot = [&](int64_t m, int64_t n) {
    auto a = rope(q, m, p).to_vector(), b = rope(k, n, p).to_vector();
    double s = 0;
    for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
    return s;
  };
  EXPECT_NEAR(dot(10, 3), dot(1007, 1000), 1e-9);
}

TEST(Rope, BadShapesAreErrors) {
  RopeParams p;
  EXPECT_THROW(rope(Tensor::zeros({3, 4}), 0, p), Error);
  p.rotary_dim = 3;
  EXPECT_THROW(rope(Tensor::zeros({1, 1, 2, 4}), 0, p), Error);
  EXPECT_THROW(parse_rope_style("diagonal"), Error);
}

}  // namespace
}  // namespace attnlab::position
