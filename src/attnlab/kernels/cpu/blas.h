// A thin wrapper over OpenBLAS's cblas (the OpenMP build, so BLAS and our parallel_for
// share one thread pool: specs/machine.md #7). Only this file includes cblas.h; the rest
// of attnlab, the CLI included, calls these functions.
//
// Threading: a call made inside one of our parallel regions runs single-threaded (the
// OpenMP build of OpenBLAS checks omp_in_parallel()); a call made outside uses
// num_threads() threads, for products large enough that OpenBLAS splits them.
#pragma once
#include <cstdint>
#include <string>

namespace attnlab::kernels::cpu {

// Row-major C = alpha * op(A) op(B) + beta * C, with op(X) = X or X^T.
//   op(A) is m x k, op(B) is k x n, C is m x n.
//   lda, ldb, ldc are the row strides (in elements) of A, B and C as stored: A stored
//   untransposed is m x k (lda >= k); A stored for trans_a is k x m (lda >= m).
//   beta = 0 overwrites C without reading it, so a fresh (NaN-poisoned) buffer is fine;
//   beta = 1 accumulates into C (backward passes summing over a broadcast batch).
// Sizes must fit BLAS's 32-bit integers; a bad size or leading dimension is an
// attnlab::Error naming gemm and the value, never an OpenBLAS message on stderr.
// m = 1 or n = 1 (a decoding step) goes to gemv, which OpenBLAS runs several times faster.
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
          const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
          int64_t ldc);
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
          const double* a, int64_t lda, const double* b, int64_t ldb, double beta, double* c,
          int64_t ldc);

// The kernel set OpenBLAS picked when it loaded, e.g. "Cooperlake" or "Haswell".
std::string blas_core_name();
// The value of OPENBLAS_CORETYPE in the environment, empty when unset. OpenBLAS reads it
// once when it loads; "Haswell" forces the AVX2 kernels at half the AVX-512 speed
// (specs/machine.md #2).
std::string blas_coretype_env();
// One line for benchmark headers: library and version, the core in use, the threading
// model, the thread count and whether OPENBLAS_CORETYPE overrides the core detection.
std::string blas_info();

}  // namespace attnlab::kernels::cpu
