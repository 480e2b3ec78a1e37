// The model's configuration: the [model] table of a config file. The mixer's own
// options sit in [model.mixer] beside its `name`; they are parsed by the mixer's
// registry entry (mixers/registry.h), so adding a mixer never touches this file.
#pragma once
#include <cstdint>
#include <string>

#include <toml++/toml.h>

namespace attnlab::model {

struct MixerConfig {
  std::string name = "softmax";
  toml::table options;  // every key of [model.mixer] except `name`
};

struct ModelConfig {
  int64_t vocab_size = 259;     // set from the tokenizer (byte-level: 256 + BOS, EOS, PAD)
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
};

}  // namespace attnlab::model
