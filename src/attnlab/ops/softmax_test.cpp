// softmax and log_softmax against a double loop per row, at odd sizes and across the
// block boundary of the online maximum, with extreme and masked (-inf) logits.
#include "attnlab/ops/softmax.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "harness/assert_close.h"

namespace attnlab::ops {
namespace {

using ::attnlab::testing::error_of;

using testing::kOddSizes;
constexpr double kInf = std::numeric_limits<double>::infinity();

// The definition, in double: y = exp(x - max) / sum exp(x - max); a row of only -inf
// gives zeros (log_softmax: -inf).
Tensor ref_softmax(const Tensor& x, bool log) {
  int64_t C = x.shape().back(), rows = x.numel() / C;
  std::vector<double> v = x.to_vector(), out(v.size());
  for (int64_t r = 0; r < rows; ++r) {
    const double* xr = v.data() + r * C;
    double* yr = out.data() + r * C;
    double m = -kInf, s = 0;
    for (int64_t j = 0; j < C; ++j) m = std::max(m, xr[j]);
    if (m == -kInf) {
      for (int64_t j = 0; j < C; ++j) yr[j] = log ? -kInf : 0.0;
      continue;
    }
    for (int64_t j = 0; j < C; ++j) s += std::exp(xr[j] - m);
    for (int64_t j = 0; j < C; ++j) yr[j] = log ? xr[j] - m - std::log(s) : std::exp(xr[j] - m) / s;
  }
  return Tensor::from_vector(out, x.shape());
}

// dx from the Jacobian written out: softmax dy_i/dx_k = y_i (delta_ik - y_k);
// log_softmax dy_i/dx_k = delta_ik - p_k. O(C^2) per row, obviously right.
Tensor ref_backward(const Tensor& x, const Tensor& g, bool log) {
  int64_t C = x.shape().back(), rows = x.numel() / C;
  std::vector<double> p = ref_softmax(x, false).to_vector(), gv = g.to_vector(), dx(p.size(), 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < C; ++k) {
      double acc = 0;
      for (int64_t i = 0; i < C; ++i) {
        double delta = i == k ? 1.0 : 0.0;
        double pi = p[size_t(r * C + i)], pk = p[size_t(r * C + k)];
        acc += gv[size_t(r * C + i)] * (log ? delta - pk : pi * (delta - pk));
      }
      dx[size_t(r * C + k)] = acc;
    }
  return Tensor::from_vector(dx, x.shape());
}

double tol(DType t) { return t == DType::F64 ? 1e-12 : 2e-6; }

using Fn = Tensor (*)(const Tensor&);
struct Case {
  const char* name;
  Fn fn;
  bool log;
};
const Case kCases[] = {{"softmax", softmax, false}, {"log_softmax", log_softmax, true}};

TEST(Softmax, MatchesReferenceAtOddSizes) {
  Rng rng(1);
  for (const Case& c : kCases)
    for (DType dt : {DType::F32, DType::F64})
      for (int64_t rows : {1, 5})
        for (int64_t C : kOddSizes) {
          Tensor x = Tensor::randn({rows, C}, rng, dt, 3.0);
          std::string name = std::string(c.name) + " [" + std::to_string(rows) + ", " + std::to_string(C) + "] " +
                             dtype_name(dt);
          EXPECT_CLOSE(name, ref_softmax(x, c.log), c.fn(x), tol(dt));
        }
}

// Rows longer than one block (2048) combine blocks with the running maximum: the maximum
// rising in a later block, falling, and a whole block of -inf.
TEST(Softmax, RowsSpanningSeveralBlocks) {
  Rng rng(2);
  for (const Case& c : kCases)
    for (DType dt : {DType::F32, DType::F64})
      for (int64_t C : {2047, 2048, 2049, 5000}) {
        Tensor x = Tensor::randn({4, C}, rng, dt, 4.0);
        std::vector<double> v = x.to_vector();
        for (int64_t j = 0; j < C; ++j) {
          v[size_t(0 * C + j)] = 0.01 * double(j);          // rising: every block raises the max
          v[size_t(1 * C + j)] = -0.01 * double(j);         // falling
          if (j < 2048) v[size_t(2 * C + j)] = -kInf;       // first block fully masked
        }
        Tensor xs = Tensor::from_vector(v, {4, C}).to(dt);
        std::string name = std::string(c.name) + " C=" + std::to_string(C) + " " + dtype_name(dt);
        Tensor y = c.fn(xs);
        EXPECT_CLOSE(name, ref_softmax(xs, c.log), y, tol(dt));
        std::vector<double> yv = y.to_vector();
        for (int64_t j = 0; j < std::min<int64_t>(C, 2048); ++j)  // compare() skips reference -inf
          ASSERT_EQ(yv[size_t(2 * C + j)], c.log ? -kInf : 0.0) << name << " masked entry " << j;
      }
}

TEST(Softmax, HugeLogitsStayFinite) {
  Rng rng(3);
  for (const Case& c : kCases)
    for (DType dt : {DType::F32, DType::F64})
      for (double scale : {1e4, -1e4, 1e30}) {
        Tensor x = Tensor::randn({3, 127}, rng, DType::F64, 1.0);
        std::vector<double> v = x.to_vector();
        for (double& e : v) e = scale + (dt == DType::F32 ? 1e-3 : 1e-9) * std::abs(scale) * e;
        Tensor xs = Tensor::from_vector(v, {3, 127}).to(dt);
        Tensor y = c.fn(xs);
        for (double e : y.to_vector()) ASSERT_TRUE(std::isfinite(e)) << c.name << " scale " << scale;
        EXPECT_CLOSE(std::string(c.name) + " scale " + std::to_string(scale), ref_softmax(xs, c.log), y, tol(dt));
      }
}

TEST(Softmax, AllMaskedButOneIsOneHot) {
  for (DType dt : {DType::F32, DType::F64}) {
    std::vector<double> v(63, -kInf);
    v[17] = -3.5;
    Tensor x = Tensor::from_vector(v, {1, 63}).to(dt);
    std::vector<double> y = softmax(x).to_vector(), ly = log_softmax(x).to_vector();
    for (int j = 0; j < 63; ++j) {
      EXPECT_EQ(y[size_t(j)], j == 17 ? 1.0 : 0.0) << j;
      EXPECT_EQ(ly[size_t(j)], j == 17 ? 0.0 : -kInf) << j;
    }
  }
}

// A fully masked attention row: zeros, no NaN, and a zero gradient; the row beside it is
// unaffected.
TEST(Softmax, FullyMaskedRowGivesZerosAndZeroGradient) {
  Rng rng(4);
  for (DType dt : {DType::F32, DType::F64})
    for (int64_t C : {1, 63, 3000}) {
      std::vector<double> v = Tensor::randn({2, C}, rng, DType::F64).to_vector();
      for (int64_t j = 0; j < C; ++j) v[size_t(j)] = -kInf;
      Tensor x = Tensor::from_vector(v, {2, C}).to(dt).set_requires_grad(true);
      Tensor y = softmax(x);
      std::vector<double> yv = y.to_vector();
      for (int64_t j = 0; j < C; ++j) EXPECT_EQ(yv[size_t(j)], 0.0);
      EXPECT_CLOSE("masked row neighbour", ref_softmax(x.detach(), false), y, tol(dt));
      y.backward(Tensor::randn({2, C}, rng, dt));
      std::vector<double> gx = x.grad().to_vector();
      for (int64_t j = 0; j < C; ++j) EXPECT_EQ(gx[size_t(j)], 0.0);
      for (double e : gx) EXPECT_TRUE(std::isfinite(e));

      Tensor xl = x.detach().clone().set_requires_grad(true);
      Tensor ly = log_softmax(xl);
      std::vector<double> lyv = ly.to_vector();
      for (int64_t j = 0; j < C; ++j) EXPECT_EQ(lyv[size_t(j)], -kInf);
      for (int64_t j = C; j < 2 * C; ++j) EXPECT_TRUE(std::isfinite(lyv[size_t(j)]));
      Tensor gl = Tensor::randn({2, C}, rng, dt);
      ly.backward(gl);
      std::vector<double> glv = gl.to_vector(), dl = xl.grad().to_vector();
      for (int64_t j = 0; j < C; ++j) EXPECT_EQ(dl[size_t(j)], glv[size_t(j)]);  // zero probabilities: dx = g
      for (double e : dl) EXPECT_TRUE(std::isfinite(e));
    }
}

// Bad input is not hidden: NaN or +inf in a row makes that row NaN.
TEST(Softmax, NanAndPositiveInfinityPropagate) {
  for (const Case& c : kCases)
    for (double bad : {std::numeric_limits<double>::quiet_NaN(), kInf}) {
      std::vector<double> v{1.0, 2.0, bad, 0.5, 3.0, 1.0, 2.0, 0.0};
      Tensor y = c.fn(Tensor::from_vector(v, {2, 4}).to(DType::F32));
      std::vector<double> yv = y.to_vector();
      bool any_nan = false;
      for (int j = 0; j < 4; ++j) any_nan |= std::isnan(yv[size_t(j)]);
      EXPECT_TRUE(any_nan) << c.name << " with " << bad;
      for (int j = 4; j < 8; ++j) EXPECT_TRUE(std::isfinite(yv[size_t(j)]));
    }
  // A whole block of NaN must not read as "masked".
  std::vector<double> v(8, std::numeric_limits<double>::quiet_NaN());
  for (double e : softmax(Tensor::from_vector(v, {1, 8})).to_vector()) EXPECT_TRUE(std::isnan(e));
}

TEST(Softmax, BackwardMatchesJacobian) {
  Rng rng(5);
  for (const Case& c : kCases)
    for (DType dt : {DType::F32, DType::F64})
      for (int64_t C : {1, 3, 63, 127, 1000, 2100}) {
        Tensor x = Tensor::randn({3, C}, rng, dt, 2.0).set_requires_grad(true);
        Tensor g = Tensor::randn({3, C}, rng, dt);
        c.fn(x).backward(g);
        std::string name = std::string(c.name) + " grad C=" + std::to_string(C) + " " + dtype_name(dt);
        // float32: the gradient is a small difference of O(1) terms.
        EXPECT_CLOSE(name, ref_backward(x.detach(), g, c.log), x.grad(), dt == DType::F64 ? 1e-11 : 1e-5);
      }
}

TEST(Softmax, LeadingDimensionsAndStridedInput) {
  Rng rng(6);
  Tensor x = Tensor::randn({2, 3, 5, 7}, rng, DType::F64);
  EXPECT_CLOSE("4-d", ref_softmax(x, false), softmax(x), 1e-13);
  Tensor xt = x.transpose_raw(2, 3);  // rows over the old dimension 2
  EXPECT_CLOSE("transposed", ref_softmax(xt, true), log_softmax(xt), 1e-13);
  Tensor one = Tensor::from_vector(std::vector<double>{4.0, 1.0}, {2});
  EXPECT_CLOSE("1-d", ref_softmax(one, false), softmax(one), 1e-15);
}

TEST(Softmax, BadArguments) {
  Tensor scalar = Tensor::zeros({}, DType::F32);
  EXPECT_NE(error_of([&] { softmax(scalar); }).find("softmax: expected a tensor with at least one dimension"),
            std::string::npos);
  Tensor ids = Tensor::from_vector(std::vector<int32_t>{1, 2}, {2});
  EXPECT_NE(error_of([&] { log_softmax(ids); }).find("log_softmax: expected a float32 or float64 tensor, got int32"),
            std::string::npos);
  Tensor y = Tensor::zeros({2, 3}, DType::F32);
  EXPECT_NE(error_of([&] { softmax_backward(y, Tensor::zeros({3, 2}, DType::F32)); })
                .find("softmax_backward: gradient of shape [3, 2] for an output of shape [2, 3]"),
            std::string::npos);
  EXPECT_NE(error_of([&] { log_softmax_backward(y, Tensor::zeros({2, 3}, DType::F64)); })
                .find("log_softmax_backward: gradient is float64, the output is float32"),
            std::string::npos);
}

}  // namespace
}  // namespace attnlab::ops
