#include "attnlab/ops/loss.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "attnlab/autograd/gradcheck.h"
#include "attnlab/core/parallel.h"
#include "harness/assert_close.h"

namespace attnlab::ops {
namespace {

using ::attnlab::testing::error_of;

using testing::kOddSizes;

// Targets in [0, V); when ignore_every > 0, rows n with n % ignore_every == 1 get `ignore`.
Tensor random_targets(Rng& rng, int64_t N, int64_t V, int64_t ignore_every, int32_t ignore = -100) {
  std::vector<int32_t> v(static_cast<size_t>(N));
  for (int64_t n = 0; n < N; ++n)
    v[size_t(n)] = (ignore_every > 0 && n % ignore_every == 1) ? ignore
                                                               : int32_t(rng.next_below(uint64_t(V)));
  return Tensor::from_vector(v, {N});
}

// The definition, as plain double loops: nll = -log_softmax(x)[t] per row.
struct CeRef {
  std::vector<double> nll;   // per row, 0 where ignored
  std::vector<double> dnll;  // d(nll[n])/dx[n, :] per row (softmax - onehot), 0 where ignored
  double mean = 0;           // over rows not ignored; 0 when all are
  int64_t count = 0;
};

CeRef ce_ref(const Tensor& logits, const Tensor& targets, int64_t ignore) {
  int64_t V = logits.size(-1), N = logits.numel() / V;
  std::vector<double> x = logits.to_vector(), t = targets.to_vector();
  CeRef r;
  r.nll.assign(size_t(N), 0.0);
  r.dnll.assign(size_t(N * V), 0.0);
  double total = 0;
  for (int64_t n = 0; n < N; ++n) {
    int64_t tn = int64_t(t[size_t(n)]);
    if (tn == ignore) continue;
    const double* row = x.data() + n * V;
    double m = row[0];
    for (int64_t j = 0; j < V; ++j) m = std::max(m, row[j]);
    double s = 0;
    for (int64_t j = 0; j < V; ++j) s += std::exp(row[j] - m);
    double log_softmax_t = row[tn] - m - std::log(s);
    r.nll[size_t(n)] = -log_softmax_t;
    for (int64_t j = 0; j < V; ++j)
      r.dnll[size_t(n * V + j)] = std::exp(row[j] - m) / s - (j == tn ? 1.0 : 0.0);
    total += r.nll[size_t(n)];
    r.count++;
  }
  r.mean = r.count ? total / double(r.count) : 0.0;
  return r;
}

// The expected gradient: row n of dnll scaled by row_scale[n].
Tensor scaled_rows(const std::vector<double>& dnll, const std::vector<double>& row_scale, const Shape& s) {
  std::vector<double> d = dnll;
  int64_t V = s.back();
  for (size_t i = 0; i < d.size(); ++i) d[i] *= row_scale[i / size_t(V)];
  return Tensor::from_vector(d, s);
}

class CrossEntropyTest : public ::testing::TestWithParam<DType> {};

TEST_P(CrossEntropyTest, MeanAndGradientMatchTheDoubleLoopAtOddSizes) {
  DType dt = GetParam();
  double tol = dt == DType::F32 ? 1e-6 : default_tolerance(dt);
  Rng rng(5);
  for (int64_t V : kOddSizes) {
    for (int64_t N : {int64_t(1), int64_t(3), int64_t(63), int64_t(127)}) {
      for (double spread : {1.0, 8.0}) {
        std::string what = cat("N=", N, " V=", V, " std ", spread, " ", dtype_name(dt));
        Tensor logits = Tensor::randn({N, V}, rng, dt, spread).set_requires_grad(true);
        Tensor targets = random_targets(rng, N, V, N > 1 ? 5 : 0);
        CeRef ref = ce_ref(logits, targets, -100);
        Tensor loss = cross_entropy(logits, targets);
        ASSERT_EQ(loss.shape(), Shape{});
        ASSERT_EQ(loss.dtype(), dt);
        EXPECT_NEAR(loss.item(), ref.mean, tol * std::max(1.0, std::abs(ref.mean))) << what;
        loss.backward(Tensor::full({}, 1.5, dt));
        std::vector<double> row_scale(size_t(N), 1.5 / double(ref.count));
        EXPECT_CLOSE("dlogits " + what, scaled_rows(ref.dnll, row_scale, {N, V}), logits.grad(), tol);
      }
    }
  }
}

TEST_P(CrossEntropyTest, PerTokenLossesAndGradientMatchTheDoubleLoop) {
  DType dt = GetParam();
  double tol = dt == DType::F32 ? 1e-6 : default_tolerance(dt);
  Rng rng(6);
  for (int64_t V : kOddSizes) {
    for (int64_t N : {int64_t(1), int64_t(63), int64_t(127)}) {
      std::string what = cat("N=", N, " V=", V, " ", dtype_name(dt));
      Tensor logits = Tensor::randn({N, V}, rng, dt, 3.0).set_requires_grad(true);
      Tensor targets = random_targets(rng, N, V, N > 1 ? 4 : 0, 7);
      CeRef ref = ce_ref(logits, targets, 7);
      Tensor losses = cross_entropy_per_token(logits, targets, 7);
      ASSERT_EQ(losses.shape(), Shape{N});
      EXPECT_CLOSE("losses " + what, Tensor::from_vector(ref.nll, {N}), losses, tol);
      Tensor g = Tensor::randn({N}, rng, dt);
      losses.backward(g);
      EXPECT_CLOSE("dlogits " + what, scaled_rows(ref.dnll, g.to_vector(), {N, V}), logits.grad(), tol);
    }
  }
}

TEST_P(CrossEntropyTest, LogitsOfPlusMinus1e4StayFiniteAndExact) {
  DType dt = GetParam();
  // Rows mixing +1e4, -1e4 and ordinary values; the target sits on each kind.
  std::vector<double> v = {1e4, -1e4, 0.5, 1e4 - 1.0,  // target 3: loss ~1.31
                           -1e4, -1e4, -1e4, -1e4,     // all equal: log 4
                           1e4, -1e4, 3.0, 0.0,        // target 1: loss 2e4
                           -1e4, 2.0, 1e4, 1e4};       // target 0: loss 2e4 + log 2
  Tensor logits = Tensor::from_vector(v, {4, 4}).to(dt).set_requires_grad(true);
  Tensor targets = Tensor::from_vector(std::vector<int32_t>{3, 2, 1, 0}, {4});
  CeRef ref = ce_ref(logits, targets, -100);
  Tensor losses = cross_entropy_per_token(logits.detach(), targets);
  EXPECT_CLOSE("losses", Tensor::from_vector(ref.nll, {4}), losses, default_tolerance(dt));
  Tensor loss = cross_entropy(logits, targets);
  EXPECT_NEAR(loss.item(), ref.mean, default_tolerance(dt) * ref.mean);
  loss.backward();
  std::vector<double> row_scale(4, 0.25);
  EXPECT_CLOSE("dlogits", scaled_rows(ref.dnll, row_scale, {4, 4}), logits.grad(), default_tolerance(dt));
}

INSTANTIATE_TEST_SUITE_P(Dtypes, CrossEntropyTest, ::testing::Values(DType::F32, DType::F64),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

TEST(CrossEntropy, GradientEqualsFiniteDifferences) {
  // The value against the plain loop is covered above; here the gradient against
  // central differences of the op itself, at an odd size with an ignored row.
  autograd::GradCase c{"cross_entropy", "[7, 63]",
                       [](Rng& r) {
                         return std::vector<Tensor>{
                             Tensor::randn({7, 63}, r, DType::F64, 2.0).set_requires_grad(true)};
                       },
                       [](const std::vector<Tensor>& x) {
                         Tensor t = Tensor::from_vector(std::vector<int32_t>{0, 62, -100, 31, 5, 5, 17}, {7});
                         return cross_entropy(x[0], t);
                       }};
  autograd::GradCheckResult r = autograd::gradcheck(c, 99);
  EXPECT_TRUE(r.passed) << r.detail;
  EXPECT_LT(r.max_rel_error, 1e-6);
}

TEST(CrossEntropy, Float32ProbabilitiesAreAccurateElementwiseOverTheExponentRange) {
  // Rows [0, x, x, ..., x] of width 33 with target 0: each x column's gradient is the
  // probability e^x / (1 + 32 e^x), and for x in [-87, 87] the kernel's exponential sees
  // every argument it is ever given, in vector lanes and in the scalar tail. A
  // relative-RMS check would hide errors in the small probabilities behind the large
  // ones, so each is checked on its own.
  const int64_t N = 4001, V = 33;
  std::vector<float> v(size_t(N * V));
  for (int64_t n = 0; n < N; ++n) {
    float x = float(-87.0 + 174.0 * double(n) / double(N - 1));
    v[size_t(n * V)] = 0.0f;
    for (int64_t j = 1; j < V; ++j) v[size_t(n * V + j)] = x;
  }
  Tensor logits = Tensor::from_vector(v, {N, V}).set_requires_grad(true);
  Tensor targets = Tensor::from_vector(std::vector<int32_t>(size_t(N), 0), {N});
  cross_entropy_per_token(logits, targets).backward(Tensor::full({N}, 1.0, DType::F32));
  std::vector<double> g = logits.grad().to_vector();
  double worst = 0;
  for (int64_t n = 0; n < N; ++n) {
    double x = double(v[size_t(n * V + 1)]);
    double p = 1.0 / (std::exp(-x) + double(V - 1));
    for (int64_t j = 1; j < V; ++j) worst = std::max(worst, std::abs(g[size_t(n * V + j)] - p) / p);
  }
  // The floor is the float rounding of the argument x - lse: half an ulp of numbers up
  // to 32 in size is 1.9e-6 (measured worst: 9.3e-7). exp's own error is ~1e-7.
  EXPECT_LT(worst, 2e-6);
}

TEST(CrossEntropy, LargeVocabularyRowsInFloat32) {
  // GPT-2's vocabulary: long rows exercise the vectorised exponential on many lanes.
  Rng rng(8);
  const int64_t N = 5, V = 50257;
  Tensor logits = Tensor::randn({N, V}, rng, DType::F32, 4.0).set_requires_grad(true);
  Tensor targets = random_targets(rng, N, V, 0);
  CeRef ref = ce_ref(logits, targets, -100);
  Tensor loss = cross_entropy(logits, targets);
  EXPECT_NEAR(loss.item(), ref.mean, 2e-5 * ref.mean);
  loss.backward();
  std::vector<double> row_scale(size_t(N), 1.0 / double(N));
  EXPECT_CLOSE("dlogits", scaled_rows(ref.dnll, row_scale, {N, V}), logits.grad(), 2e-5);
}

TEST(CrossEntropy, LeadingDimensionsAreFlattened) {
  Rng rng(9);
  Tensor logits = Tensor::randn({3, 5, 11}, rng, DType::F64).set_requires_grad(true);
  std::vector<int32_t> tv(15);
  for (int i = 0; i < 15; ++i) tv[size_t(i)] = (i * 4) % 11;
  Tensor t2 = Tensor::from_vector(tv, {3, 5}), t1 = Tensor::from_vector(tv, {15});
  CeRef ref = ce_ref(logits, t1, -100);
  EXPECT_NEAR(cross_entropy(logits.detach(), t2).item(), ref.mean, 1e-12);
  EXPECT_NEAR(cross_entropy(logits.detach(), t1).item(), ref.mean, 1e-12);
  Tensor per = cross_entropy_per_token(logits, t2);
  EXPECT_EQ(per.shape(), (Shape{3, 5}));  // the targets' shape
  EXPECT_CLOSE("per token", Tensor::from_vector(ref.nll, {3, 5}), per, 1e-12);
  per.backward(Tensor::full({3, 5}, 1.0, DType::F64));
  EXPECT_CLOSE("dlogits", scaled_rows(ref.dnll, std::vector<double>(15, 1.0), {3, 5, 11}),
               logits.grad(), 1e-12);
}

TEST(CrossEntropy, MeanOfPerTokenOverKeptRowsIsTheLoss) {
  Rng rng(10);
  Tensor logits = Tensor::randn({63, 127}, rng, DType::F64);
  Tensor targets = random_targets(rng, 63, 127, 3);
  std::vector<double> per = cross_entropy_per_token(logits, targets).to_vector();
  std::vector<double> t = targets.to_vector();
  double sum = 0;
  int count = 0;
  for (size_t n = 0; n < per.size(); ++n) {
    if (t[n] == -100) {
      EXPECT_EQ(per[n], 0.0);
      continue;
    }
    sum += per[n];
    count++;
  }
  EXPECT_EQ(count, 42);
  EXPECT_NEAR(cross_entropy(logits, targets).item(), sum / count, 1e-12);
}

TEST(CrossEntropy, EveryTargetIgnoredGivesZeroAndZeroGradient) {
  for (DType dt : {DType::F32, DType::F64}) {
    Rng rng(12);
    Tensor logits = Tensor::randn({3, 7}, rng, dt).set_requires_grad(true);
    Tensor targets = Tensor::from_vector(std::vector<int32_t>{-100, -100, -100}, {3});
    Tensor loss = cross_entropy(logits, targets);
    EXPECT_EQ(loss.item(), 0.0);
    loss.backward();
    EXPECT_EQ(logits.grad().to_vector(), std::vector<double>(21, 0.0));
    // Per token: all zero, zero gradient whatever flows back.
    Tensor l2 = Tensor::randn({3, 7}, rng, dt).set_requires_grad(true);
    Tensor per = cross_entropy_per_token(l2, targets);
    EXPECT_EQ(per.to_vector(), std::vector<double>(3, 0.0));
    per.backward(Tensor::full({3}, 2.0, dt));
    EXPECT_EQ(l2.grad().to_vector(), std::vector<double>(21, 0.0));
  }
}

TEST(CrossEntropy, IgnoredRowsMayHoldAnyLogitsAndGetZeroGradient) {
  // Row 1 is ignored and holds NaN: it must neither reach the loss nor other rows.
  Tensor logits = Tensor::from_vector(std::vector<double>{1, 2, 3, NAN, NAN, NAN}, {2, 3}).set_requires_grad(true);
  Tensor targets = Tensor::from_vector(std::vector<int32_t>{2, -1}, {2});
  Tensor loss = cross_entropy(logits, targets, -1);
  double lse = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  EXPECT_NEAR(loss.item(), lse - 3.0, 1e-14);
  loss.backward();
  std::vector<double> g = logits.grad().to_vector();
  EXPECT_EQ(std::vector<double>(g.begin() + 3, g.end()), std::vector<double>(3, 0.0));
}

TEST(CrossEntropy, NaNInAKeptRowGivesNaNNotGarbage) {
  // At positions in the vector lanes and in the scalar tail of a row of 37.
  for (int64_t at : {int64_t(3), int64_t(36)}) {
    for (DType dt : {DType::F32, DType::F64}) {
      std::vector<double> v(2 * 37, 0.5);
      v[size_t(37 + at)] = NAN;
      Tensor logits = Tensor::from_vector(v, {2, 37}).to(dt);
      Tensor targets = Tensor::from_vector(std::vector<int32_t>{1, 2}, {2});
      std::vector<double> per = cross_entropy_per_token(logits, targets).to_vector();
      EXPECT_NEAR(per[0], std::log(37.0), 1e-6);
      EXPECT_TRUE(std::isnan(per[1])) << "NaN at " << at << ", " << dtype_name(dt);
      EXPECT_TRUE(std::isnan(cross_entropy(logits, targets).item()));
    }
  }
}

TEST(CrossEntropy, ResultsAreTheSameForOneAndTwoThreads) {
  Rng rng(13);
  Tensor x = Tensor::randn({127, 1000}, rng, DType::F32);
  Tensor targets = random_targets(rng, 127, 1000, 5);
  std::vector<std::vector<double>> seen;
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    Tensor logits = x.clone().set_requires_grad(true);
    Tensor loss = cross_entropy(logits, targets);
    seen.push_back({loss.item()});
    loss.backward();
    seen.push_back(logits.grad().to_vector());
  }
  set_num_threads(0);
  EXPECT_EQ(seen[0], seen[2]);
  EXPECT_EQ(seen[1], seen[3]);
}

TEST(CrossEntropy, BadTargetsAreNamed) {
  Tensor logits = Tensor::zeros({4, 5});
  auto targets = [](std::vector<int32_t> v) { return Tensor::from_vector(v, {int64_t(v.size())}); };
  EXPECT_EQ(error_of([&] { cross_entropy(logits, targets({0, 1, 5, 2})); }),
            "cross_entropy: target 5 at row 2 is outside [0, 5) and is not ignore_index (-100)");
  EXPECT_EQ(error_of([&] { cross_entropy_per_token(logits, targets({0, -1, 0, 0})); }),
            "cross_entropy_per_token: target -1 at row 1 is outside [0, 5) and is not ignore_index (-100)");
  EXPECT_EQ(error_of([&] { cross_entropy(logits, targets({0, 1, 2, -100}), 3); }),
            "cross_entropy: target -100 at row 3 is outside [0, 5) and is not ignore_index (3)");
}

TEST(CrossEntropy, BadShapesAndDtypesAreNamed) {
  Tensor t4 = Tensor::from_vector(std::vector<int32_t>{0, 1, 2, 3}, {4});
  EXPECT_EQ(error_of([&] { cross_entropy(Tensor::zeros({4, 5}), Tensor::from_vector(std::vector<int32_t>{0, 1, 2}, {3})); }),
            "cross_entropy: targets have shape [3], expected [4] (one per row of logits [4, 5])");
  EXPECT_EQ(error_of([&] { cross_entropy(Tensor::zeros({2, 2, 5}), t4.view_raw({4, 1})); }),
            "cross_entropy: targets have shape [4, 1], expected [2, 2] or [4] (one per row of logits [2, 2, 5])");
  EXPECT_EQ(error_of([&] { cross_entropy(Tensor::zeros({4, 5}), Tensor::zeros({4})); }),
            "cross_entropy: targets must be int32, got float32");
  EXPECT_EQ(error_of([&] { cross_entropy(Tensor::zeros({4, 5}, DType::I32), t4); }),
            "cross_entropy: expected a float32 or float64 tensor, got int32");
  EXPECT_EQ(error_of([&] { cross_entropy(Tensor::zeros({4, 0}), t4); }),
            "cross_entropy: logits must be [..., V] with V >= 1, got shape [4, 0]");
  EXPECT_EQ(error_of([&] { cross_entropy(Tensor::zeros({}), t4); }),
            "cross_entropy: logits must be [..., V] with V >= 1, got shape []");
}

}  // namespace
}  // namespace attnlab::ops
