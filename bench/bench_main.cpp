// main() of attnlab_bench: Google Benchmark's, after saying which BLAS kernels are in use
// (specs/machine.md #2: OPENBLAS_CORETYPE=Haswell halves sgemm speed on our machines).
// The line goes to stderr beside Google Benchmark's own context lines, and into the JSON
// context, so --benchmark_format=json on stdout stays valid JSON.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <string>

#include "attnlab/core/parallel.h"
#include "attnlab/kernels/cpu/blas.h"

int main(int argc, char** argv) {
  attnlab::init_threads();
  std::string info = attnlab::kernels::cpu::blas_info();
  std::fprintf(stderr, "%s\n", info.c_str());
  benchmark::AddCustomContext("blas", info);
  benchmark::AddCustomContext("blas_core", attnlab::kernels::cpu::blas_core_name());
  benchmark::AddCustomContext("attnlab_threads", std::to_string(attnlab::num_threads()));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
