// Causal multi-head softmax attention with grouped-query heads and a position scheme:
// NoPE, RoPE (half-split or interleaved) or ALiBi (Press's slopes for any head count).
//
// Module: x [B, T, C] -> q = x Wq^T [B, H, T, D], k = x Wk^T, v = x Wv^T [B, Hkv, T, D]
//         (RoPE on q and k), o = attention(q, k, v) [B, H, T, D], y = o Wo^T [B, T, C].
// The three forms differ only in how attention(q, k, v) is computed:
//   ref.cpp        scores, mask and softmax as explicit T x T matrices (autograd ops);
//   parallel.cpp   the fused, tiled kernel (ops/attention.h), memory linear in T;
//   recurrent.cpp  one query at a time against a KV cache.
#pragma once
#include <string>
#include <vector>

#include "attnlab/io/config_schema.h"
#include "attnlab/mixers/mixer.h"
#include "attnlab/ops/attention.h"
#include "attnlab/position/rope.h"

namespace attnlab::mixers {

struct SoftmaxOptions {
  int64_t heads = 4;
  int64_t kv_heads = 0;   // 0 means heads (no grouping)
  int64_t head_dim = 0;   // 0 means d_model / heads
  std::string position = "rope";  // nope | rope | alibi
  double rope_base = 10000.0;
  std::string rope_style = "half";  // half | interleaved
  int64_t window = 0;     // 0: attend to the whole prefix; else the last `window` keys
  // RoPE scalings for evaluation beyond the trained length (position/rope.h).
  std::string rope_scaling = "none";  // none | pi | ntk | dynamic_ntk | yarn
  double rope_factor = 1.0;
  int64_t rope_original_length = 0;  // 0: train.seq_len (the trainer fills it in)
  double yarn_beta_fast = 32.0;
  double yarn_beta_slow = 1.0;
  // ALiBi slope scaling (position/alibi.h; docs/MECHANISMS.md "ALiBi scaling").
  std::string alibi_scaling = "none";  // none | interpolate | ntk
  double alibi_factor = 1.0;           // a; with alibi_dynamic, the multiplier a0 below
  bool alibi_dynamic = false;          // a = max(1, a0 * L / L_train), L the current total length
  int64_t alibi_original_length = 0;   // L_train; 0: the trainer fills in train.seq_len
  // Attention-scale rule (docs/MECHANISMS.md "Attention-scale rules").
  std::string attn_scale = "inv_sqrt_d";  // inv_sqrt_d | logn | fixed
  double attn_scale_value = 1.0;          // the scale with attn_scale = "fixed"
  int64_t attn_original_length = 0;       // L_train of logn; 0: the trainer fills in train.seq_len
  // KeyNorm and cosine attention (docs/MECHANISMS.md "KeyNorm and cosine attention").
  bool key_norm = false;                  // keys L2-normalised; 1/sqrt(D) becomes the temperature
  double key_norm_temperature = 1.0;      // tau: logits = tau * q . k / |k|
  bool key_norm_learnable = false;        // tau a learned parameter per head, initialised as above
  bool cosine = false;                    // queries and keys normalised, logits * lambda
  double cosine_lambda = 0.0;             // lambda; 0: 4 ln n per query position n

  void validate(int64_t d_model) const;
  // Fills the *_original_length keys left at 0 with the training window.
  void set_training_length(int64_t seq_len) {
    for (int64_t* L : {&rope_original_length, &alibi_original_length, &attn_original_length})
      if (*L == 0) *L = seq_len;
  }

  template <class V>
  void visit(V& v) {
    v.field("heads", heads, "query heads H", config::positive());
    v.field("kv_heads", kv_heads, "key/value heads (0: = heads; must divide heads)", config::non_negative());
    v.field("head_dim", head_dim, "head dimension D (0: d_model / heads)", config::non_negative());
    v.choice("position", position, {"nope", "rope", "alibi"}, "position scheme");
    v.field("rope_base", rope_base, "RoPE base b (theta_i = b^(-2i/D))", config::number_rule("must be > 1", [](double x) { return x > 1; }));
    v.choice("rope_style", rope_style, {"half", "interleaved"}, "RoPE pairing: half-split (NeoX) or interleaved (GPT-J)");
    v.field("window", window, "sliding window in tokens (0: the whole prefix)", config::non_negative());
    v.check(kv_heads == 0 || heads % kv_heads == 0, "kv_heads", "must divide heads");
    v.choice("rope_scaling", rope_scaling, {"none", "pi", "ntk", "dynamic_ntk", "yarn"},
             "RoPE scaling for contexts beyond the trained length (docs/MECHANISMS.md)");
    v.field("rope_factor", rope_factor, "RoPE scaling factor s", config::number_rule("must be > 0", [](double x) { return x > 0; }));
    v.field("rope_original_length", rope_original_length, "trained length L_train for dynamic_ntk and yarn (0: train.seq_len)",
            config::non_negative());
    v.field("yarn_beta_fast", yarn_beta_fast, "YaRN beta_fast (rotations; no interpolation above)", config::number_rule("must be > 0", [](double x) { return x > 0; }));
    v.field("yarn_beta_slow", yarn_beta_slow, "YaRN beta_slow (rotations; full interpolation below)", config::number_rule("must be > 0", [](double x) { return x > 0; }));
    v.check(yarn_beta_fast > yarn_beta_slow, "yarn_beta_fast", "must be greater than yarn_beta_slow");
    v.check(rope_scaling == "none" || position == "rope", "rope_scaling", "needs position = \"rope\"");
    v.choice("alibi_scaling", alibi_scaling, {"none", "interpolate", "ntk"},
             "ALiBi slope scaling: none, interpolate (all slopes / a) or ntk (NTK-ALiBi, by slope rank)");
    v.field("alibi_factor", alibi_factor, "ALiBi scaling factor a (>= 1; a0 when dynamic)",
            config::at_least(1.0));
    v.field("alibi_dynamic", alibi_dynamic,
            "ALiBi: a = max(1, alibi_factor * L / alibi_original_length), L the length so far");
    v.field("alibi_original_length", alibi_original_length,
            "ALiBi training length L_train (0: train.seq_len, filled in at training)", config::non_negative());
    v.choice("attn_scale", attn_scale, {"inv_sqrt_d", "logn", "fixed"},
             "logit scale: 1/sqrt(D), log_{L_train}(n)/sqrt(D) per query position n, or attn_scale_value");
    v.field("attn_scale_value", attn_scale_value, "logit scale with attn_scale = \"fixed\"", config::positive());
    v.field("attn_original_length", attn_original_length,
            "L_train of attn_scale = \"logn\" (0: train.seq_len, filled in at training)", config::non_negative());
    v.field("key_norm", key_norm, "KeyNorm: L2-normalise keys, logit scale tau instead of 1/sqrt(D)");
    v.field("key_norm_temperature", key_norm_temperature, "KeyNorm temperature tau", config::positive());
    v.field("key_norm_learnable", key_norm_learnable,
            "KeyNorm: tau learned per head (starts at key_norm_temperature)");
    v.check(!key_norm_learnable || key_norm, "key_norm_learnable", "needs key_norm = true");
    v.field("cosine", cosine, "cosine attention: L2-normalise queries and keys, logits * cosine_lambda");
    v.field("cosine_lambda", cosine_lambda, "cosine attention scale (0: 4 ln n per query position n)",
            config::non_negative());
    v.check(!(cosine && key_norm), "cosine", "cosine attention already normalises keys: drop key_norm");
    v.check(!cosine || attn_scale == "inv_sqrt_d", "attn_scale", "cosine attention sets its own scale");
    v.check(!key_norm || attn_scale != "fixed", "attn_scale",
            "\"fixed\" conflicts with key_norm (set key_norm_temperature instead)");
  }
};

// The KV cache: keys and values of every token seen, [B, Hkv, len, D].
class KVCache : public MixerState {
 public:
  int64_t length() const override { return len; }
  size_t bytes() const override;
  // Appends k_new, v_new [B, Hkv, t, D] and returns views of the whole cache. Under grad
  // mode the cache is rebuilt by concatenation (so gradients reach earlier tokens);
  // otherwise it grows in place with doubling capacity.
  std::pair<Tensor, Tensor> append(const Tensor& k_new, const Tensor& v_new);

  Tensor k, v;  // capacity buffers (no-grad) or full tensors (grad)
  int64_t len = 0;
};

// ---- the attention core in each form: q [B, H, T, D], k/v [B, Hkv, T, D] -> [B, H, T, D] ----
// With a cache, earlier keys and values come first and queries sit at the end.
Tensor softmax_attention_ref(const Tensor& q, const Tensor& k, const Tensor& v,
                             const ops::AttentionOptions& opt);
Tensor softmax_attention_parallel(const Tensor& q, const Tensor& k, const Tensor& v,
                                  const ops::AttentionOptions& opt);
Tensor softmax_attention_recurrent(const Tensor& q, const Tensor& k, const Tensor& v,
                                   const ops::AttentionOptions& opt, KVCache& cache);
// The recurrent form when the cache has already been extended (dynamic NTK re-rotates the
// whole cache each call): the T queries are the last T of k_all's positions, taken one at
// a time against the keys up to each.
Tensor softmax_attention_recurrent_prefix(const Tensor& q, const Tensor& k_all, const Tensor& v_all,
                                          const ops::AttentionOptions& opt);

// The attention weights of the ref definition, [B, H, Tq, Tk] float64 (explicit loops in
// double; rows of masked keys are 0), for diagnostics (mixers::AttentionObserver).
Tensor softmax_attention_weights(const Tensor& q, const Tensor& k, const ops::AttentionOptions& opt);

class SoftmaxAttention : public Mixer {
 public:
  SoftmaxAttention(const SoftmaxOptions& opt, const MixerContext& ctx);
  Tensor forward(const Tensor& x, Form form, MixerState* state) override;
  std::unique_ptr<MixerState> make_state() const override { return std::make_unique<KVCache>(); }
  bool supports(Form) const override { return true; }

 private:
  SoftmaxOptions opt_;
  int64_t layer_ = 0;  // reported to an AttentionObserver
  int64_t d_model_, heads_, kv_heads_, head_dim_;
  position::RopeParams rope_;
  std::vector<float> alibi_slopes_;
  std::vector<float> alibi_slopes_for(double factor) const;
  std::shared_ptr<model::Param> wq_, wk_, wv_, wo_;
  std::shared_ptr<model::Param> key_norm_tau_;  // [H], only with key_norm_learnable
};

}  // namespace attnlab::mixers
