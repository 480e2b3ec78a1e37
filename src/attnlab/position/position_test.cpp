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

// ---- RoPE scalings at D = 8, base 10000: theta = 1, 0.1, 0.01, 0.001 ----

void expect_thetas(const std::vector<double>& got, const std::vector<double>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-15 + 1e-13 * want[i]) << what << " i=" << i;
}

RopeParams scaled(RopeScaling s, double factor, int64_t original_length = 0) {
  RopeParams p;
  p.scaling = s;
  p.factor = factor;
  p.original_length = original_length;
  return p;
}

TEST(RopeScaling, PositionInterpolationDividesEveryFrequencyByS) {
  expect_thetas(rope_frequencies(scaled(RopeScaling::PI, 4), 8), {0.25, 0.025, 0.0025, 0.00025}, "pi s=4");
}

TEST(RopeScaling, NtkRaisesTheBase) {
  // base' = base * 4^(8/6), so theta_i' = theta_i * 4^(-i/3); the lowest frequency ends up
  // exactly PI's (theta_3 / 4) and the highest is untouched.
  expect_thetas(rope_frequencies(scaled(RopeScaling::NTK, 4), 8),
                {1.0, 0.1 * 0.6299605249474366, 0.01 * 0.3968502629920499, 0.00025}, "ntk s=4");
}

TEST(RopeScaling, DynamicNtkScalesOnlyBeyondTheTrainedLength) {
  RopeParams p = scaled(RopeScaling::DynamicNTK, 2, 16);
  expect_thetas(rope_frequencies(p, 8, 16), {1.0, 0.1, 0.01, 0.001}, "dynamic L=16");
  expect_thetas(rope_frequencies(p, 8, 5), {1.0, 0.1, 0.01, 0.001}, "dynamic L=5");
  // L = 32: 2 * 32/16 - 2 + 1 = 3, theta_i' = theta_i * 3^(-i/3).
  expect_thetas(rope_frequencies(p, 8, 32), {1.0, 0.1 * 0.6933612743506348, 0.01 * 0.4807498567691362, 0.001 / 3},
                "dynamic L=32");
  // L = 24: factor 2 * 1.5 - 1 = 2, the same as static NTK at s = 2.
  expect_thetas(rope_frequencies(p, 8, 24), rope_frequencies(scaled(RopeScaling::NTK, 2), 8), "dynamic L=24");
  p.original_length = 0;
  EXPECT_THROW(rope_frequencies(p, 8, 32), Error);
}

TEST(RopeScaling, YarnRampsBetweenTheCorrectionDims) {
  // L_orig = 2048: dim(32) = 8 ln(2048 / 64pi) / (2 ln 10000) = 1.008 -> floor 1;
  // dim(1) = 8 ln(2048 / 2pi) / (2 ln 10000) = 2.513 -> ceil 3. Ramp (i - 1) / 2 clamped:
  // 0, 0, 0.5, 1, so r = 1, 1, 0.5, 0 and theta' = theta, theta, theta (0.5/4 + 0.5), theta / 4.
  RopeParams p = scaled(RopeScaling::YaRN, 4, 2048);
  expect_thetas(rope_frequencies(p, 8), {1.0, 0.1, 0.01 * 0.625, 0.00025}, "yarn s=4");
  EXPECT_NEAR(rope_mscale(p), 1.138629436111989, 1e-15);  // 1 + 0.1 ln 4
  // L_orig = 16: dim(32) < 0 -> 0, dim(1) = 0.406 -> 1; only theta_0 keeps its value.
  expect_thetas(rope_frequencies(scaled(RopeScaling::YaRN, 4, 16), 8), {1.0, 0.025, 0.0025, 0.00025}, "yarn L=16");
  // The rotation carries mscale on both q and k: rope(x) = mscale * plain rope with theta'.
  Rng rng(5);
  Tensor x = Tensor::randn({1, 2, 5, 8}, rng, DType::F64);
  Tensor y = rope(x, 0, p);
  // Row at position 0 is unrotated, so it is exactly mscale * x.
  auto yv = y.to_vector(), xv = x.to_vector();
  for (int64_t d = 0; d < 8; ++d) EXPECT_NEAR(yv[size_t(d)], 1.138629436111989 * xv[size_t(d)], 1e-14);
  p.original_length = 0;
  EXPECT_THROW(rope_frequencies(p, 8), Error);
}

TEST(RopeScaling, NoneOrFactorOneIsPlainRopeExactly) {
  Rng rng(9);
  Tensor x = Tensor::randn({2, 3, 11, 8}, rng, DType::F64);
  std::vector<double> plain = rope(x, 4, RopeParams{}).to_vector();
  for (auto s : {RopeScaling::None, RopeScaling::PI, RopeScaling::NTK, RopeScaling::YaRN}) {
    EXPECT_EQ(rope(x, 4, scaled(s, 1, 2048)).to_vector(), plain) << rope_scaling_name(s);
    EXPECT_EQ(rope_mscale(scaled(s, 1, 2048)), 1.0);
  }
  // Dynamic NTK at or below L_train is plain RoPE whatever the factor.
  EXPECT_EQ(rope(x, 4, scaled(RopeScaling::DynamicNTK, 8, 15)).to_vector(), plain);
  EXPECT_NE(rope(x, 4, scaled(RopeScaling::DynamicNTK, 8, 14)).to_vector(), plain);
}

TEST(RopeScaling, PiEqualsPlainRopeAtDividedPositions) {
  // Position p under PI with s = 2 is plain RoPE at p / 2: check at even positions.
  Rng rng(4);
  Tensor x = Tensor::randn({1, 1, 1, 8}, rng, DType::F64);
  EXPECT_CLOSE("pi", rope(x, 5, RopeParams{}), rope(x, 10, scaled(RopeScaling::PI, 2)), 1e-12);
}

TEST(RopeScaling, NamesRoundTripAndBadNamesAreErrors) {
  for (auto s : {RopeScaling::None, RopeScaling::PI, RopeScaling::NTK, RopeScaling::DynamicNTK, RopeScaling::YaRN})
    EXPECT_EQ(parse_rope_scaling(rope_scaling_name(s)), s);
  EXPECT_THROW(parse_rope_scaling("longrope"), Error);
}

}  // namespace
}  // namespace attnlab::position
