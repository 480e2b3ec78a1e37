// Causal multi-head softmax attention with grouped-query heads and a position scheme:
// NoPE, RoPE (half-split or interleaved), ALiBi (Press's slopes for any head count) or
// Kerple (a learned -p log(1 + a |i - j|) per head), and optionally DAPE processing the
// scores (scores.h).
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
#include "attnlab/mixers/softmax/attention_position.h"
#include "attnlab/mixers/softmax/scores.h"
#include "attnlab/ops/attention.h"

namespace attnlab::mixers {

struct SoftmaxOptions : AttentionPositionOptions {
  int64_t heads = 4;
  int64_t kv_heads = 0;   // 0 means heads (no grouping)
  int64_t head_dim = 0;   // 0 means d_model / heads
  // DAPE V2 score processing (scores.h; docs/MECHANISMS.md "DAPE").
  bool dape = false;
  int64_t dape_hidden = 32;               // hidden channels of the 1 x k convolutions
  int64_t dape_kernel = 3;                // k along the key axis; 1 is DAPE V1 (a per-entry MLP)

  void validate(int64_t d_model) const;

  template <class V>
  void visit(V& v) {
    v.field("heads", heads, "query heads H", config::positive());
    v.field("kv_heads", kv_heads, "key/value heads (0: = heads; must divide heads)", config::non_negative());
    v.field("head_dim", head_dim, "head dimension D (0: d_model / heads)", config::non_negative());
    v.check(kv_heads == 0 || heads % kv_heads == 0, "kv_heads", "must divide heads");
    visit_position(v);
    v.field("dape", dape, "DAPE V2: scores + bias processed by two 1 x k convolutions over keys, added back");
    v.field("dape_hidden", dape_hidden, "DAPE hidden channels", config::positive());
    v.field("dape_kernel", dape_kernel, "DAPE kernel width k along keys (odd; 1 = DAPE V1)", config::positive());
    v.check(dape_kernel % 2 == 1, "dape_kernel", "must be odd (the convolution is centred on each key)");
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

// x [B, T, C] -> [B, heads, T, D] through weight [heads * D, C] (PyTorch's Linear layout).
Tensor project_heads(const Tensor& x, const Tensor& w, int64_t heads, int64_t D);

// ---- the attention core in each form: q [B, H, T, D], k/v [B, Hkv, T, D] -> [B, H, T, D] ----
// With a cache, earlier keys and values come first and queries sit at the end.
// `terms` adds Kerple and DAPE (scores.h); the default is neither.
Tensor softmax_attention_ref(const Tensor& q, const Tensor& k, const Tensor& v,
                             const ops::AttentionOptions& opt, const ScoreTerms& terms = {});
// The attention probabilities of ref, [B, Hkv, H / Hkv, Tq, Tk] (query head h is
// [h / (H / Hkv), h % (H / Hkv)]), with Kerple's bias from `terms` but without DAPE (whose
// rows ref computes by dape_attention_rows); softmax_attention_ref multiplies them with v.
Tensor softmax_attention_probs_ref(const Tensor& q, const Tensor& k, const ops::AttentionOptions& opt,
                                   const ScoreTerms& terms = {});
Tensor softmax_attention_parallel(const Tensor& q, const Tensor& k, const Tensor& v,
                                  const ops::AttentionOptions& opt, const ScoreTerms& terms = {});
Tensor softmax_attention_recurrent(const Tensor& q, const Tensor& k, const Tensor& v,
                                   const ops::AttentionOptions& opt, KVCache& cache,
                                   const ScoreTerms& terms = {});
// The recurrent form when the cache has already been extended (dynamic NTK re-rotates the
// whole cache each call): the T queries are the last T of k_all's positions, taken one at
// a time against the keys up to each.
Tensor softmax_attention_recurrent_prefix(const Tensor& q, const Tensor& k_all, const Tensor& v_all,
                                          const ops::AttentionOptions& opt, const ScoreTerms& terms = {});

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
  AttentionPosition position_;  // RoPE, ALiBi, KeyNorm, scale rules, window
  std::shared_ptr<model::Param> wq_, wk_, wv_, wo_;
  KerpleParams kerple_;  // with position = kerple: one (p, a) per head
  std::shared_ptr<model::Param> dape_w1_, dape_b1_, dape_w2_;
};

}  // namespace attnlab::mixers
