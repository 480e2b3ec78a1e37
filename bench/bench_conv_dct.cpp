// Micro-benchmarks of ops/conv and ops/dct (float32). The argument is the thread count.
//   dct along the last dim of [4096, 64]: contiguous rows, and the same logical tensor as
//   a transposed view of [64, 4096] (each transform reads with stride 4096).
//   depthwise causal conv1d [8, 768, 1024], K = 4: forward, and backward (dx, dweight,
//   dbias) timed alone by running the recorded node's backward closure.
// Bytes processed count one read of every input and one write of every output.
#include <benchmark/benchmark.h>

#include <vector>

#include "attnlab/autograd/node.h"
#include "attnlab/core/parallel.h"
#include "attnlab/core/rng.h"
#include "attnlab/ops/conv.h"
#include "attnlab/ops/dct.h"

namespace {

using attnlab::DType;
using attnlab::Rng;
using attnlab::Tensor;

void dct_bench(benchmark::State& state, const Tensor& x, bool inverse) {
  attnlab::set_num_threads(int(state.range(0)));
  Tensor y = inverse ? attnlab::ops::idct(x, -1) : attnlab::ops::dct(x, -1);  // plans made here
  for (auto _ : state) {
    y = inverse ? attnlab::ops::idct(x, -1) : attnlab::ops::dct(x, -1);
    benchmark::DoNotOptimize(y.data<float>());
  }
  state.SetBytesProcessed(state.iterations() * 2 * x.numel() * int64_t(sizeof(float)));
  state.SetItemsProcessed(state.iterations() * x.numel() / x.size(-1));  // transforms
  attnlab::set_num_threads(0);
}

void BM_dct_4096x64_last(benchmark::State& state) {
  Rng rng(1);
  dct_bench(state, Tensor::randn({4096, 64}, rng), false);
}
BENCHMARK(BM_dct_4096x64_last)->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_dct_64x4096_transposed_last(benchmark::State& state) {
  Rng rng(1);
  dct_bench(state, Tensor::randn({64, 4096}, rng).transpose_raw(0, 1), false);
}
BENCHMARK(BM_dct_64x4096_transposed_last)->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_idct_4096x64_last(benchmark::State& state) {
  Rng rng(1);
  dct_bench(state, Tensor::randn({4096, 64}, rng), true);
}
BENCHMARK(BM_idct_4096x64_last)->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond)->UseRealTime();

struct DepthwiseConv {
  static constexpr int64_t B = 8, C = 768, T = 1024, K = 4;
  Tensor x, w, b;
  attnlab::ops::ConvOptions opt = attnlab::ops::ConvOptions::causal_depthwise(K, C);
  explicit DepthwiseConv(bool grad) {
    Rng rng(2);
    x = Tensor::randn({B, C, T}, rng).set_requires_grad(grad);
    w = Tensor::randn({C, 1, K}, rng, DType::F32, 0.5).set_requires_grad(grad);
    b = Tensor::randn({C}, rng).set_requires_grad(grad);
  }
  int64_t io_bytes() const { return 2 * B * C * T * int64_t(sizeof(float)); }
};

void BM_conv1d_depthwise_8x768x1024_k4_fwd(benchmark::State& state) {
  attnlab::set_num_threads(int(state.range(0)));
  DepthwiseConv c(false);
  for (auto _ : state) {
    Tensor y = attnlab::ops::conv1d(c.x, c.w, c.b, c.opt);
    benchmark::DoNotOptimize(y.data<float>());
  }
  state.SetBytesProcessed(state.iterations() * c.io_bytes());  // x in, y out
  attnlab::set_num_threads(0);
}
BENCHMARK(BM_conv1d_depthwise_8x768x1024_k4_fwd)->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_conv1d_depthwise_8x768x1024_k4_bwd(benchmark::State& state) {
  attnlab::set_num_threads(int(state.range(0)));
  DepthwiseConv c(true);
  Rng rng(3);
  Tensor gy = Tensor::randn({c.B, c.C, c.T}, rng);
  for (auto _ : state) {
    state.PauseTiming();
    Tensor y = attnlab::ops::conv1d(c.x, c.w, c.b, c.opt);
    state.ResumeTiming();
    std::vector<Tensor> grads = y.grad_fn()->apply(gy);  // dx, dweight, dbias
    benchmark::DoNotOptimize(grads[0].data<float>());
  }
  // gy read twice (for dx, and for dweight/dbias), x read once, dx written.
  state.SetBytesProcessed(state.iterations() * 2 * c.io_bytes());
  attnlab::set_num_threads(0);
}
BENCHMARK(BM_conv1d_depthwise_8x768x1024_k4_bwd)->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace
