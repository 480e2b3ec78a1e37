// The hot loops of the fused attention kernel (attention_fused.cpp) — the tile product,
// the row exponential, the row maximum and decoding's dot products — built three times,
// for AVX-512, AVX2+FMA and plain scalar code, and chosen once at run time for the CPU
// the program runs on.
//
// The three builds come from one source, attention_tiles_impl.h, compiled with different
// target options (attention_tiles_{avx512,avx2,scalar}.cpp), so there is no second copy
// of the arithmetic to keep in step. Everything else in the attention kernel (masking,
// biases, the online softmax bookkeeping) is compiled once, for the build's target.
//
// ATTNLAB_KERNELS=avx512|avx2|scalar forces a set (an unsupported or unknown name is an
// error naming the sets this CPU supports); tests call set_kernel_set to run every set
// the machine supports against the reference.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace attnlab::kernels {

enum class KernelSet { scalar, avx2, avx512 };

const char* kernel_set_name(KernelSet s);  // "scalar", "avx2", "avx512"
// Compiled into this binary and supported by this CPU.
bool kernel_set_supported(KernelSet s);
std::vector<KernelSet> supported_kernel_sets();  // widest first
// The set in use: ATTNLAB_KERNELS when set (checked on first use), else the widest supported.
KernelSet active_kernel_set();
// Switches every later attention call to `s`; an error if this CPU cannot run it.
void set_kernel_set(KernelSet s);
// One line for `--version` and benchmark headers, e.g. "avx512 (run-time choice of avx512,
// avx2, scalar; ATTNLAB_KERNELS unset)".
std::string kernel_set_info();

// Function table of one set, for float or double.
template <class T>
struct TileOps {
  // C[m][n] += sum_k A(m, k) B[k][n], A(m, k) = a[m * ars + k * aks] (A may be read
  // transposed); B and C row-major with row strides ldb and ldc.
  void (*product_acc)(int64_t M, int64_t N, int64_t K, const T* a, int64_t ars, int64_t aks,
                      const T* b, int64_t ldb, T* c, int64_t ldc);
  // The same with C = A B: C is only written (no zero fill needed).
  void (*product)(int64_t M, int64_t N, int64_t K, const T* a, int64_t ars, int64_t aks,
                  const T* b, int64_t ldb, T* c, int64_t ldc);
  // s[j] = exp(s[j] - shift) for j in [a, e); returns their sum.
  T (*exp_row)(T* s, int64_t a, int64_t e, T shift);
  // max(init, s[a..e)).
  T (*row_max)(const T* s, int64_t a, int64_t e, T init);
  // out[j] = q . k_j for the n key rows k + j * ldk (length D): decoding's scores, read
  // from the keys as stored.
  void (*row_dots)(const T* q, const T* k, int64_t ldk, int64_t n, int64_t D, T* out);
};

template <class T>
const TileOps<T>& tile_ops(KernelSet s);
template <class T>
const TileOps<T>& active_tile_ops() {
  return tile_ops<T>(active_kernel_set());
}

namespace detail {
// Defined by attention_tiles_<set>.cpp; the AVX ones only on x86-64.
void fill_tile_ops_scalar(TileOps<float>& f, TileOps<double>& d);
void fill_tile_ops_avx2(TileOps<float>& f, TileOps<double>& d);
void fill_tile_ops_avx512(TileOps<float>& f, TileOps<double>& d);
}  // namespace detail

}  // namespace attnlab::kernels
