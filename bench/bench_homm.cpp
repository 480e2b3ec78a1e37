// HoMM at a million tokens (issue 6, "any length"): one float32 forward pass over
// 1,000,000 tokens, batch 1, d_model 16, k = e = 2 (F = 64 running sums), in the parallel
// form (cumulative sums) and the recurrent form (token by token, float64 state).
//
// Counters: tok/s; finite (1 when every output is finite); vs_parallel, the relative RMS
// difference between the recurrent and parallel outputs over the last 64 tokens;
// f32_sum_rel_err, for comparison, the relative RMS error at the last token of a plain
// float32 running sum of moments of the same kind (gelu(a) gelu(b), a, b ~ N(0, 1)),
// against the same sum in double: the drift that summing in double avoids.
#include <benchmark/benchmark.h>

#include <cmath>
#include <vector>

#include "attnlab/autograd/node.h"
#include "attnlab/core/compare.h"
#include "attnlab/core/rng.h"
#include "attnlab/mixers/homm/homm.h"

namespace {

using attnlab::Tensor;
using attnlab::mixers::Form;

constexpr int64_t kTokens = 1000000, kWidth = 16, kTail = 64;

struct Setup {
  attnlab::model::ParamStore store;
  std::unique_ptr<attnlab::mixers::Homm> mixer;
  Tensor x;
  Setup() {
    attnlab::mixers::HommOptions opt;  // order 2, expand 2
    attnlab::mixers::MixerContext ctx{kWidth, 0, 1, "mixer.", &store};
    mixer = std::make_unique<attnlab::mixers::Homm>(opt, ctx);
    store.allocate(5, attnlab::DType::F32);
    attnlab::Rng rng(6);
    x = Tensor::randn({1, kTokens, kWidth}, rng);
  }
};

Setup& setup() {
  static Setup s;
  return s;
}

bool all_finite(const Tensor& t) {
  const float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i)
    if (!std::isfinite(p[i])) return false;
  return true;
}

double float32_running_sum_error() {
  attnlab::Rng rng(7);
  const int64_t F = 64;
  Tensor a = Tensor::randn({kTokens, F}, rng), b = Tensor::randn({kTokens, F}, rng);
  auto gelu = [](double v) { return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))); };
  std::vector<float> s32(F, 0.0f);
  std::vector<double> s64(F, 0.0);
  for (int64_t t = 0; t < kTokens; ++t)
    for (int64_t f = 0; f < F; ++f) {
      float m = float(gelu(a.data<float>()[t * F + f]) * gelu(b.data<float>()[t * F + f]));
      s32[size_t(f)] += m;
      s64[size_t(f)] += double(m);
    }
  double err = 0, norm = 0;
  for (int64_t f = 0; f < F; ++f) {
    err += std::pow(double(s32[size_t(f)]) - s64[size_t(f)], 2);
    norm += s64[size_t(f)] * s64[size_t(f)];
  }
  return std::sqrt(err / norm);
}

void BM_homm_million_tokens(benchmark::State& bs, Form form) {
  Setup& s = setup();
  attnlab::autograd::NoGradGuard no_grad;
  Tensor out;
  for (auto _ : bs) {
    out = s.mixer->forward(s.x, form, nullptr);
    benchmark::DoNotOptimize(out.data<float>());
  }
  bs.counters["tok/s"] = benchmark::Counter(double(kTokens), benchmark::Counter::kIsIterationInvariantRate);
  bs.counters["finite"] = all_finite(out) ? 1 : 0;
  if (form == Form::Recurrent) {
    Tensor par = s.mixer->forward(s.x, Form::Parallel, nullptr);
    bs.counters["vs_parallel"] =
        attnlab::compare(par.slice_raw(1, kTokens - kTail, kTokens), out.slice_raw(1, kTokens - kTail, kTokens))
            .rel_rms;
    bs.counters["f32_sum_rel_err"] = float32_running_sum_error();
  }
}

BENCHMARK_CAPTURE(BM_homm_million_tokens, parallel, Form::Parallel)
    ->Iterations(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_homm_million_tokens, recurrent, Form::Recurrent)
    ->Iterations(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
