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

}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
          const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
          int64_t ldc) {
  check_args(trans_a, trans_b, m, n, k, lda, ldb, ldc);
  if (m == 0 || n == 0) return;
  if (k == 0) return scale_c(m, n, beta, c, ldc);
  cblas_sgemm(CblasRowMajor, flag(trans_a), flag(trans_b), blasint(m), blasint(n), blasint(k),
              alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc));
}

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
          const double* a, int64_t lda, const double* b, int64_t ldb, double beta, double* c,
          int64_t ldc) {
  check_args(trans_a, trans_b, m, n, k, lda, ldb, ldc);
  if (m == 0 || n == 0) return;
  if (k == 0) return scale_c(m, n, beta, c, ldc);
  cblas_dgemm(CblasRowMajor, flag(trans_a), flag(trans_b), blasint(m), blasint(n), blasint(k),
              alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc));
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
