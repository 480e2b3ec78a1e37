// Config structs for the config_schema tests: every field type, nested sections three
// deep, a choice, rules, a cross-field check and a section chosen by a choice's value.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "attnlab/io/config_schema.h"

namespace attnlab::config::test {

struct RetentionOpts {
  double gamma = 0.96875;
  template <class V> void visit(V& v) { v.field("gamma", gamma, "decay per step", in_half_open(0, 1)); }
  bool operator==(const RetentionOpts&) const = default;
};

struct MixerCfg {
  std::string name = "softmax";
  int64_t n_heads = 4;
  double rope_base = 10000;
  RetentionOpts retention;
  template <class V> void visit(V& v) {
    v.choice("name", name, {"softmax", "diff", "retention"}, "token mixer");
    v.field("n_heads", n_heads, "attention heads", positive());
    v.field("rope_base", rope_base, "RoPE base frequency", positive());
    // Only a retention mixer has retention options; elsewhere they are unknown keys.
    if (name == "retention") v.section("retention", retention, "retention options");
  }
  bool operator==(const MixerCfg&) const = default;
};

struct ModelCfg {
  int64_t d_model = 64;
  int64_t n_layers = 2;
  bool tie_embeddings = true;
  std::vector<int64_t> windows = {16, 32};
  MixerCfg mixer;
  template <class V> void visit(V& v) {
    v.field("d_model", d_model, "model width", positive());
    v.field("n_layers", n_layers, "number of blocks", in_range(1, 64));
    v.field("tie_embeddings", tie_embeddings, "share input and output embeddings");
    v.field("windows", windows, "local attention windows", positive());
    v.section("mixer", mixer, "the token mixer");
    v.check(d_model % mixer.n_heads == 0, "d_model", "must be divisible by mixer.n_heads");
  }
  bool operator==(const ModelCfg&) const = default;
};

struct TrainCfg {
  double lr = 3e-4;
  std::vector<double> betas = {0.9, 0.95};
  int64_t steps = 1000;
  std::string out_dir = "runs/default";
  std::vector<std::string> tags;
  template <class V> void visit(V& v) {
    v.field("lr", lr, "peak learning rate", positive());
    v.field("betas", betas, "Adam betas", in_half_open(0, 1));
    v.field("steps", steps, "optimizer steps", non_negative());
    v.field("out_dir", out_dir, "output directory", non_empty());
    v.field("tags", tags, "free-form labels",
            string_rule("must not contain spaces", [](std::string_view s) { return s.find(' ') == s.npos; }));
  }
  bool operator==(const TrainCfg&) const = default;
};

struct ExperimentCfg {
  std::string name = "exp";
  int64_t seed = 1;
  ModelCfg model;
  TrainCfg train;
  template <class V> void visit(V& v) {
    v.field("name", name, "experiment name");
    v.field("seed", seed, "random seed");
    v.section("model", model, "model shape");
    v.section("train", train);
  }
  bool operator==(const ExperimentCfg&) const = default;
};

}  // namespace attnlab::config::test
