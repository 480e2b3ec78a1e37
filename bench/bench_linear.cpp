// Decayed linear attention (ops/linear_attention.h) and the linear-time mixers at length.
//   decayed_linear_attention [4, 4, 1024, 64] (training shape), float32, 1 thread:
//     forward and forward + backward for chunk sizes 16 .. 256 (picks the default chunk);
//   retention / dijiang at 1,000,000 tokens, batch 1, d_model 32, 2 heads, float32, no
//     grad: the parallel form and the recurrent form, one run each; the run fails
//     (SkipWithError) if any output is not finite or the recurrent form's last 16 outputs
//     differ from the parallel form's by more than 1e-4 relative RMS.
#include <benchmark/benchmark.h>

#include <cmath>

#include "attnlab/autograd/engine.h"
#include "attnlab/autograd/node.h"
#include "attnlab/core/compare.h"
#include "attnlab/core/parallel.h"
#include "attnlab/core/rng.h"
#include "attnlab/io/config_schema.h"
#include "attnlab/model/config.h"
#include "attnlab/ops/ops.h"

namespace {

using attnlab::DType;
using attnlab::Rng;
using attnlab::Tensor;
namespace ops = attnlab::ops;

void BM_decayed_linear_4x4x1024x64(benchmark::State& state) {
  attnlab::set_num_threads(1);
  const int64_t chunk = state.range(0);
  const bool backward = state.range(1) != 0;
  Rng rng(1);
  Tensor q = Tensor::randn({4, 4, 1024, 64}, rng, DType::F32, 0.1).set_requires_grad(backward);
  Tensor k = Tensor::randn({4, 4, 1024, 64}, rng, DType::F32, 0.1).set_requires_grad(backward);
  Tensor v = Tensor::randn({4, 4, 1024, 64}, rng).set_requires_grad(backward);
  Tensor lg = Tensor::from_vector(std::vector<float>{-0.03f, -0.01f, -0.003f, -0.001f}, {4});
  Tensor w = Tensor::randn({4, 4, 1024, 64}, rng);
  for (auto _ : state) {
    Tensor o = ops::decayed_linear_attention(q, k, v, lg, Tensor(), ops::DecayedLinearOptions::make(chunk));
    if (backward) attnlab::autograd::backward(o, w);
    benchmark::DoNotOptimize(o.data<float>());
  }
  state.SetItemsProcessed(state.iterations() * 4 * 1024);  // tokens
  attnlab::set_num_threads(0);
}
BENCHMARK(BM_decayed_linear_4x4x1024x64)
    ->ArgsProduct({{16, 32, 64, 128, 256}, {0, 1}})
    ->ArgNames({"chunk", "backward"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void million_tokens(benchmark::State& state, const std::string& mixer) {
  attnlab::autograd::NoGradGuard no_grad;
  const int64_t T = 1000000, C = 32, tail = 16;
  auto cfg = attnlab::config::parse_config_text<attnlab::model::MixerConfig>("name = \"" + mixer + "\"", "bench",
                                                                             {"heads=2"});
  attnlab::model::ParamStore store;
  attnlab::mixers::MixerContext ctx{C, 0, 1, "mixer.", &store};
  auto m = attnlab::model::make_mixer(cfg, ctx);
  store.allocate(1, DType::F32);
  Rng rng(2);
  Tensor x = Tensor::randn({1, T, C}, rng);
  const auto form = state.range(0) ? attnlab::mixers::Form::Recurrent : attnlab::mixers::Form::Parallel;
  Tensor y;
  for (auto _ : state) y = m->forward(x, form, nullptr);
  int64_t bad = 0;
  for (double e : y.to_vector()) bad += !std::isfinite(e);
  if (bad) state.SkipWithError("non-finite output");
  Tensor other = m->forward(x, state.range(0) ? attnlab::mixers::Form::Parallel : attnlab::mixers::Form::Recurrent,
                            nullptr);
  auto err = attnlab::compare(y.slice_raw(1, T - tail, T), other.slice_raw(1, T - tail, T));
  if (!(err.rel_rms <= 1e-4)) state.SkipWithError("recurrent and parallel forms differ at the last tokens");
  state.counters["last_rel_rms"] = err.rel_rms;
  state.SetItemsProcessed(state.iterations() * T);
}

void BM_retention_1M_tokens(benchmark::State& state) { million_tokens(state, "retention"); }
void BM_dijiang_1M_tokens(benchmark::State& state) { million_tokens(state, "dijiang"); }
BENCHMARK(BM_retention_1M_tokens)->ArgName("recurrent")->Arg(0)->Arg(1)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();
BENCHMARK(BM_dijiang_1M_tokens)->ArgName("recurrent")->Arg(0)->Arg(1)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();

}  // namespace
