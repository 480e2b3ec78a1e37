// ops::matmul / ops::bmm against cblas_sgemm called directly on the same preallocated
// operands. ops::matmul allocates its output on every call; the caching allocator
// (core/storage.cpp) hands the same block back each time, so the steady state has no
// page faults: the faults/iter counter shows it (specs/machine.md #5).
//
// Run with repetitions and read the max of flops (the machines are shared and noisy):
//   attnlab_bench --benchmark_filter=matmul --benchmark_repetitions=5
//                 --benchmark_enable_random_interleaving=true
#include <benchmark/benchmark.h>
#include <cblas.h>
#include <sys/resource.h>

#include <algorithm>

#include "attnlab/core/rng.h"
#include "attnlab/ops/matmul.h"
#include "attnlab/ops/shape.h"

namespace {

using attnlab::DType;
using attnlab::Rng;
using attnlab::Tensor;

long minor_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

void set_counters(benchmark::State& state, double flops, long faults) {
  // Shown as flops=...G/s (SI prefix); the JSON holds flop/s.
  state.counters["flops"] =
      benchmark::Counter(flops * double(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["faults/iter"] = benchmark::Counter(double(faults), benchmark::Counter::kAvgIterations);
}

// Best and worst of the repetitions: read min for times, max for flops.
double stat_min(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }
double stat_max(const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); }

void shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"M", "K", "N"});
  for (int64_t n : {512, 1024, 2048}) b->Args({n, n, n});
  b->Args({4096, 256, 768});   // qkv projection, d = 256, B*T = 4096
  b->Args({4096, 1024, 256});  // MLP down projection
  b->Args({4096, 768, 2304});  // GPT-2 small qkv, B*T = 4096
  b->Args({1024, 64, 1024});   // one head's scores, T = 1024, D = 64
  b->UseRealTime()->Unit(benchmark::kMillisecond);
  b->ComputeStatistics("min", stat_min)->ComputeStatistics("max", stat_max);
}

// x [M, K] @ w [K, N] through ops::matmul, a fresh output each call.
void BM_matmul_attnlab(benchmark::State& state) {
  int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  Rng rng(1);
  Tensor a = Tensor::randn({m, k}, rng), b = Tensor::randn({k, n}, rng);
  { Tensor warm = attnlab::ops::matmul(a, b); }  // first touch of the output block
  long faults = minor_faults();
  for (auto _ : state) {
    Tensor c = attnlab::ops::matmul(a, b);
    benchmark::DoNotOptimize(c.data<float>());
    benchmark::ClobberMemory();
  }
  set_counters(state, 2.0 * double(m) * double(n) * double(k), minor_faults() - faults);
}
BENCHMARK(BM_matmul_attnlab)->Apply(shapes);

// The same product with cblas_sgemm into a preallocated output: the ceiling.
void BM_matmul_sgemm_direct(benchmark::State& state) {
  int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  Rng rng(1);
  Tensor a = Tensor::randn({m, k}, rng), b = Tensor::randn({k, n}, rng), c = Tensor::zeros({m, n});
  long faults = minor_faults();
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(m), int(n), int(k), 1.0f,
                a.data<float>(), int(k), b.data<float>(), int(n), 0.0f, c.data<float>(), int(n));
    benchmark::DoNotOptimize(c.data<float>());
    benchmark::ClobberMemory();
  }
  set_counters(state, 2.0 * double(m) * double(n) * double(k), minor_faults() - faults);
}
BENCHMARK(BM_matmul_sgemm_direct)->Apply(shapes);

void heads(benchmark::internal::Benchmark* b) {
  b->ArgNames({"H", "T", "D"});
  b->Args({12, 1024, 64});  // GPT-2 small
  b->Args({4, 256, 64});    // small model, short context
  b->UseRealTime()->Unit(benchmark::kMillisecond);
  b->ComputeStatistics("min", stat_min)->ComputeStatistics("max", stat_max);
}

// Attention scores q [H, T, D] @ k^T for every head: bmm reads k^T in place (a transpose
// flag) and splits the heads over the threads, BLAS single-threaded inside.
void BM_bmm_scores_attnlab(benchmark::State& state) {
  int64_t h = state.range(0), t = state.range(1), d = state.range(2);
  Rng rng(1);
  Tensor q = Tensor::randn({h, t, d}, rng), k = Tensor::randn({h, t, d}, rng);
  Tensor kt = attnlab::ops::transpose(k, -1, -2);
  { Tensor warm = attnlab::ops::bmm(q, kt); }
  long faults = minor_faults();
  for (auto _ : state) {
    Tensor s = attnlab::ops::bmm(q, kt);
    benchmark::DoNotOptimize(s.data<float>());
    benchmark::ClobberMemory();
  }
  set_counters(state, 2.0 * double(h) * double(t) * double(t) * double(d), minor_faults() - faults);
}
BENCHMARK(BM_bmm_scores_attnlab)->Apply(heads);

// The same heads one cblas_sgemm after another, each left to OpenBLAS's own threading
// (which does not split products this small: specs/machine.md #4).
void BM_bmm_scores_sgemm_loop(benchmark::State& state) {
  int64_t h = state.range(0), t = state.range(1), d = state.range(2);
  Rng rng(1);
  Tensor q = Tensor::randn({h, t, d}, rng), k = Tensor::randn({h, t, d}, rng);
  Tensor s = Tensor::zeros({h, t, t});
  long faults = minor_faults();
  for (auto _ : state) {
    for (int64_t i = 0; i < h; ++i)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(t), int(t), int(d), 1.0f,
                  q.data<float>() + i * t * d, int(d), k.data<float>() + i * t * d, int(d), 0.0f,
                  s.data<float>() + i * t * t, int(t));
    benchmark::DoNotOptimize(s.data<float>());
    benchmark::ClobberMemory();
  }
  set_counters(state, 2.0 * double(h) * double(t) * double(t) * double(d), minor_faults() - faults);
}
BENCHMARK(BM_bmm_scores_sgemm_loop)->Apply(heads);

}  // namespace
