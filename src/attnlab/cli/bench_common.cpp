#include "attnlab/cli/bench_common.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "attnlab/core/error.h"
#include "attnlab/core/parallel.h"
#include "attnlab/core/rng.h"
#include "attnlab/core/tensor.h"
#include "attnlab/io/config_schema.h"
#include "attnlab/kernels/cpu/blas.h"
#include "attnlab/kernels/cpu/build_info.h"
#include "attnlab/mixers/registry.h"

namespace attnlab::cli::bench {

namespace {
bool& use_cpu_clock() {
  static bool cpu = false;
  return cpu;
}

const std::vector<NamedConfig>& configs() {
  static const std::vector<NamedConfig> table = {
      {"tiny", 6, 256, 8, 256, 16},
      {"gpt2-small", 12, 768, 12, 1024, 4},
  };
  return table;
}
}  // namespace

void set_clock(const std::string& clock) {
  ATTNLAB_CHECK(clock == "wall" || clock == "cpu", "bench --clock: '", clock, "' is not wall or cpu");
  use_cpu_clock() = clock == "cpu";
}

const std::string& clock_name() {
  static const std::string wall = "wall", cpu = "cpu";
  return use_cpu_clock() ? cpu : wall;
}

double now_seconds() {
  if (use_cpu_clock()) {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    double s = double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
    return s / double(num_threads());
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::vector<std::string> named_config_names() {
  std::vector<std::string> names;
  for (const auto& c : configs()) names.push_back(c.name);
  return names;
}

NamedConfig named_config(const std::string& name) {
  for (const auto& c : configs())
    if (c.name == name) return c;
  std::string known;
  for (const auto& n : named_config_names()) known += (known.empty() ? "" : ", ") + n;
  throw Error(cat("bench: unknown config '", name, "' (known: ", known, ")"));
}

model::MixerConfig mixer_config(const std::string& mixer, int64_t heads, const std::vector<std::string>& sets) {
  const std::string text = "name = \"" + mixer + "\"";
  std::vector<std::string> with_heads = {"heads=" + std::to_string(heads)};
  with_heads.insert(with_heads.end(), sets.begin(), sets.end());
  // Mixers without a `heads` key reject it as unknown: they keep their own default.
  bool has_heads = false;
  try {
    config::parse_config_text<model::MixerConfig>(text, "bench mixer", {with_heads[0]});
    has_heads = true;
  } catch (const Error&) {
  }
  return config::parse_config_text<model::MixerConfig>(text, "bench mixer " + mixer, has_heads ? with_heads : sets);
}

model::ModelConfig bench_model_config(const NamedConfig& nc, int64_t vocab, const std::string& mixer,
                                      const std::vector<std::string>& sets) {
  model::ModelConfig cfg;
  cfg.vocab_size = vocab;
  cfg.d_model = nc.d_model;
  cfg.n_layers = nc.n_layers;
  cfg.norm = "layer";
  cfg.mlp = "gelu";
  cfg.tie_embeddings = true;
  cfg.mixer = mixer_config(mixer, nc.heads, sets);
  cfg.validate();
  return cfg;
}

double forward_flops_per_token(const model::ModelConfig& cfg, int64_t seq_len, int64_t matmul_params) {
  return 2.0 * double(matmul_params) + 2.0 * double(cfg.n_layers) * double(seq_len) * double(cfg.d_model);
}

double sgemm_gflops(int64_t m, int64_t k, int64_t n, int repeats) {
  Rng rng(7);
  Tensor a = Tensor::randn({m, k}, rng), b = Tensor::randn({k, n}, rng), c = Tensor::zeros({m, n});
  auto run = [&] {
    kernels::cpu::gemm(false, false, m, n, k, 1.0f, a.data<float>(), k, b.data<float>(), n, 0.0f,
                       c.data<float>(), n);
  };
  run();  // warm-up: OpenBLAS buffers, caches
  double best = 1e300;
  for (int r = 0; r < repeats; ++r) best = std::min(best, time_once(run));
  return 2.0 * double(m) * double(k) * double(n) / best / 1e9;
}

std::vector<std::string> select_mixers(const std::string& list) {
  if (list == "all") return mixers::mixer_names();
  std::vector<std::string> out;
  size_t at = 0;
  while (at <= list.size()) {
    size_t comma = list.find(',', at);
    std::string name = list.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    mixers::find_mixer(name);  // an unknown name is an error listing the known ones
    out.push_back(name);
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return out;
}

void print_runtime_header(const std::string& what) {
  std::printf("# attnlab bench %s (clock: %s)\n# %s\n", what.c_str(), clock_name().c_str(),
              kernels::cpu::runtime_info().c_str());
  std::fflush(stdout);
}

}  // namespace attnlab::cli::bench
