#include "attnlab/mixers/registry.h"

#include "attnlab/mixers/diff/diff.h"
#include "attnlab/mixers/softmax/softmax.h"
#include "attnlab/mixers/homm/homm.h"
#include "attnlab/mixers/retention/retention.h"
#include "attnlab/mixers/dijiang/dijiang.h"
#include "attnlab/mixers/deer_rnn/deer_rnn.h"

namespace attnlab::mixers {

const std::vector<MixerEntry>& mixer_registry() {
  static const std::vector<MixerEntry> table = {
      mixer_entry<SoftmaxOptions, SoftmaxAttention>(
          "softmax", "causal multi-head softmax attention (GQA; NoPE, RoPE + scalings, ALiBi + scalings, Kerple, KeyNorm, cosine, log-n, DAPE V2)",
          {Form::Ref, Form::Parallel, Form::Recurrent},
          {{"position=nope"}, {"position=rope"}, {"position=rope", "rope_style=interleaved"},
           {"position=alibi", "heads=6", "kv_heads=2"}, {"position=rope", "window=5"},
           {"position=rope", "rotary_dim=4", "kv_heads=2"},  // partial rotary: 4 of 6 features
           {"position=rope", "rotary_dim=4", "rope_scaling=dynamic_ntk", "rope_factor=4", "rope_original_length=40"},
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
           {"position=rope", "cosine=true"}, {"position=alibi", "cosine=true", "cosine_lambda=6"},
           // Kerple (learned p, a per head) and DAPE V2 on each position scheme; dape_hidden
           // kept small so the float64 ref at T = 1000 stays light. Without a bias channel the
           // scores at initialisation are so small that conv1's bias barely moves the kinks of
           // the LeakyReLU, and its gradient drowns in finite-difference noise: a fixed scale
           // of 8 gives logits of order 1.
           {"position=kerple", "kv_heads=2"},
           {"position=kerple", "dape=true", "dape_hidden=6"},
           {"position=alibi", "heads=6", "kv_heads=3", "dape=true", "dape_hidden=5", "dape_kernel=5"},
           {"position=rope", "dape=true", "dape_hidden=4", "dape_kernel=1", "attn_scale=fixed", "attn_scale_value=8"},
           {"position=nope", "dape=true", "dape_hidden=3", "attn_scale=fixed", "attn_scale_value=8"},
           {"position=alibi", "dape=true", "dape_hidden=4", "window=5"},
           {"position=rope", "dape=true", "dape_hidden=3", "dape_kernel=1", "window=4", "kv_heads=2",
            "attn_scale=fixed", "attn_scale_value=8"}}),
      mixer_entry<DiffOptions, DiffAttention>(
          "diff", "differential attention: two softmax maps, A1 - lambda A2 (GQA; every position scheme of softmax)",
          {Form::Ref, Form::Parallel, Form::Recurrent},
          {{}, {"position=nope", "heads=3"}, {"position=nope", "heads=1", "head_dim=5", "cosine=true"},
           {"position=alibi", "heads=6", "kv_heads=2", "window=5"},
           {"position=rope", "rope_style=interleaved", "kv_heads=1"},
           {"position=rope", "key_norm=true", "key_norm_learnable=true", "attn_scale=logn", "attn_original_length=16"},
           {"position=rope", "rope_scaling=dynamic_ntk", "rope_factor=4", "rope_original_length=40"},
           {"position=kerple"}, {"position=kerple", "heads=6", "kv_heads=2", "window=5"},
           {"position=rope", "rotary_dim=2", "rope_style=interleaved"}}),
      mixer_entry<HommOptions, Homm>(
          "homm", "high-order moments (HoMM): causal mean of products of gelu groups, sigmoid selection",
          {Form::Ref, Form::Parallel, Form::Recurrent},
          {{"order=1", "expand=1"}, {}, {"order=3", "expand=1"}, {"order=2", "expand=3", "bias=false"}}),
      mixer_entry<RetentionOptions, Retention>(
          "retention", "multi-scale retention (RetNet): fixed or learnable per-head decay, rotary, gated, per-head norm",
          {Form::Ref, Form::Parallel, Form::Recurrent},
          {{}, {"heads=3", "value_head_dim=4", "chunk=5", "rope_style=half", "rope_frequencies=standard"},
           {"decay_learnable=true", "rotary=false", "decay_normalize=false", "chunk=16"}}),
      mixer_entry<DijiangOptions, Dijiang>(
          "dijiang", "DCT-kernel linear attention (DiJiang): stable learnable decay or the released D1/D2",
          {Form::Ref, Form::Parallel, Form::Recurrent},
          {{}, {"features=qmc", "position=nope", "decay_learnable=false", "norm_groups=2", "chunk=5"},
           {"decay=original", "original_positions=1024", "rope_style=interleaved", "rotary_dim=4"}}),
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
