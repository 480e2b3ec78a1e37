// Builds one mixer from the registry, on its own parameter store, the way the model does:
// option settings as `--set`-style "key=value" strings on top of the mixer's defaults.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "attnlab/io/config_schema.h"
#include "attnlab/mixers/mixer.h"
#include "attnlab/model/config.h"
#include "attnlab/model/params.h"

namespace attnlab::testing {

struct BuiltMixer {
  model::ParamStore store;
  std::unique_ptr<mixers::Mixer> mixer;
};

struct MixerPlace {
  int64_t layer = 1, n_layers = 2;  // depth matters to some initialisations
  std::string prefix = "mixer.";
};

// Parameters in `dtype`, initialised from `seed`, or copied from `values` when given.
inline std::unique_ptr<BuiltMixer> build_mixer(const std::string& name, const std::vector<std::string>& sets,
                                               int64_t width, DType dtype, uint64_t seed,
                                               const MixerPlace& place = {}, const Tensor* values = nullptr) {
  auto cfg = config::parse_config_text<model::MixerConfig>("name = \"" + name + "\"", "test variant", sets);
  auto b = std::make_unique<BuiltMixer>();
  mixers::MixerContext ctx{width, place.layer, place.n_layers, place.prefix, &b->store};
  b->mixer = model::make_mixer(cfg, ctx);
  b->store.allocate(seed, dtype);
  if (values) b->store.values().copy_from(*values);
  return b;
}

}  // namespace attnlab::testing
