// The position schemes and logit-scale rules of the softmax mixer (NoPE, RoPE and its
// scalings, ALiBi and its scalings, KeyNorm, cosine attention, log-n and fixed scales,
// sliding window), as one unit that every mixer built from softmax attention maps shares:
// the softmax mixer itself and the differential mixer (mixers/diff/). The options are a
// base struct whose keys sit flat in [model.mixer]; AttentionPosition turns the options
// into what the attention core needs: q and k with positions applied, and the kernel's
// ops::AttentionOptions (scale, causal, ALiBi slopes, window).
#pragma once
#include <string>
#include <vector>

#include "attnlab/io/config_schema.h"
#include "attnlab/mixers/mixer.h"
#include "attnlab/ops/attention.h"
#include "attnlab/position/rope.h"

namespace attnlab::mixers {

struct AttentionPositionOptions {
  std::string position = "rope";  // nope | rope | alibi | kerple (kerple's parameters: the mixer's)
  double rope_base = 10000.0;
  std::string rope_style = "half";  // half | interleaved
  int64_t rotary_dim = 0;  // features of each head RoPE rotates (0: all); the rest pass unrotated
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

  // The rules between these keys that visit() cannot state (they need values the
  // trainer fills in); the mixer's validate() calls it.
  void validate_position() const;
  // Fills the *_original_length keys left at 0 with the training window.
  void set_training_length(int64_t seq_len) {
    for (int64_t* L : {&rope_original_length, &alibi_original_length, &attn_original_length})
      if (*L == 0) *L = seq_len;
  }

  template <class V>
  void visit_position(V& v) {
    v.choice("position", position, {"nope", "rope", "alibi", "kerple"},
             "position scheme (kerple: learned -p log(1 + a |i - j|) per head)");
    v.field("rope_base", rope_base, "RoPE base b (theta_i = b^(-2i/D))", config::number_rule("must be > 1", [](double x) { return x > 1; }));
    v.choice("rope_style", rope_style, {"half", "interleaved"}, "RoPE pairing: half-split (NeoX) or interleaved (GPT-J)");
    v.field("rotary_dim", rotary_dim,
            "partial rotary: the first rotary_dim features of each head are rotated, the rest carry no position "
            "(0: all; even, at most the head dimension; GPT-NeoX/Pythia rotate 25%)",
            config::non_negative());
    v.check(rotary_dim % 2 == 0, "rotary_dim", "must be even (RoPE rotates pairs of features)");
    v.check(rotary_dim == 0 || position == "rope", "rotary_dim", "needs position = \"rope\"");
    v.field("window", window, "sliding window in tokens (0: the whole prefix)", config::non_negative());
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

// The options applied: built once per mixer, used at every call.
class AttentionPosition {
 public:
  // q_heads: the heads of the q given to prepare() (one learned KeyNorm temperature
  // each); slope_heads: the query heads of each attention call (one ALiBi slope each);
  // head_dim: D of q and k.
  AttentionPosition(const AttentionPositionOptions& opt, int64_t q_heads, int64_t slope_heads, int64_t head_dim);
  // Declares the learned KeyNorm temperature ("<prefix>key_norm.temperature" [q_heads])
  // when asked for; call it after the mixer's own parameters so theirs keep their place.
  void declare_parameters(const MixerContext& ctx);

  struct Prepared {
    Tensor q, k;              // positions applied (k unrotated when rerotates_cache())
    ops::AttentionOptions ao; // scale, causal, ALiBi slopes, window
  };
  // q [B, q_heads, T, D], k [B, Hk, T, D]: the new tokens at positions start .. start+T-1.
  Prepared prepare(Tensor q, Tensor k, int64_t start) const;

  // Dynamic NTK: the frequencies depend on the total length L, so a cache holds
  // unrotated keys and the whole cache is rotated again at each call.
  bool rerotates_cache() const;
  Tensor rotate_cached_keys(const Tensor& k_all, int64_t length) const;

 private:
  std::vector<float> alibi_slopes_for(double factor) const;

  AttentionPositionOptions opt_;
  int64_t q_heads_, slope_heads_, head_dim_;
  position::RopeParams rope_;
  std::vector<float> alibi_slopes_;
  std::shared_ptr<model::Param> key_norm_tau_;  // [q_heads], only with key_norm_learnable
};

}  // namespace attnlab::mixers
