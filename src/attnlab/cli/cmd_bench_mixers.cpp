// attnlab bench mixers | attention: one mixer (or the attention core) at a time.
//
// mixers: every registered mixer's training form (Form::Parallel) on x [B, T, C], forward
//   alone (no autograd) and forward + backward (the gradient of a random projection of
//   the output, reaching x and every parameter), at lengths T = 512 ... 16,384, with the
//   allocator's high-water mark above what was live before. A mixer stops at the first
//   length whose predicted time exceeds --budget (its time grows at most quadratically).
// attention: the fused causal attention op alone on q, k, v [B, H, T, D], the shapes of
//   the attention target and of bench/peers/torch_peer.py's SDPA run, with the
//   effective GFLOP/s of the causal FLOPs (forward 2 T^2 H D; backward 2.5x that).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "attnlab/autograd/node.h"
#include "attnlab/cli/bench_common.h"
#include "attnlab/cli/commands.h"
#include "attnlab/core/error.h"
#include "attnlab/core/rng.h"
#include "attnlab/ops/ops.h"

namespace attnlab::cli {

namespace {

struct Sample {
  double seconds = 1e300;  // best of the repeats
  double peak_mib = 0;     // high-water mark above the bytes live before the call
};

// Best of the first call and `repeats` more (one more when a call is slow), with the peak of the first.
Sample measure(const std::function<void()>& f, int repeats) {
  Sample s;
  allocator_reset_peak();
  size_t base = allocator_stats().bytes_in_use;
  double t = bench::time_once(f);
  s.peak_mib = bench::mib(allocator_stats().peak_bytes_in_use - base);
  s.seconds = t;
  // At least one warm call when repeats > 0: a first call at long T also pays the first touch
  // of its activations (specs/machine.md #5), which a flatness comparison must not count.
  int more = t > 0.5 ? std::min(repeats, 1) : repeats;
  for (int r = 0; r < more; ++r) s.seconds = std::min(s.seconds, bench::time_once(f));
  return s;
}

struct MixerBenchOptions {
  std::string mixers = "all";
  std::vector<int64_t> lengths{512, 1024, 2048, 4096, 8192, 16384};
  int64_t d_model = 768, heads = 12, batch = 1;
  int repeats = 2;
  double budget = 30.0;
  std::vector<std::string> sets;
};

void run_mixers(const MixerBenchOptions& o) {
  bench::print_runtime_header("mixers");
  std::printf("# every mixer's parallel form, float32, x [B=%lld, T, C=%lld], heads=%lld where the mixer has "
              "them; best of the first call and up to %d more (one when a call is slow); peak_MiB = allocator high-water mark above the "
              "bytes live before (inputs and parameters excluded)\n",
              (long long)o.batch, (long long)o.d_model, (long long)o.heads, o.repeats);
  for (const std::string& name : bench::select_mixers(o.mixers)) {
    model::MixerConfig cfg = bench::mixer_config(name, o.heads, o.sets);
    model::ParamStore store;
    mixers::MixerContext ctx{o.d_model, 0, 1, "mixer.", &store};
    std::unique_ptr<mixers::Mixer> mixer = model::make_mixer(cfg, ctx);
    store.allocate(3);
    double last_seconds = 0;
    int64_t last_T = 0;
    for (int64_t T : o.lengths) {
      if (last_T > 0) {
        double ratio = double(T) / double(last_T);
        if (last_seconds * ratio * ratio > o.budget) {
          std::printf("# %s: T=%lld and longer skipped (predicted over --budget %.0f s)\n", name.c_str(),
                      (long long)T, o.budget);
          break;
        }
      }
      Rng rng(static_cast<uint64_t>(T));
      Tensor x = Tensor::randn({o.batch, T, o.d_model}, rng);
      Tensor seed = Tensor::randn({o.batch, T, o.d_model}, rng);
      Sample fwd = measure(
          [&] {
            autograd::NoGradGuard no_grad;
            Tensor y = mixer->forward(x, mixers::Form::Parallel, nullptr);
          },
          o.repeats);
      Tensor xg = x.detach();
      xg.set_requires_grad(true);
      Sample both = measure(
          [&] {
            store.zero_grads();
            Tensor y = mixer->forward(xg, mixers::Form::Parallel, nullptr);
            y.backward(seed);
          },
          o.repeats);
      const double tokens = double(o.batch * T);
      std::printf("mixer %s fwd T=%lld ms=%.2f us/token=%.3f peak_MiB=%.1f\n", name.c_str(), (long long)T,
                  fwd.seconds * 1e3, fwd.seconds / tokens * 1e6, fwd.peak_mib);
      std::printf("mixer %s fwd+bwd T=%lld ms=%.2f us/token=%.3f peak_MiB=%.1f\n", name.c_str(), (long long)T,
                  both.seconds * 1e3, both.seconds / tokens * 1e6, both.peak_mib);
      std::fflush(stdout);
      last_seconds = both.seconds;
      last_T = T;
    }
  }
}

struct AttentionBenchOptions {
  std::vector<int64_t> lengths{1024, 2048, 4096};
  int64_t batch = 1, heads = 12, head_dim = 64;
  int repeats = 2;
};

void run_attention(const AttentionBenchOptions& o) {
  bench::print_runtime_header("attention");
  std::printf("# fused causal attention (ops::attention), float32, q k v [B=%lld, H=%lld, T, D=%lld]; causal "
              "FLOPs: forward 2 T^2 H D B, backward 2.5x; extra_MiB = allocator high-water mark above "
              "q, k, v (and the output gradient)\n",
              (long long)o.batch, (long long)o.heads, (long long)o.head_dim);
  const double sgemm = bench::sgemm_gflops(1024, 1024, 1024, 3);
  std::printf("# sgemm 1024^3 in this run: %.1f GFLOP/s\n", sgemm);
  for (int64_t T : o.lengths) {
    Rng rng(static_cast<uint64_t>(T));
    Shape shape{o.batch, o.heads, T, o.head_dim};
    Tensor q = Tensor::randn(shape, rng), k = Tensor::randn(shape, rng), v = Tensor::randn(shape, rng);
    Tensor dout = Tensor::randn(shape, rng);
    auto opt = ops::AttentionOptions::make(1.0 / std::sqrt(double(o.head_dim)));
    const double fwd_flops = 2.0 * double(T) * double(T) * double(o.heads * o.head_dim * o.batch);
    Sample fwd = measure(
        [&] {
          autograd::NoGradGuard no_grad;
          Tensor y = ops::attention(q, k, v, opt);
        },
        o.repeats);
    Tensor qg = q.detach(), kg = k.detach(), vg = v.detach();
    qg.set_requires_grad(true);
    kg.set_requires_grad(true);
    vg.set_requires_grad(true);
    Sample both = measure(
        [&] {
          Tensor y = ops::attention(qg, kg, vg, opt);
          y.backward(dout);
        },
        o.repeats);
    const double gf = fwd_flops / fwd.seconds / 1e9, gb = 3.5 * fwd_flops / both.seconds / 1e9;
    std::printf("attention fwd T=%lld ms=%.2f GFLOP/s=%.1f of_sgemm=%.1f%% extra_MiB=%.1f\n", (long long)T,
                fwd.seconds * 1e3, gf, 100.0 * gf / sgemm, fwd.peak_mib);
    std::printf("attention fwd+bwd T=%lld ms=%.2f GFLOP/s=%.1f of_sgemm=%.1f%% extra_MiB=%.1f\n", (long long)T,
                both.seconds * 1e3, gb, 100.0 * gb / sgemm, both.peak_mib);
    std::fflush(stdout);
  }
}

}  // namespace

void add_bench_mixer_commands(CLI::App& bench) {
  auto clock = std::make_shared<std::string>("wall");
  auto mo = std::make_shared<MixerBenchOptions>();
  auto lengths = std::make_shared<std::string>("512,1024,2048,4096,8192,16384");
  auto* mixers = bench.add_subcommand("mixers", "Every mixer's forward and forward+backward against length");
  mixers->add_option("--mixers", mo->mixers, "Comma list of mixers, or all")->capture_default_str();
  mixers->add_option("--lengths", *lengths, "Sequence lengths T")->capture_default_str();
  mixers->add_option("--d-model", mo->d_model, "Width C")->capture_default_str()->check(CLI::Range(1, 1 << 16));
  mixers->add_option("--heads", mo->heads, "Heads, for mixers that have them")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  mixers->add_option("--batch", mo->batch, "Batch B")->capture_default_str()->check(CLI::Range(1, 1 << 16));
  mixers->add_option("--repeats", mo->repeats, "Timed calls after the first (best reported)")
      ->capture_default_str()
      ->check(CLI::Range(0, 100));
  mixers->add_option("--budget", mo->budget, "Stop a mixer before a length predicted to exceed this (s)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  mixers->add_option("--set", mo->sets, "Mixer option key=value (repeatable; with one mixer)");
  mixers->add_option("--clock", *clock, "wall, or cpu: CPU seconds per thread (steadier on a busy machine)")
      ->capture_default_str()
      ->check(CLI::IsMember({"wall", "cpu"}));
  mixers->callback([clock, mo, lengths] {
    bench::set_clock(*clock);
    mo->lengths = parse_int_list(*lengths, "--lengths");
    ATTNLAB_CHECK(!mo->lengths.empty(), "bench mixers --lengths: give at least one length");
    run_mixers(*mo);
  });

  auto ao = std::make_shared<AttentionBenchOptions>();
  auto alengths = std::make_shared<std::string>("1024,2048,4096");
  auto* attn = bench.add_subcommand("attention", "The fused causal attention op, forward and forward+backward");
  attn->add_option("--lengths", *alengths, "Sequence lengths T")->capture_default_str();
  attn->add_option("--heads", ao->heads, "Heads H")->capture_default_str()->check(CLI::Range(1, 1024));
  attn->add_option("--head-dim", ao->head_dim, "Head dimension D")->capture_default_str()->check(CLI::Range(1, 1024));
  attn->add_option("--batch", ao->batch, "Batch B")->capture_default_str()->check(CLI::Range(1, 1 << 16));
  attn->add_option("--repeats", ao->repeats, "Timed calls after the first (best reported)")
      ->capture_default_str()
      ->check(CLI::Range(0, 100));
  attn->add_option("--clock", *clock, "wall, or cpu: CPU seconds per thread (steadier on a busy machine)")
      ->capture_default_str()
      ->check(CLI::IsMember({"wall", "cpu"}));
  attn->callback([clock, ao, alengths] {
    bench::set_clock(*clock);
    ao->lengths = parse_int_list(*alengths, "--lengths");
    ATTNLAB_CHECK(!ao->lengths.empty(), "bench attention --lengths: give at least one length");
    run_attention(*ao);
  });
}

}  // namespace attnlab::cli
