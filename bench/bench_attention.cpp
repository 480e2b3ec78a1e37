// Fused causal attention, float32, B=1 H=12 D=64 (GPT-2-small heads), forward alone and
// forward + backward through the kernel entries (ops/attention.h).
//
// Counters: GFLOP/s with 4 T^2 D H / 2 flops for the causal forward and 2.5x that for the
// backward (the usual flash-attention count: two products forward, five backward; the
// causal half), and peak_MiB, the growth of the process's peak resident memory over the
// run (VmHWM after minus VmRSS before, with the kernel's high-water mark reset first).
// Peer (specs/machine.md): PyTorch eager forward + backward 0.11 s at T=1024, 1.65 s at 4096.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "attnlab/core/parallel.h"
#include "attnlab/core/rng.h"
#include "attnlab/ops/attention.h"

namespace {

using attnlab::Tensor;

// Reads a "VmRSS:" / "VmHWM:" line of /proc/self/status in KiB; -1 where unavailable.
long proc_status_kib(const char* key) {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long value = -1;
  const size_t n = std::strlen(key);
  while (std::fgets(line, sizeof line, f))
    if (std::strncmp(line, key, n) == 0) {
      value = std::atol(line + n);
      break;
    }
  std::fclose(f);
  return value;
}

// Resets VmHWM to the current resident size (Linux: "5" into /proc/self/clear_refs).
bool reset_peak_rss() {
  std::FILE* f = std::fopen("/proc/self/clear_refs", "w");
  if (!f) return false;
  const bool ok = std::fputs("5", f) >= 0;
  return std::fclose(f) == 0 && ok;
}

struct Inputs {
  Tensor q, k, v, dout;
  attnlab::ops::AttentionOptions opt;
};

Inputs make_inputs(int64_t T) {
  const int64_t B = 1, H = 12, D = 64;
  attnlab::Rng rng(1);
  Inputs in;
  in.q = Tensor::randn({B, H, T, D}, rng);
  in.k = Tensor::randn({B, H, T, D}, rng);
  in.v = Tensor::randn({B, H, T, D}, rng);
  in.dout = Tensor::randn({B, H, T, D}, rng);
  in.opt.scale = 0.125;
  in.opt.causal = true;
  return in;
}

void report(benchmark::State& state, double flops, long rss_before) {
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  const long hwm = proc_status_kib("VmHWM:");
  state.counters["peak_MiB"] = (rss_before >= 0 && hwm >= 0) ? double(hwm - rss_before) / 1024.0 : -1;
  state.SetLabel("threads=" + std::to_string(attnlab::num_threads()));
}

void BM_attention_causal_fwd(benchmark::State& state) {
  const int64_t T = state.range(0);
  Inputs in = make_inputs(T);
  attnlab::allocator_release_cached();
  reset_peak_rss();
  const long rss_before = proc_status_kib("VmRSS:");
  for (auto _ : state) {
    Tensor lse;
    Tensor o = attnlab::ops::attention_forward(in.q, in.k, in.v, in.opt, &lse);
    benchmark::DoNotOptimize(o.data<float>());
  }
  report(state, 4.0 * double(T) * double(T) * 64 * 12 / 2, rss_before);
}

void BM_attention_causal_fwd_bwd(benchmark::State& state) {
  const int64_t T = state.range(0);
  Inputs in = make_inputs(T);
  attnlab::allocator_release_cached();
  reset_peak_rss();
  const long rss_before = proc_status_kib("VmRSS:");
  for (auto _ : state) {
    Tensor lse;
    Tensor o = attnlab::ops::attention_forward(in.q, in.k, in.v, in.opt, &lse);
    std::vector<Tensor> g = attnlab::ops::attention_backward(in.q, in.k, in.v, o, lse, in.dout, in.opt);
    benchmark::DoNotOptimize(g[0].data<float>());
  }
  report(state, 3.5 * 4.0 * double(T) * double(T) * 64 * 12 / 2, rss_before);
}

// The same with Kerple's bias table by distance (ops::attention_distance_bias): the cost
// of the table lookup per score and of summing dS by distance in the backward.
void BM_attention_kerple_fwd_bwd(benchmark::State& state) {
  const int64_t T = state.range(0);
  Inputs in = make_inputs(T);
  attnlab::Rng rng(2);
  Tensor table = Tensor::uniform({12, T}, rng, -4.0, 0.0);
  attnlab::allocator_release_cached();
  reset_peak_rss();
  const long rss_before = proc_status_kib("VmRSS:");
  for (auto _ : state) {
    Tensor lse;
    Tensor o = attnlab::ops::attention_forward(in.q, in.k, in.v, in.opt, &lse, table);
    std::vector<Tensor> g = attnlab::ops::attention_backward(in.q, in.k, in.v, o, lse, in.dout, in.opt, table);
    benchmark::DoNotOptimize(g[3].data<float>());
  }
  report(state, 3.5 * 4.0 * double(T) * double(T) * 64 * 12 / 2, rss_before);
}

}  // namespace

BENCHMARK(BM_attention_causal_fwd)->Arg(1024)->Arg(4096)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_attention_causal_fwd_bwd)->Arg(1024)->Arg(4096)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_attention_kerple_fwd_bwd)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();
