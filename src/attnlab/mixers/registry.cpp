#include "attnlab/mixers/registry.h"

#include "attnlab/mixers/softmax/softmax.h"

namespace attnlab::mixers {

const std::vector<MixerEntry>& mixer_registry() {
  static const std::vector<MixerEntry> table = {
      mixer_entry<SoftmaxOptions, SoftmaxAttention>(
          "softmax", "causal multi-head softmax attention (GQA; NoPE, RoPE, ALiBi)",
          {Form::Ref, Form::Parallel, Form::Recurrent},
          {{"position=nope"}, {"position=rope"}, {"position=rope", "rope_style=interleaved"},
           {"position=alibi", "heads=6", "kv_heads=2"}, {"position=rope", "window=5"}}),
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
