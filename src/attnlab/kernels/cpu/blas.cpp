#include "attnlab/kernels/cpu/blas.h"

#include <cblas.h>

#include <algorithm>
#include <cstdlib>
#include <limits>

#include "attnlab/core/error.h"
#include "attnlab/core/parallel.h"

namespace attnlab::kernels::cpu {

namespace {

void check_fits(int64_t v, const char* what) {
  ATTNLAB_CHECK(v >= 0 && v <= std::numeric_limits<blasint>::max(), "gemm: ", what, " = ", v,
                " does not fit BLAS's 32-bit integer");
}

// cblas validates these too, but reports through xerbla on stderr and returns with C
// untouched; checking here turns a caller's mistake into an attnlab::Error instead. An
// empty product reads nothing, so then only C's stride matters.
void check_args(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, int64_t lda,
                int64_t ldb, int64_t ldc) {
  check_fits(m, "m");
  check_fits(n, "n");
  check_fits(k, "k");
  check_fits(lda, "lda");
  check_fits(ldb, "ldb");
  check_fits(ldc, "ldc");
  if (m == 0 || n == 0) return;
  ATTNLAB_CHECK(ldc >= std::max<int64_t>(1, n), "gemm: ldc = ", ldc, " is less than the ", n,
                " columns of C");
  if (k == 0) return;
  int64_t a_cols = trans_a ? m : k, b_cols = trans_b ? k : n;
  ATTNLAB_CHECK(lda >= std::max<int64_t>(1, a_cols), "gemm: lda = ", lda, " is less than the ",
                a_cols, " columns of A as stored", trans_a ? " (transposed)" : "");
  ATTNLAB_CHECK(ldb >= std::max<int64_t>(1, b_cols), "gemm: ldb = ", ldb, " is less than the ",
                b_cols, " columns of B as stored", trans_b ? " (transposed)" : "");
}

// k = 0: the product is empty, C = beta * C. Done here because BLAS's handling of the
// degenerate case (and of lda for it) is not something to rely on.
template <class T>
void scale_c(int64_t m, int64_t n, T beta, T* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i) {
    T* row = c + i * ldc;
    if (beta == T(0)) {
      for (int64_t j = 0; j < n; ++j) row[j] = T(0);
    } else if (beta != T(1)) {
      for (int64_t j = 0; j < n; ++j) row[j] *= beta;
    }
  }
}

CBLAS_TRANSPOSE flag(bool t) { return t ? CblasTrans : CblasNoTrans; }

void blas_gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, blasint m, blasint n, blasint k,
               float alpha, const float* a, blasint lda, const float* b, blasint ldb, float beta,
               float* c, blasint ldc) {
  cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
void blas_gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, blasint m, blasint n, blasint k,
               double alpha, const double* a, blasint lda, const double* b, blasint ldb,
               double beta, double* c, blasint ldc) {
  cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
void blas_gemv(CBLAS_TRANSPOSE t, blasint m, blasint n, float alpha, const float* a, blasint lda,
               const float* x, blasint incx, float beta, float* y, blasint incy) {
  cblas_sgemv(CblasRowMajor, t, m, n, alpha, a, lda, x, incx, beta, y, incy);
}
void blas_gemv(CBLAS_TRANSPOSE t, blasint m, blasint n, double alpha, const double* a,
               blasint lda, const double* x, blasint incx, double beta, double* y, blasint incy) {
  cblas_dgemv(CblasRowMajor, t, m, n, alpha, a, lda, x, incx, beta, y, incy);
}

template <class T>
void gemm_impl(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
               int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  check_args(trans_a, trans_b, m, n, k, lda, ldb, ldc);
  if (m == 0 || n == 0) return;
  if (k == 0) return scale_c(m, n, beta, c, ldc);
  // A single row or column is a matrix-vector product, and OpenBLAS 0.3.21's gemm does
  // not notice: its sgemm takes 6-10x longer than sgemv for 1 x 768 @ 768 x 2304 (the
  // shape of every decoding step). y is cleared first when beta = 0 so that NaN in a
  // fresh buffer cannot survive whatever gemv does with 0 * y.
  if (m == 1) {
    // y[1 x n] = x[1 x k] op(B): x is A's only row (or, for A stored k x 1, its column).
    if (beta == T(0)) std::fill(c, c + n, T(0));
    blas_gemv(trans_b ? CblasNoTrans : CblasTrans, blasint(trans_b ? n : k),
              blasint(trans_b ? k : n), alpha, b, blasint(ldb), a, blasint(trans_a ? lda : 1),
              beta, c, 1);
    return;
  }
  if (n == 1) {
    // y[m x 1] = op(A) x[k x 1]: x is B's only column (or, for B stored 1 x k, its row).
    if (beta == T(0))
      for (int64_t i = 0; i < m; ++i) c[i * ldc] = T(0);
    blas_gemv(trans_a ? CblasTrans : CblasNoTrans, blasint(trans_a ? k : m),
              blasint(trans_a ? m : k), alpha, a, blasint(lda), b, blasint(trans_b ? 1 : ldb),
              beta, c, blasint(ldc));
    return;
  }
  blas_gemm(flag(trans_a), flag(trans_b), blasint(m), blasint(n), blasint(k), alpha, a,
            blasint(lda), b, blasint(ldb), beta, c, blasint(ldc));
}

}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
          const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
          int64_t ldc) {
  gemm_impl(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
          const double* a, int64_t lda, const double* b, int64_t ldb, double beta, double* c,
          int64_t ldc) {
  gemm_impl(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

std::string blas_core_name() {
  const char* name = openblas_get_corename();
  return name ? name : "unknown";
}

std::string blas_coretype_env() {
  const char* v = std::getenv("OPENBLAS_CORETYPE");
  return v ? v : "";
}

std::string blas_info() {
  const char* config = openblas_get_config();
  int parallel = openblas_get_parallel();  // 0 sequential, 1 pthreads, 2 OpenMP
  const char* model = parallel == 2 ? "OpenMP" : parallel == 1 ? "pthreads" : "sequential";
  std::string env = blas_coretype_env();
  std::string env_note = env.empty()
                             ? "OPENBLAS_CORETYPE unset (core detected at load)"
                             : "OPENBLAS_CORETYPE=" + env + " (set in the environment: forces this core)";
  return cat("BLAS: core ", blas_core_name(), ", ", env_note, ", ", model, " threading, ",
             num_threads(), " thread(s); config: ", config ? config : "?");
}

}  // namespace attnlab::kernels::cpu
