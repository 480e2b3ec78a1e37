#include "attnlab/kernels/cpu/build_info.h"

#include "attnlab/kernels/cpu/attention_tiles.h"
#include "attnlab/kernels/cpu/blas.h"

namespace attnlab::kernels::cpu {

std::string simd_target() {
#if defined(__AVX512F__)
  return "AVX-512";
#elif defined(__AVX2__) && defined(__FMA__)
  return "AVX2+FMA";
#elif defined(__AVX__)
  return "AVX";
#elif defined(__ARM_NEON)
  return "NEON";
#elif defined(__SSE2__)
  return "SSE2";  // the x86-64 baseline (ATTNLAB_NATIVE=OFF)
#else
  return "scalar";
#endif
}

std::string runtime_info() {
  return "kernels: attention tiles " + kernel_set_info() + ", other loops " + simd_target() +
         " (compile-time); " + blas_info();
}

}  // namespace attnlab::kernels::cpu
