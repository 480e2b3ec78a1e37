#include "attnlab/mixers/registry.h"

#include "attnlab/mixers/softmax/softmax.h"
#include "attnlab/mixers/deer_rnn/deer_rnn.h"

namespace attnlab::mixers {

const std::vector<MixerEntry>& mixer_registry() {
  static const std::vector<MixerEntry> table = {
      mixer_entry<SoftmaxOptions, SoftmaxAttention>(
          "softmax", "causal multi-head softmax attention (GQA; NoPE, RoPE + scalings, ALiBi + scalings, KeyNorm, cosine, log-n)",
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
           {"position=rope", "rope_scaling=yarn", "rope_factor=4", "rope_original_length=16"},
           {"position=alibi", "heads=6", "alibi_scaling=ntk", "alibi_factor=2"},
           // Dynamic: L_train 64 makes a > 1 at T = 127 and 1000 (forms vs ref) but 1 in the
           // state test (T = 37), whose split-equals-whole property dynamic scaling gives up.
           {"position=alibi", "heads=4", "kv_heads=2", "alibi_scaling=interpolate", "alibi_dynamic=true",
            "alibi_original_length=64"},
           {"attn_scale=logn", "attn_original_length=16"},
           {"position=alibi", "attn_scale=fixed", "attn_scale_value=0.3"},
           {"position=rope", "key_norm=true", "key_norm_temperature=2", "attn_scale=logn",
            "attn_original_length=16"},
           {"position=nope", "key_norm=true", "kv_heads=2"},
           {"position=rope", "key_norm=true", "key_norm_learnable=true", "key_norm_temperature=3"},
           {"position=rope", "cosine=true"}, {"position=alibi", "cosine=true", "cosine_lambda=6"}}),
      mixer_entry<DeerRnnOptions, DeerRnn>(
          "deer_rnn", "non-linear RNN (GRU or tanh cell) trained in parallel by Newton iterations (DEER, quasi-DEER, ELK)",
          {Form::Ref, Form::Parallel, Form::Recurrent},
          {{}, {"cell=tanh"}, {"jacobian=diagonal"}, {"cell=tanh", "jacobian=diagonal", "elk_sigma2=1"},
           {"heads=3", "scan_chunks=5"}, {"cell=tanh", "jacobian=diagonal", "head_dim=5", "scan_chunks=4"}}),
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
