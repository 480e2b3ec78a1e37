// Loss and embedding micro-benchmarks: forward + backward of one op, timed on the wall
// clock (the work runs on every OpenMP thread). The backward is the op's own node
// applied to a seed, so the figure is the kernel's and excludes the engine's gradient
// accumulation into a leaf (which a trainer's graph does not do for these activations).
//
// GB/s counts the bytes each kernel must move at least once:
//   cross_entropy: read logits (forward), read logits + write dlogits (backward) = 3 N V s
//   embedding: read + write N C s (forward), read N C s + write the dense V C s dtable
#include <benchmark/benchmark.h>

#include <vector>

#include "attnlab/autograd/node.h"
#include "attnlab/core/rng.h"
#include "attnlab/ops/embedding.h"
#include "attnlab/ops/loss.h"

namespace {

using attnlab::DType;
using attnlab::Rng;
using attnlab::Tensor;

Tensor random_ids(Rng& rng, int64_t n, int64_t V) {
  std::vector<int32_t> v(static_cast<size_t>(n));
  for (auto& id : v) id = int32_t(rng.next_below(uint64_t(V)));
  return Tensor::from_vector(v, {n});
}

void set_rate(benchmark::State& state, double bytes_per_iteration) {
  state.counters["GB/s"] = benchmark::Counter(bytes_per_iteration * 1e-9 * double(state.iterations()),
                                              benchmark::Counter::kIsRate);
  state.SetBytesProcessed(int64_t(bytes_per_iteration) * state.iterations());
}

// N = 4096 rows of V logits, float32.
void BM_cross_entropy_fwd_bwd(benchmark::State& state) {
  const int64_t N = 4096, V = state.range(0);
  Rng rng(1);
  Tensor logits = Tensor::randn({N, V}, rng, DType::F32, 2.0).set_requires_grad(true);
  Tensor targets = random_ids(rng, N, V);
  Tensor seed = Tensor::full({}, 1.0, DType::F32);
  auto step = [&] {
    Tensor loss = attnlab::ops::cross_entropy(logits, targets);
    std::vector<Tensor> grads = loss.grad_fn()->apply(seed);
    benchmark::DoNotOptimize(grads[0].data<float>());
  };
  step();  // faults the gradient buffer in once; later steps reuse it from the allocator's cache
  for (auto _ : state) step();
  set_rate(state, 3.0 * double(N * V) * sizeof(float));
}
BENCHMARK(BM_cross_entropy_fwd_bwd)->Arg(256)->Arg(50257)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_cross_entropy_fwd(benchmark::State& state) {
  const int64_t N = 4096, V = state.range(0);
  Rng rng(1);
  Tensor logits = Tensor::randn({N, V}, rng, DType::F32, 2.0);
  Tensor targets = random_ids(rng, N, V);
  for (auto _ : state) benchmark::DoNotOptimize(attnlab::ops::cross_entropy(logits, targets).item());
  set_rate(state, double(N * V) * sizeof(float));
}
BENCHMARK(BM_cross_entropy_fwd)->Arg(256)->Arg(50257)->Unit(benchmark::kMillisecond)->UseRealTime();

// ids [4096] into a [50257, 768] float32 table (GPT-2 small's token embedding).
void BM_embedding_fwd_bwd(benchmark::State& state) {
  const int64_t N = 4096, V = 50257, C = 768;
  Rng rng(2);
  Tensor table = Tensor::randn({V, C}, rng, DType::F32, 0.02).set_requires_grad(true);
  Tensor ids = random_ids(rng, N, V);
  Tensor g = Tensor::randn({N, C}, rng, DType::F32);
  auto step = [&] {
    Tensor out = attnlab::ops::embedding(ids, table);
    std::vector<Tensor> grads = out.grad_fn()->apply(g);
    benchmark::DoNotOptimize(grads[0].data<float>());
  };
  step();  // as above: the first touch of the 154 MB table gradient is not the kernel's cost
  for (auto _ : state) step();
  set_rate(state, (3.0 * double(N * C) + double(V * C)) * sizeof(float));
}
BENCHMARK(BM_embedding_fwd_bwd)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
