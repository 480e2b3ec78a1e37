// The model's configuration: the [model] table of a config file, with the mixer's
// options in [model.mixer] beside its `name`. The mixer's options struct comes from its
// registry entry (mixers/registry.h), so adding a mixer never touches this file.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "attnlab/io/config_schema.h"
#include "attnlab/mixers/registry.h"

namespace attnlab::model {

struct MixerConfig {
  std::string name = "softmax";
  std::unique_ptr<mixers::MixerOptions> options = mixers::find_mixer("softmax").default_options();

  MixerConfig() = default;
  MixerConfig(const MixerConfig& o) : name(o.name), options(o.options->clone()), current_(o.current_) {}
  MixerConfig& operator=(const MixerConfig& o) {
    name = o.name;
    options = o.options->clone();
    current_ = o.current_;
    return *this;
  }

  template <class V>
  void visit(V& v) {
    v.choice("name", name, mixers::mixer_names(), "token mixer (see `attnlab list mixers`)");
    // The options follow the name: a changed name starts from that mixer's defaults.
    if (current_ != name) {
      options = mixers::find_mixer(name).default_options();
      current_ = name;
    }
    options->visit(v);
  }

 private:
  std::string current_ = "softmax";
};

struct ModelConfig {
  int64_t vocab_size = 0;       // 0: taken from the tokenizer of the training data
  int64_t d_model = 256;
  int64_t n_layers = 4;
  int64_t d_ff = 0;             // 0: 4 * d_model for gelu, 8/3 * d_model rounded up to 32 for swiglu
  std::string norm = "rms";     // rms | layer
  double norm_eps = 1e-5;
  std::string mlp = "swiglu";   // swiglu | gelu
  bool tie_embeddings = true;
  int64_t max_seq_len = 0;      // 0: no limit beyond what the mixer supports
  MixerConfig mixer;

  int64_t ff_dim() const;
  void validate() const;

  template <class V>
  void visit(V& v) {
    v.field("vocab_size", vocab_size, "vocabulary size (0: from the tokenizer of the training data)",
            config::non_negative());
    v.field("d_model", d_model, "model width C", config::positive());
    v.field("n_layers", n_layers, "number of blocks", config::positive());
    v.field("d_ff", d_ff, "MLP hidden width (0: 4C for gelu, 8C/3 rounded up to 32 for swiglu)",
            config::non_negative());
    v.choice("norm", norm, {"rms", "layer"}, "normalisation before each mixer and MLP, and at the end");
    v.field("norm_eps", norm_eps, "epsilon of the norms", config::positive());
    v.choice("mlp", mlp, {"swiglu", "gelu"}, "MLP kind");
    v.field("tie_embeddings", tie_embeddings, "share the embedding matrix with the output head");
    v.field("max_seq_len", max_seq_len, "longest sequence accepted (0: no limit)", config::non_negative());
    v.section("mixer", mixer, "the token mixer and its options");
  }
};

// Builds the mixer named by `cfg` from the registry.
std::unique_ptr<mixers::Mixer> make_mixer(const MixerConfig& cfg, const mixers::MixerContext& ctx);

}  // namespace attnlab::model
