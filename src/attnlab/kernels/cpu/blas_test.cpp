// The BLAS wrapper against a plain loop: every transpose combination with padded
// leading dimensions, alpha and beta (beta = 0 must not read C, beta = 1 accumulates),
// the empty product, bad arguments, and blas_info().
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "attnlab/core/error.h"
#include "attnlab/core/rng.h"
#include "attnlab/kernels/cpu/blas.h"

namespace attnlab::kernels::cpu {
namespace {

// C = alpha * op(A) op(B) + beta * C in double, reading the same padded layouts as gemm.
// `bound` gets the same sum over absolute values: the scale of the rounding error, so a
// result that cancels to near zero is judged against the size of what was summed.
template <class T>
void ref_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha,
              const std::vector<T>& a, int64_t lda, const std::vector<T>& b, int64_t ldb,
              double beta, std::vector<double>& c, std::vector<double>& bound, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0, s_abs = 0;
      for (int64_t p = 0; p < k; ++p) {
        double x = ta ? a[size_t(p * lda + i)] : a[size_t(i * lda + p)];
        double y = tb ? b[size_t(j * ldb + p)] : b[size_t(p * ldb + j)];
        s += x * y;
        s_abs += std::abs(x * y);
      }
      double& out = c[size_t(i * ldc + j)];
      double old = beta == 0 ? 0.0 : beta * out;
      bound[size_t(i * ldc + j)] = std::abs(alpha) * s_abs + std::abs(old);
      out = alpha * s + old;
    }
}

// Every transpose combination and beta, with padded leading dimensions, for op(A) m x k
// and op(B) k x n.
template <class T>
void check_all_layouts(int64_t m, int64_t n, int64_t k, double tol) {
  Rng rng(3);
  const int64_t pad = 5;
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (double beta : {0.0, 1.0, -0.5}) {
        int64_t lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
        std::vector<T> a(size_t((ta ? k : m) * lda)), b(size_t((tb ? n : k) * ldb));
        std::vector<T> c(size_t(m * ldc));
        rng.fill_normal(a.data(), int64_t(a.size()), T(0), T(1));
        rng.fill_normal(b.data(), int64_t(b.size()), T(0), T(1));
        rng.fill_normal(c.data(), int64_t(c.size()), T(0), T(1));
        if (beta == 0) std::fill(c.begin(), c.end(), std::numeric_limits<T>::quiet_NaN());
        std::vector<double> want(c.begin(), c.end()), bound(c.size(), 0.0);
        ref_gemm(ta, tb, m, n, k, 0.75, a, lda, b, ldb, beta, want, bound, ldc);
        gemm(ta, tb, m, n, k, T(0.75), a.data(), lda, b.data(), ldb, T(beta), c.data(), ldc);
        double worst = 0;  // NaN stays NaN and fails the comparison
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) {  // the padding columns are not compared
            size_t at = size_t(i * ldc + j);
            double e = std::abs(double(c[at]) - want[at]) / std::max(bound[at], 1e-300);
            worst = std::isnan(e) || std::isnan(worst) ? NAN : std::max(worst, e);
          }
        EXPECT_LE(worst, tol) << m << "x" << k << "x" << n << " trans_a " << ta << " trans_b "
                              << tb << " beta " << beta;
      }
}

TEST(Blas, FloatGemmMatchesReferenceForEveryLayout) { check_all_layouts<float>(63, 127, 3, 1e-6); }
TEST(Blas, DoubleGemmMatchesReferenceForEveryLayout) { check_all_layouts<double>(63, 127, 3, 1e-14); }

// One row or one column goes to gemv: the same layouts must hold there.
TEST(Blas, SingleRowAndColumnMatchReference) {
  for (auto [m, n] : {std::pair<int64_t, int64_t>{1, 127}, {63, 1}, {1, 1}}) {
    check_all_layouts<float>(m, n, 1000, 1e-6);
    check_all_layouts<double>(m, n, 63, 1e-14);
  }
}

TEST(Blas, EmptyInnerDimensionScalesC) {
  std::vector<float> c(6, std::numeric_limits<float>::quiet_NaN());
  gemm(false, false, 2, 3, 0, 1.0f, nullptr, 1, nullptr, 3, 0.0f, c.data(), 3);
  for (float v : c) EXPECT_EQ(v, 0.0f);
  std::vector<double> d(6, 2.0);
  gemm(false, false, 2, 3, 0, 1.0, nullptr, 1, nullptr, 3, 0.5, d.data(), 3);
  for (double v : d) EXPECT_EQ(v, 1.0);
}

TEST(Blas, BadLeadingDimensionIsAnError) {
  std::vector<float> a(12), b(12), c(9);
  try {
    gemm(false, false, 3, 3, 4, 1.0f, a.data(), 3, b.data(), 3, 0.0f, c.data(), 3);
    ADD_FAILURE() << "no error for lda 3 < k 4";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("gemm: lda = 3 is less than the 4 columns of A"), std::string::npos) << e.what();
  }
  EXPECT_THROW(gemm(false, false, int64_t(1) << 32, 1, 1, 1.0f, a.data(), 1, b.data(), 1, 0.0f,
                    c.data(), 1),
               Error);
}

TEST(Blas, InfoNamesTheCoreAndTheEnvironmentOverride) {
  std::string info = blas_info();
  EXPECT_FALSE(blas_core_name().empty());
  EXPECT_NE(info.find("core " + blas_core_name()), std::string::npos) << info;
  EXPECT_NE(info.find("OPENBLAS_CORETYPE"), std::string::npos) << info;
  EXPECT_NE(info.find("OpenMP"), std::string::npos) << info;
}

}  // namespace
}  // namespace attnlab::kernels::cpu
