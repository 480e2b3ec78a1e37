// What a benchmark or `attnlab --version` reports about the code that runs: the kernel set
// of the attention tiles (chosen at run time, attention_tiles.h), the SIMD instruction set
// the other loops were compiled for (chosen at build time by -march), the BLAS and its
// kernel set, and the thread count.
#pragma once
#include <string>

namespace attnlab::kernels::cpu {

// "AVX-512", "AVX2+FMA", "AVX", "NEON", "SSE2" or "scalar": the widest set the build targets.
std::string simd_target();
// One line: attnlab's kernels, BLAS (core, threading, OPENBLAS_CORETYPE) and threads.
std::string runtime_info();

}  // namespace attnlab::kernels::cpu
