#include "attnlab/mixers/registry.h"

#include "attnlab/mixers/softmax/softmax.h"

namespace attnlab::mixers {

const std::vector<MixerEntry>& mixer_registry() {
  static const std::vector<MixerEntry> table = {
      mixer_entry<SoftmaxOptions, SoftmaxAttention>(
          "softmax", "causal multi-head softmax attention (GQA; NoPE, RoPE, ALiBi)",
          {Form::Ref, Form::Parallel, Form::Recurrent},
          {{"position=nope"}, {"position=rope"}, {"position=rope", "rope_style=interleaved"},
           {"position=alibi", "heads=6", "kv_heads=2"}, {"position=rope", "window=5"},
           // RoPE scalings. dynamic_ntk's L_train = 40 keeps the 37-token state test unscaled
           // (a call's frequencies depend on its total length, so earlier rows differ by
           // design); the forms are compared at 63, 127 and 1000, where it scales.
           // mixers/softmax/rope_scaling_test.cpp checks its decoding and gradients scaled.
           {"position=rope", "rope_scaling=pi", "rope_factor=2"},
           {"position=rope", "rope_scaling=ntk", "rope_factor=4", "rope_style=interleaved"},
           {"position=rope", "rope_scaling=dynamic_ntk", "rope_factor=4", "rope_original_length=40"},
           {"position=rope", "rope_scaling=yarn", "rope_factor=4", "rope_original_length=16"}}),
  };
  return table;
}

std::vector<std::string> mixer_names() {
  std::vector<std::string> names;
  for (const auto& e : mixer_registry()) names.push_back(e.name);
  return names;
}

const MixerEntry& find_mixer(const std::string& name) {
  for (const auto& e : mixer_registry())
    if (e.name == name) return e;
  std::string known;
  for (const auto& n : mixer_names()) known += (known.empty() ? "" : ", ") + n;
  throw Error(cat("unknown mixer '", name, "' (known: ", known, ")"));
}

}  // namespace attnlab::mixers
