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

  void validate(int64_t d_model) const;

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

class SoftmaxAttention : public Mixer {
 public:
  SoftmaxAttention(const SoftmaxOptions& opt, const MixerContext& ctx);
  Tensor forward(const Tensor& x, Form form, MixerState* state) override;
  std::unique_ptr<MixerState> make_state() const override { return std::make_unique<KVCache>(); }
  bool supports(Form) const override { return true; }

 private:
  SoftmaxOptions opt_;
  int64_t d_model_, heads_, kv_heads_, head_dim_;
  position::RopeParams rope_;
  std::vector<float> alibi_slopes_;
  std::shared_ptr<model::Param> wq_, wk_, wv_, wo_;
};

}  // namespace attnlab::mixers
