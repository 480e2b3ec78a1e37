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
#include "attnlab/mixers/softmax/attention_position.h"
#include "attnlab/ops/attention.h"

namespace attnlab::mixers {

struct SoftmaxOptions : AttentionPositionOptions {
  int64_t heads = 4;
  int64_t kv_heads = 0;   // 0 means heads (no grouping)
  int64_t head_dim = 0;   // 0 means d_model / heads

  void validate(int64_t d_model) const;

  template <class V>
  void visit(V& v) {
    v.field("heads", heads, "query heads H", config::positive());
    v.field("kv_heads", kv_heads, "key/value heads (0: = heads; must divide heads)", config::non_negative());
    v.field("head_dim", head_dim, "head dimension D (0: d_model / heads)", config::non_negative());
    v.check(kv_heads == 0 || heads % kv_heads == 0, "kv_heads", "must divide heads");
    visit_position(v);
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
Tensor softmax_attention_ref(const Tensor& q, const Tensor& k, const Tensor& v,
                             const ops::AttentionOptions& opt);
// The attention probabilities of ref, [B, Hkv, H / Hkv, Tq, Tk] (query head h is
// [h / (H / Hkv), h % (H / Hkv)]); softmax_attention_ref multiplies them with v.
Tensor softmax_attention_probs_ref(const Tensor& q, const Tensor& k, const ops::AttentionOptions& opt);
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
  AttentionPosition position_;  // RoPE, ALiBi, KeyNorm, scale rules, window
  std::shared_ptr<model::Param> wq_, wk_, wv_, wo_;
};

}  // namespace attnlab::mixers
