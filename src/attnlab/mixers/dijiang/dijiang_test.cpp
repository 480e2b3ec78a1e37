// What only DiJiang has: the frozen feature matrix P = C diag(w) (orthogonal columns,
// regenerated identically from the seed and layer), the released D1/D2 parametrisation
// equal to the stable decay where it is defined, its error past the trained positions,
// and its float32 overflow where the stable form stays finite (the NaNs of issue #4).
#include <gtest/gtest.h>

#include <cmath>

#include "attnlab/autograd/node.h"
#include "attnlab/mixers/dijiang/dijiang.h"
#include "harness/assert_close.h"
#include "harness/mixer_fixture.h"

namespace attnlab::mixers {
namespace {

using ::attnlab::testing::build_mixer;
using ::attnlab::testing::error_of;

Tensor run(::attnlab::testing::BuiltMixer& b, const Tensor& x) {
  autograd::NoGradGuard no_grad;
  return b.mixer->forward(x, Form::Parallel, nullptr);
}

int64_t non_finite(const Tensor& t) {
  int64_t n = 0;
  for (double y : t.to_vector()) n += !std::isfinite(y);
  return n;
}

TEST(Dijiang, FeatureMatrixHasOrthogonalColumnsScaledByTheFrequencies) {
  for (const char* features : {"random", "qmc"}) {
    const int64_t D = 12;
    std::vector<double> P = dijiang_feature_matrix(D, features, 5, 2);
    // (P^T P)[n][m] = w_n w_m (C^T C)[n][m] = delta_nm w_n^2: off-diagonals vanish.
    double off = 0, diag = 0;
    for (int64_t n = 0; n < D; ++n)
      for (int64_t m = 0; m < D; ++m) {
        double s = 0;
        for (int64_t k = 0; k < D; ++k) s += P[size_t(k * D + n)] * P[size_t(k * D + m)];
        (n == m ? diag : off) += std::abs(s);
      }
    EXPECT_LT(off, 1e-12 * diag) << features;
    EXPECT_EQ(P, dijiang_feature_matrix(D, features, 5, 2)) << "regenerated identically";
    EXPECT_NE(P, dijiang_feature_matrix(D, features, 5, 3)) << "another layer draws other frequencies";
  }
}

TEST(Dijiang, GammasFollowTheReleasedSchedule) {
  std::vector<double> g = dijiang_gammas(8);
  EXPECT_NEAR(g.front(), 1 - 1.0 / 32, 1e-15);
  EXPECT_NEAR(g.back(), 1 - 1.0 / 512, 1e-15);
  for (size_t h = 1; h < g.size(); ++h) EXPECT_GT(g[h], g[h - 1]);
}

// D1[i] D2[j] = gamma^i gamma^-j = gamma^(i-j) at initialisation: the same model as the
// stable fixed decay within the trained positions. (The weights match: the decay factors
// are declared last, so the other parameters get the same values from the same seed.)
TEST(Dijiang, OriginalDecayEqualsTheStableOneWithinTrainedPositions) {
  Rng rng(1);
  Tensor x = Tensor::randn({2, 300, 24}, rng, DType::F64);
  auto stable = build_mixer("dijiang", {"decay_learnable=false"}, 24, DType::F64, 9);
  auto original = build_mixer("dijiang", {"decay=original", "original_positions=512"}, 24, DType::F64, 9);
  EXPECT_CLOSE("original vs stable", run(*stable, x), run(*original, x), 1e-9);
}

TEST(Dijiang, OriginalDecayStopsPastItsPositionsWithOneClearError) {
  auto original = build_mixer("dijiang", {"decay=original"}, 24, DType::F32, 9);
  Rng rng(2);
  Tensor x = Tensor::randn({1, 2049, 24}, rng, DType::F32);
  std::string e = error_of([&] { run(*original, x); });
  EXPECT_NE(e.find("2048 positions (model.mixer.original_positions)"), std::string::npos) << e;
  EXPECT_NE(e.find("reaches position 2049"), std::string::npos) << e;
  // And through a state: 2040 tokens, then 9 more.
  autograd::NoGradGuard no_grad;
  auto state = original->mixer->make_state();
  original->mixer->forward(x.slice_raw(1, 0, 2040).contiguous(), Form::Recurrent, state.get());
  e = error_of([&] { original->mixer->forward(x.slice_raw(1, 2040, 2049).contiguous(), Form::Recurrent, state.get()); });
  EXPECT_NE(e.find("reaches position 2049"), std::string::npos) << e;
}

// Issue #4: stretched to 6,000 positions in float32, gamma^-j overflows (inf) and gamma^i
// underflows (0) for the fast heads, so the released parametrisation returns NaN; the
// stable decay gamma^(i-j) stays finite on the same input and weights.
TEST(Dijiang, OriginalOverflowsInFloat32WhereTheStableFormStaysFinite) {
  Rng rng(3);
  Tensor x = Tensor::randn({1, 6000, 24}, rng, DType::F32);
  auto original = build_mixer("dijiang", {"decay=original", "original_positions=6000"}, 24, DType::F32, 9);
  auto stable = build_mixer("dijiang", {"decay_learnable=false"}, 24, DType::F32, 9);
  Tensor o = run(*original, x), s = run(*stable, x);
  EXPECT_GT(non_finite(o), 0) << "the original form was expected to overflow";
  EXPECT_EQ(non_finite(s), 0);
  // Within the first 2,000 positions both are finite and agree.
  EXPECT_CLOSE("first 2000 positions", s.slice_raw(1, 0, 2000), o.slice_raw(1, 0, 2000), 1e-3);
}

}  // namespace
}  // namespace attnlab::mixers
