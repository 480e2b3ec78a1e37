// attnlab bench train | decode: whole-model figures.
//
// train: the training step the trainer runs (zero gradients, forward, cross-entropy,
//   backward, clipping, AdamW over the flat buffers) on random tokens, for a named
//   config. Reports tokens/s and model FLOP utilisation against an sgemm measured in the
//   same run on the model's MLP shape, and against a nominal peak (--peak). Also the
//   allocator's high-water mark and how many large blocks the measured steps had to
//   fault in fresh (0 once the caching allocator is warm).
// decode: one token at a time with the recurrent form and a decode state (a KV cache for
//   softmax) at several context lengths, for every registered mixer with a recurrent
//   form. The context is filled by a parallel-form prefill that continues the same state,
//   so the longest context pays one prefill.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "attnlab/autograd/node.h"
#include "attnlab/cli/bench_common.h"
#include "attnlab/cli/commands.h"
#include "attnlab/core/error.h"
#include "attnlab/core/parallel.h"
#include "attnlab/core/rng.h"
#include "attnlab/mixers/registry.h"
#include "attnlab/model/lm.h"
#include "attnlab/train/adamw.h"

namespace attnlab::cli {

namespace {

Tensor random_tokens(int64_t b, int64_t t, int64_t vocab, Rng& rng) {
  Tensor u = Tensor::uniform({b, t}, rng, 0.0, double(vocab));
  std::vector<int32_t> ids;
  for (double x : u.to_vector()) ids.push_back(int32_t(std::min<double>(x, double(vocab - 1))));
  return Tensor::from_vector(ids, {b, t});
}

// Parameters that enter matrix products: every matrix except the embedding table, plus
// the head (the tied embedding counts once, as the head).
int64_t matmul_params(const model::LanguageModel& m) {
  int64_t n = 0;
  for (const auto& p : m.params().params())
    if (p->shape.size() >= 2 && p->name != "embed.weight") n += shape_numel(p->shape);
  if (m.config().tie_embeddings) n += m.config().vocab_size * m.config().d_model;
  return n;
}

struct TrainOptions {
  std::vector<std::string> configs{"tiny"};
  int steps = 3;
  int64_t vocab = 50257;
  std::string mixer = "softmax";
  std::vector<std::string> sets;
  double peak = 450.0;
  int64_t layers = 0, batch = 0, seq_len = 0;  // > 0 overrides the named config's
};

void run_train(const TrainOptions& o) {
  bench::print_runtime_header("train");
  std::printf("# training step: forward + cross-entropy + backward + clip + AdamW, float32, random tokens, "
              "vocab %lld, mixer %s; best of %d steps after 1 warm-up step; model FLOPs = 3 x forward "
              "(2 x matmul parameters + 2 T C per layer for causal attention) per token; peak %.0f GFLOP/s "
              "(--peak; machine.md's 2-core Zen 5)\n",
              (long long)o.vocab, o.mixer.c_str(), o.steps, o.peak);
  for (const std::string& name : o.configs) {
    bench::NamedConfig nc = bench::named_config(name);
    if (o.layers > 0) nc.n_layers = o.layers;
    if (o.batch > 0) nc.batch = o.batch;
    if (o.seq_len > 0) nc.seq_len = o.seq_len;
    model::ModelConfig cfg = bench::bench_model_config(nc, o.vocab, o.mixer, o.sets);
    model::LanguageModel model(cfg, 1);
    train::AdamW opt(model.params(), train::AdamWParams{});
    Rng rng(11);
    Tensor x = random_tokens(nc.batch, nc.seq_len, o.vocab, rng);
    Tensor y = random_tokens(nc.batch, nc.seq_len, o.vocab, rng);
    double loss = 0;
    auto step = [&] {
      model.params().zero_grads();
      Tensor l = model.loss(x, y);
      loss = l.item();
      l.backward();
      train::clip_grad_norm(model.params(), 1.0);
      opt.step(1e-4);
    };
    const double sgemm = bench::sgemm_gflops(nc.batch * nc.seq_len, nc.d_model, 4 * nc.d_model, 3);
    allocator_reset_peak();
    const size_t base = allocator_stats().bytes_in_use;
    double first = bench::time_once(step);
    size_t fresh0 = allocator_stats().fresh_large_allocations;
    double best = 1e300, total = 0;
    for (int s = 0; s < o.steps; ++s) {
      double t = bench::time_once(step);
      best = std::min(best, t);
      total += t;
    }
    size_t fresh = allocator_stats().fresh_large_allocations - fresh0;
    const double peak_mib = bench::mib(allocator_stats().peak_bytes_in_use - base);
    const double tokens = double(nc.batch * nc.seq_len);
    const double flops = 3.0 * bench::forward_flops_per_token(cfg, nc.seq_len, matmul_params(model)) * tokens;
    const double gflops = flops / best / 1e9;
    std::printf("train %s layers=%lld d=%lld heads=%lld T=%lld B=%lld params=%lld tokens/s=%.0f "
                "mean_tokens/s=%.0f ms/step=%.1f first_step_ms=%.0f model_GFLOP/s=%.1f sgemm_GFLOP/s=%.1f "
                "sgemm_shape=%lldx%lldx%lld mfu_sgemm=%.1f%% mfu_peak=%.1f%% peak_MiB=%.0f "
                "fresh_blocks/step=%.2f loss=%.3f\n",
                name.c_str(), (long long)nc.n_layers, (long long)nc.d_model, (long long)nc.heads,
                (long long)nc.seq_len, (long long)nc.batch, (long long)model.params().numel(), tokens / best,
                tokens * o.steps / total, best * 1e3, first * 1e3, gflops, sgemm,
                (long long)(nc.batch * nc.seq_len), (long long)nc.d_model, (long long)(4 * nc.d_model),
                100.0 * gflops / sgemm, 100.0 * gflops / o.peak, peak_mib, double(fresh) / o.steps, loss);
    std::fflush(stdout);
  }
}

struct DecodeOptions {
  std::string config = "tiny";
  std::string mixers = "all";
  std::vector<int64_t> contexts{256, 1024, 4096, 16384};
  int tokens = 32;
  int64_t vocab = 50257;
  double max_prefill_s = 300.0;
};

void run_decode(const DecodeOptions& o) {
  bench::print_runtime_header("decode");
  bench::NamedConfig nc = bench::named_config(o.config);
  std::printf("# decoding, batch 1, float32, config %s (layers %lld, d %lld), vocab %lld: median time of %d "
              "single-token recurrent steps after a parallel prefill to the context length; state = what "
              "the decode state holds (KV cache) for all layers\n",
              o.config.c_str(), (long long)nc.n_layers, (long long)nc.d_model, (long long)o.vocab, o.tokens);
  std::vector<int64_t> contexts = o.contexts;
  std::sort(contexts.begin(), contexts.end());
  autograd::NoGradGuard no_grad;
  for (const std::string& name : bench::select_mixers(o.mixers)) {
    const auto& forms = mixers::find_mixer(name).forms;
    if (std::find(forms.begin(), forms.end(), mixers::Form::Recurrent) == forms.end()) {
      std::printf("# %s: no recurrent form, skipped\n", name.c_str());
      continue;
    }
    model::LanguageModel model(bench::bench_model_config(nc, o.vocab, name, {}), 1);
    model::DecodeState state = model.make_state();
    Rng rng(5);
    double prefill_rate = 0;  // tokens/s of the last prefill chunk, to predict the next
    int64_t last_len = 1;
    for (int64_t ctx : contexts) {
      int64_t need = ctx - state.length();
      if (need > 0) {
        // An upper bound: the last prefill's rate scaled as if all of its cost grew with the
        // context (attention's part does; the projections' and MLP's do not).
        double predicted = prefill_rate > 0 ? double(need) / prefill_rate * double(ctx) / double(last_len) : 0;
        if (predicted > o.max_prefill_s) {
          std::printf("# %s ctx=%lld: skipped, the prefill could take up to %.0f s (> --max-prefill %.0f s)\n",
                      name.c_str(), (long long)ctx, predicted, o.max_prefill_s);
          break;
        }
        const int64_t chunk = 2048;
        double t0 = bench::now_seconds();
        for (int64_t done = 0; done < need; done += chunk) {
          int64_t n = std::min(chunk, need - done);
          model.forward(random_tokens(1, n, o.vocab, rng), mixers::Form::Parallel, &state);
        }
        prefill_rate = double(need) / std::max(bench::now_seconds() - t0, 1e-9);
        last_len = std::max<int64_t>(ctx, 1);
      }
      std::vector<double> times;
      Tensor tok = random_tokens(1, 1, o.vocab, rng);
      for (int i = 0; i < o.tokens; ++i)
        times.push_back(bench::time_once([&] { model.forward(tok, mixers::Form::Recurrent, &state); }));
      std::sort(times.begin(), times.end());
      double median = times[times.size() / 2];
      size_t bytes = state.bytes();
      std::printf("decode %s ctx=%lld ms/token=%.3f tokens/s=%.1f state_MiB=%.2f state_bytes/token=%.0f\n",
                  name.c_str(), (long long)ctx, median * 1e3, 1.0 / median, bench::mib(bytes),
                  double(bytes) / double(state.length()));
      std::fflush(stdout);
    }
  }
}

}  // namespace

void add_bench_model_commands(CLI::App& bench) {
  auto clock = std::make_shared<std::string>("wall");
  auto topt = std::make_shared<TrainOptions>();
  auto* train = bench.add_subcommand("train", "Training-step tokens/s and model FLOP utilisation of named configs");
  train->add_option("--config", topt->configs, "Named configs: tiny, gpt2-small")
      ->delimiter(',')
      ->capture_default_str();
  train->add_option("--steps", topt->steps, "Measured steps (after one warm-up step)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  train->add_option("--vocab", topt->vocab, "Vocabulary size (GPT-2's 50257; 259 for bytes)")
      ->capture_default_str()
      ->check(CLI::Range(2, 1 << 22));
  train->add_option("--layers", topt->layers, "Override the config's layer count")->check(CLI::Range(1, 1000));
  train->add_option("--batch", topt->batch, "Override the config's batch size")->check(CLI::Range(1, 1 << 16));
  train->add_option("--seq-len", topt->seq_len, "Override the config's sequence length")
      ->check(CLI::Range(1, 1 << 22));
  train->add_option("--mixer", topt->mixer, "Token mixer")->capture_default_str();
  train->add_option("--set", topt->sets, "Mixer option key=value (repeatable)");
  train->add_option("--peak", topt->peak, "Nominal fp32 peak of the machine in GFLOP/s")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  train->add_option("--clock", *clock, "wall, or cpu: CPU seconds per thread (steadier on a busy machine)")
      ->capture_default_str()
      ->check(CLI::IsMember({"wall", "cpu"}));
  train->callback([clock, topt] {
    bench::set_clock(*clock);
    run_train(*topt);
  });

  auto dopt = std::make_shared<DecodeOptions>();
  auto contexts = std::make_shared<std::string>("256,1024,4096,16384");
  auto* decode = bench.add_subcommand("decode", "Decode tokens/s and state memory against context length");
  decode->add_option("--config", dopt->config, "Named config of the model")->capture_default_str();
  decode->add_option("--mixers", dopt->mixers, "Comma list of mixers, or all")->capture_default_str();
  decode->add_option("--contexts", *contexts, "Context lengths")->capture_default_str();
  decode->add_option("--tokens", dopt->tokens, "Decoded tokens per context (the median is reported)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  decode->add_option("--vocab", dopt->vocab, "Vocabulary size")->capture_default_str()->check(CLI::Range(2, 1 << 22));
  decode->add_option("--max-prefill", dopt->max_prefill_s, "Skip contexts whose prefill would take longer (s)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  decode->add_option("--clock", *clock, "wall, or cpu: CPU seconds per thread (steadier on a busy machine)")
      ->capture_default_str()
      ->check(CLI::IsMember({"wall", "cpu"}));
  decode->callback([clock, dopt, contexts] {
    bench::set_clock(*clock);
    dopt->contexts = parse_int_list(*contexts, "--contexts");
    ATTNLAB_CHECK(!dopt->contexts.empty(), "bench decode --contexts: give at least one length");
    for (int64_t c : dopt->contexts) ATTNLAB_CHECK(c >= 1, "bench decode --contexts: ", c, " is not positive");
    run_decode(*dopt);
  });
}

}  // namespace attnlab::cli
