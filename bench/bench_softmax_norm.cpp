// Softmax, layer norm and RMS norm micro-benchmarks at GPT-2-small activation sizes,
// float32, timed on the wall clock (the rows run on every OpenMP thread). The kernels
// are called without autograd (ops::softmax_backward, ops::layer_norm_forward/backward),
// so the figures are the kernels' own.
//
// These ops are bandwidth-bound (specs/machine.md #6: 50-65 GB/s on two cores), so each
// reports GB/s over the bytes it must move at least once, with N rows of C:
//   forward:  read x, write y                        2 N C * 4 bytes
//   backward: softmax reads y and g, norms x and g;   3 N C * 4 bytes
//             both write dx
//   fwd+bwd:  the sum, 5 N C * 4 bytes
// Per-row statistics and the [C] parameters are under 0.2% of that and not counted.
#include <benchmark/benchmark.h>

#include "attnlab/core/parallel.h"
#include "attnlab/core/rng.h"
#include "attnlab/ops/norm.h"
#include "attnlab/ops/softmax.h"

namespace {

using attnlab::DType;
using attnlab::Rng;
using attnlab::Tensor;
namespace ops = attnlab::ops;

constexpr int64_t kRows = 8192;  // B * T, e.g. 8 x 1024

void set_rate(benchmark::State& state, double bytes_per_iteration) {
  state.counters["GB/s"] = benchmark::Counter(bytes_per_iteration * 1e-9 * double(state.iterations()),
                                              benchmark::Counter::kIsRate);
}

double row_bytes(int64_t C, double streams) { return streams * double(kRows * C) * sizeof(float); }

// mode 0: forward, 1: backward, 2: forward + backward.
void BM_softmax(benchmark::State& state) {
  const int64_t C = state.range(0), mode = state.range(1);
  Rng rng(1);
  Tensor x = Tensor::randn({kRows, C}, rng, DType::F32, 3.0);
  Tensor g = Tensor::randn({kRows, C}, rng, DType::F32);
  Tensor y = ops::softmax(x);
  for (auto _ : state) {
    if (mode != 1) y = ops::softmax(x);
    if (mode != 0) benchmark::DoNotOptimize(ops::softmax_backward(y, g).data<float>());
    benchmark::DoNotOptimize(y.data<float>());
  }
  set_rate(state, row_bytes(C, mode == 0 ? 2 : mode == 1 ? 3 : 5));
}
BENCHMARK(BM_softmax)
    ->ArgNames({"C", "mode"})
    ->ArgsProduct({{768, 1024}, {0, 1, 2}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_log_softmax(benchmark::State& state) {
  const int64_t C = state.range(0), mode = state.range(1);
  Rng rng(1);
  Tensor x = Tensor::randn({kRows, C}, rng, DType::F32, 3.0);
  Tensor g = Tensor::randn({kRows, C}, rng, DType::F32);
  Tensor y = ops::log_softmax(x);
  for (auto _ : state) {
    if (mode != 1) y = ops::log_softmax(x);
    if (mode != 0) benchmark::DoNotOptimize(ops::log_softmax_backward(y, g).data<float>());
    benchmark::DoNotOptimize(y.data<float>());
  }
  set_rate(state, row_bytes(C, mode == 0 ? 2 : mode == 1 ? 3 : 5));
}
BENCHMARK(BM_log_softmax)
    ->ArgNames({"C", "mode"})
    ->ArgsProduct({{1024}, {0, 2}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_layer_norm(benchmark::State& state) {
  const int64_t C = state.range(0), mode = state.range(1);
  Rng rng(1);
  Tensor x = Tensor::randn({kRows, C}, rng, DType::F32);
  Tensor w = Tensor::uniform({C}, rng, 0.5, 1.5, DType::F32), b = Tensor::randn({C}, rng, DType::F32);
  Tensor g = Tensor::randn({kRows, C}, rng, DType::F32);
  ops::NormForward f = ops::layer_norm_forward(x, w, b, 1e-5);
  for (auto _ : state) {
    if (mode != 1) f = ops::layer_norm_forward(x, w, b, 1e-5);
    if (mode != 0) {
      ops::NormGrads d = ops::layer_norm_backward(g, x, w, f.mean, f.rstd, true, true);
      benchmark::DoNotOptimize(d.dx.data<float>());
    }
    benchmark::DoNotOptimize(f.y.data<float>());
  }
  set_rate(state, row_bytes(C, mode == 0 ? 2 : mode == 1 ? 3 : 5));
}
BENCHMARK(BM_layer_norm)
    ->ArgNames({"C", "mode"})
    ->ArgsProduct({{768}, {0, 1, 2}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_rms_norm(benchmark::State& state) {
  const int64_t C = state.range(0), mode = state.range(1);
  Rng rng(1);
  Tensor x = Tensor::randn({kRows, C}, rng, DType::F32);
  Tensor w = Tensor::uniform({C}, rng, 0.5, 1.5, DType::F32);
  Tensor g = Tensor::randn({kRows, C}, rng, DType::F32);
  ops::NormForward f = ops::rms_norm_forward(x, w, 1e-6);
  for (auto _ : state) {
    if (mode != 1) f = ops::rms_norm_forward(x, w, 1e-6);
    if (mode != 0) {
      ops::NormGrads d = ops::rms_norm_backward(g, x, w, f.rstd, true);
      benchmark::DoNotOptimize(d.dx.data<float>());
    }
    benchmark::DoNotOptimize(f.y.data<float>());
  }
  set_rate(state, row_bytes(C, mode == 0 ? 2 : mode == 1 ? 3 : 5));
}
BENCHMARK(BM_rms_norm)
    ->ArgNames({"C", "mode"})
    ->ArgsProduct({{768}, {0, 1, 2}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// The ceiling measured in the same run: a triad a = b + s c over the same [8192, 768]
// float32 buffers on the same threads (3 streams, 3 N C * 4 bytes).
void BM_softmax_norm_triad(benchmark::State& state) {
  const int64_t n = kRows * 768;
  Rng rng(1);
  Tensor a = Tensor::zeros({n}, DType::F32), b = Tensor::randn({n}, rng), c = Tensor::randn({n}, rng);
  float* ap = a.data<float>();
  const float* bp = b.data<float>();
  const float* cp = c.data<float>();
  for (auto _ : state) {
    attnlab::parallel_for(0, n, 1 << 14, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) ap[i] = bp[i] + 1.5f * cp[i];
    });
    benchmark::DoNotOptimize(ap);
    benchmark::ClobberMemory();
  }
  set_rate(state, 3.0 * double(n) * sizeof(float));
}
BENCHMARK(BM_softmax_norm_triad)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
