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

// ---- slope scaling (factor a = 2); the expected numbers are worked out by hand ----
void expect_slopes(const std::vector<double>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-15) << "head " << i;
}

TEST(AlibiScaling, NoneAndFactorOneLeaveSlopesAlone) {
  for (int64_t h : {1, 6, 8, 12, 16}) {
    expect_slopes(alibi_scaled_slopes(h, AlibiScaling::None, 4.0), alibi_slopes(h));
    expect_slopes(alibi_scaled_slopes(h, AlibiScaling::Ntk, 1.0), alibi_slopes(h));
    expect_slopes(alibi_scaled_slopes(h, AlibiScaling::Interpolate, 1.0), alibi_slopes(h));
  }
}

TEST(AlibiScaling, InterpolationHalvesEverySlope) {
  // H = 6: 2^-2, 2^-4, 2^-6, 2^-8, then 2^-1, 2^-3 (every other of the 8-head set), all / 2.
  expect_slopes(alibi_scaled_slopes(6, AlibiScaling::Interpolate, 2.0),
                {0.125, 0.03125, 0.0078125, 0.001953125, 0.25, 0.0625});
  // H = 8: 2^-h / 2 = 2^-(h+1).
  expect_slopes(alibi_scaled_slopes(8, AlibiScaling::Interpolate, 2.0),
                {0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125, 0.00390625, 0.001953125});
  // H = 12: 2^-(h+1) for the first 8, then 2^-1.5, 2^-2.5, 2^-3.5, 2^-4.5.
  expect_slopes(alibi_scaled_slopes(12, AlibiScaling::Interpolate, 2.0),
                {0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125, 0.00390625, 0.001953125,
                 0.35355339059327379, 0.17677669529663689, 0.088388347648318447, 0.044194173824159223});
  // H = 16: 2^-(h/2) / 2 = 2^-(h/2 + 1).
  std::vector<double> want16;
  for (int h = 1; h <= 16; ++h) want16.push_back(std::pow(2.0, -0.5 * h - 1.0));
  expect_slopes(alibi_scaled_slopes(16, AlibiScaling::Interpolate, 2.0), want16);
}

TEST(AlibiScaling, NtkPowerOfTwoIsTheClosedForm) {
  // m_h = 2^(-8h/H) / a^((h-1)/(H-1)), e.g. H = 8, h = 2: 2^-2 / 2^(1/7) = 0.226430916...
  expect_slopes(alibi_scaled_slopes(8, AlibiScaling::Ntk, 2.0),
                {0.5, 0.22643091606597668, 0.10254191950095475, 0.046437321535529638,
                 0.021029690509880565, 0.0095235441734724639, 0.00431284966278833, 0.001953125});
  // H = 16, h = 4: 2^-2 / 2^(3/15) = 0.217637640...
  expect_slopes(alibi_scaled_slopes(16, AlibiScaling::Ntk, 2.0),
                {0.70710678118654757, 0.47742080195520825, 0.32234257710989483, 0.21763764082403103,
                 0.14694348828545109, 0.09921256574801246, 0.066985841408518335, 0.045227163670011818,
                 0.030536249013570185, 0.020617311105826475, 0.013920292470942803, 0.0093986330943915362,
                 0.0063457218465330905, 0.0042844725769321324, 0.0028927686568096956, 0.001953125});
  for (int64_t H : {2, 4, 8, 16, 32})
    for (double a : {1.5, 2.0, 8.0}) {
      auto got = alibi_scaled_slopes(H, AlibiScaling::Ntk, a);
      for (int64_t h = 1; h <= H; ++h)
        EXPECT_NEAR(got[size_t(h - 1)],
                    std::pow(2.0, -8.0 * double(h) / double(H)) / std::pow(a, double(h - 1) / double(H - 1)),
                    1e-15);
    }
}

TEST(AlibiScaling, NtkOtherHeadCountsScaleByRank) {
  // H = 6: slopes 2^-2, 2^-4, 2^-6, 2^-8, 2^-1, 2^-3 have ranks 1, 3, 4, 5, 0, 2, so they
  // are divided by 2^(1/5), 2^(3/5), 2^(4/5), 2, 1, 2^(2/5): 0.25 / 1.148698... = 0.217637...
  expect_slopes(alibi_scaled_slopes(6, AlibiScaling::Ntk, 2.0),
                {0.21763764082403103, 0.041234622211652951, 0.0089742058984143367, 0.001953125, 0.5,
                 0.094732285406899888});
  // H = 12: ranks 1, 3, 5, 7, 8, 9, 10, 11, 0, 2, 4, 6 (divisors 2^(rank/11)).
  expect_slopes(alibi_scaled_slopes(12, AlibiScaling::Ntk, 2.0),
                {0.46946545533085315, 0.20693831997120271, 0.091217506605090398, 0.040208278062794749,
                 0.018876397568819491, 0.0088618165796520518, 0.0041603167556248542, 0.001953125,
                 0.70710678118654757, 0.31168957732122271, 0.13739140281989806, 0.060561529618828908});
}

TEST(AlibiScaling, NtkRankRuleIsMonotoneAndKeepsTheEnds) {
  for (int64_t H : {3, 5, 6, 7, 12, 16, 24})
    for (double a : {2.0, 16.0}) {
      auto base = alibi_slopes(H), got = alibi_scaled_slopes(H, AlibiScaling::Ntk, a);
      size_t hi = 0, lo = 0;
      for (size_t i = 0; i < base.size(); ++i) {
        if (base[i] > base[hi]) hi = i;
        if (base[i] < base[lo]) lo = i;
        // the order of the slopes is kept, and each is divided by a factor in [1, a]
        for (size_t j = 0; j < base.size(); ++j)
          if (base[i] > base[j]) {
            EXPECT_GT(got[i], got[j]) << "H " << H;
          }
        EXPECT_LE(got[i], base[i]);
        EXPECT_GE(got[i], base[i] / a * (1 - 1e-15));
      }
      EXPECT_DOUBLE_EQ(got[hi], base[hi]);
      EXPECT_NEAR(got[lo], base[lo] / a, 1e-15 * base[lo]);
      // larger slopes are divided by less: the divisor grows with rank
      for (size_t i = 0; i < base.size(); ++i)
        for (size_t j = 0; j < base.size(); ++j)
          if (base[i] > base[j]) {
            EXPECT_LE(base[i] / got[i], base[j] / got[j] * (1 + 1e-15));
          }
    }
  expect_slopes(alibi_scaled_slopes(1, AlibiScaling::Ntk, 4.0), {1.0 / 256.0});
}

TEST(AlibiScaling, DynamicFactorAndBadInput) {
  EXPECT_DOUBLE_EQ(alibi_dynamic_factor(64, 128), 1.0);
  EXPECT_DOUBLE_EQ(alibi_dynamic_factor(128, 128), 1.0);
  EXPECT_DOUBLE_EQ(alibi_dynamic_factor(512, 128), 4.0);
  EXPECT_DOUBLE_EQ(alibi_dynamic_factor(200, 128), 1.5625);
  EXPECT_DOUBLE_EQ(alibi_dynamic_factor(64, 128, 4.0), 2.0);  // a0 = 4
  EXPECT_DOUBLE_EQ(alibi_dynamic_factor(16, 128, 4.0), 1.0);
  EXPECT_THROW(alibi_dynamic_factor(10, 0), Error);
  EXPECT_THROW(alibi_scaled_slopes(4, AlibiScaling::Ntk, 0.5), Error);
  EXPECT_EQ(parse_alibi_scaling("ntk"), AlibiScaling::Ntk);
  EXPECT_THROW(parse_alibi_scaling("yarn"), Error);
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
