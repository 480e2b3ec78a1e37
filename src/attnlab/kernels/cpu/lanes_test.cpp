// The vectorisable row helpers against the standard library, computed in double.
#include "attnlab/kernels/cpu/lanes.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace attnlab::kernels {
namespace {

TEST(ExpLane, Float32WithinTwoUlpOfExpOverSoftmaxRange) {
  double worst = 0;
  for (int i = 0; i <= 200000; ++i) {
    float x = -87.0f + 87.0f * float(i) / 200000.0f;  // [-87, 0]: what softmax passes
    double ref = std::exp(double(x));
    double rel = std::abs(double(exp_lane(x)) - ref) / ref;
    worst = std::max(worst, rel);
  }
  EXPECT_LT(worst, 2.4e-7) << "2 ulp of float32 is 2.4e-7";
  for (float x : {0.5f, 1.0f, 10.0f, 50.0f, 88.0f})
    EXPECT_NEAR(exp_lane(x) / std::exp(double(x)), 1.0, 2.4e-7) << x;
}

TEST(ExpLane, Float32EdgeValues) {
  float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(exp_lane(-inf), 0.0f);
  EXPECT_EQ(exp_lane(-100.0f), 0.0f);
  EXPECT_EQ(exp_lane(0.0f), 1.0f);
  EXPECT_TRUE(std::isnan(exp_lane(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_EQ(exp_lane(88.5f), inf);
  EXPECT_EQ(exp_lane(inf), inf);
  EXPECT_EQ(exp_lane(-inf * 1.0), 0.0);  // the double overload is std::exp
}

TEST(LaneReductions, MatchPlainLoopsAtOddLengths) {
  for (int64_t n : {0, 1, 3, 15, 16, 17, 63, 127, 1000}) {
    std::vector<float> a(static_cast<size_t>(n)), b(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      a[size_t(i)] = float(std::sin(0.37 * double(i)) * 3.0);
      b[size_t(i)] = float(std::cos(0.11 * double(i)));
    }
    double s = 0, d = 0, m = -std::numeric_limits<double>::infinity();
    for (int64_t i = 0; i < n; ++i) {
      s += a[size_t(i)];
      d += double(a[size_t(i)]) * double(b[size_t(i)]);
      m = std::max(m, double(a[size_t(i)]));
    }
    EXPECT_NEAR(lane_sum(a.data(), n), s, 1e-5) << n;
    EXPECT_NEAR(lane_dot(a.data(), b.data(), n), d, 1e-5) << n;
    EXPECT_EQ(double(lane_max(a.data(), n)), m) << n;
  }
}

}  // namespace
}  // namespace attnlab::kernels
