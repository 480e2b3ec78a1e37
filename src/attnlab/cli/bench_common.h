// Helpers shared by the `attnlab bench` subcommands: timing, the named model configs,
// an sgemm measured in the same run (the denominator of model FLOP utilisation), and
// building a mixer from the registry with `--set`-style options.
//
// Every result is printed as one line "<suite> <case> key=value ...", the format the
// peer scripts in bench/peers/ print too, so bench/peers/compare.py can join them.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "attnlab/core/storage.h"
#include "attnlab/mixers/mixer.h"
#include "attnlab/model/config.h"
#include "attnlab/model/params.h"

namespace attnlab::cli::bench {

// The clock every bench subcommand times with (--clock): "wall", or "cpu" = the
// process's CPU seconds divided by the thread count. On a machine other processes keep
// busy, CPU time counts only the slices this process ran; exact with one thread, while
// with several a serial section (others asleep) counts at 1/threads of its length, so
// compare cpu-clock figures only at equal thread counts, and prefer --threads 1.
void set_clock(const std::string& clock);  // "wall" | "cpu"
const std::string& clock_name();
double now_seconds();  // on the chosen clock

// Seconds of one call of f.
inline double time_once(const std::function<void()>& f) {
  double t0 = now_seconds();
  f();
  return now_seconds() - t0;
}

inline double mib(size_t bytes) { return double(bytes) / double(1 << 20); }

// A training-benchmark shape: the model and the batch.
struct NamedConfig {
  std::string name;
  int64_t n_layers, d_model, heads, seq_len, batch;
};
// "tiny" (6 layers, d=256, 8 heads, T=256, B=16) or "gpt2-small" (12, 768, 12, 1024, 4);
// an unknown name is an error listing the known ones.
NamedConfig named_config(const std::string& name);
std::vector<std::string> named_config_names();

// The GPT-style model the train and decode benchmarks (and the peers) run: LayerNorm,
// GELU MLP of width 4C, tied embeddings, the given mixer with `heads` heads (when the
// mixer has a `heads` option) and `sets` on top.
model::ModelConfig bench_model_config(const NamedConfig& nc, int64_t vocab, const std::string& mixer,
                                      const std::vector<std::string>& sets);

// Matrix-product FLOPs per token of the model's forward pass: 2 x (parameters used in
// products: blocks' projections and the head), plus causal attention's 2 T C per layer
// (q.k and p.v over T/2 keys on average). Training is 3x this (backward = 2 forwards).
double forward_flops_per_token(const model::ModelConfig& cfg, int64_t seq_len, int64_t matmul_params);

// Best GFLOP/s of cblas_sgemm for [m x k] @ [k x n] over `repeats` samples.
double sgemm_gflops(int64_t m, int64_t k, int64_t n, int repeats);

// The options for `mixer` with `heads=H` when it accepts a `heads` key (the others keep
// their defaults), then `sets`.
model::MixerConfig mixer_config(const std::string& mixer, int64_t heads, const std::vector<std::string>& sets);

// Mixers of the registry named by a comma list, or every one for "all".
std::vector<std::string> select_mixers(const std::string& list);

// Prints the header every bench subcommand starts with: kernels, BLAS, threads.
void print_runtime_header(const std::string& what);

}  // namespace attnlab::cli::bench
