// Differential attention (Ye et al., "Differential Transformer", arXiv 2410.05258): two
// softmax maps per head, the second subtracted with a learned weight lambda so that
// attention both maps give to irrelevant context cancels.
//
// Module, h = heads diff-heads of sub-head width d (= d_model / (2h) by default):
//   q = x Wq^T [B, 2h, T, d], k = x Wk^T [B, 2hkv, T, d]   (two sub-heads per head)
//   v = x Wv^T [B, hkv, T, 2d]                            (one value head of width 2d)
//   A_s = softmax(q_s k_s^T / sqrt(d) + position terms + causal mask), s = 1, 2
//   o = (A_1 - lambda A_2) v                    [B, h, T, 2d]
//   lambda = exp(lq1 . lk1) - exp(lq2 . lk2) + lambda_init,  lambda_init = 0.8 - 0.6 exp(-0.3 l)
//   y = ((1 - lambda_init) * rms_norm(o) * gain) Wo^T      (norm over each head's 2d)
// Sub-head s of diff-head i is row block 2i + s of Wq and Wk (the reference code's
// layout); grouped heads: diff-head i reads key sub-head s of kv-head i / (h / hkv).
// The position schemes are the softmax mixer's own (AttentionPosition), applied to the
// 2h query and 2hkv key sub-heads; ALiBi gives one slope per diff-head, shared by both maps,
// and Kerple one learned (p, a) per diff-head, likewise shared (the softmax mixer's terms).
//
// The three forms differ only in the attention core:
//   ref.cpp        A_1 - lambda A_2 as explicit T x T matrices (the definition);
//   parallel.cpp   two calls of the fused kernel (ops::attention) with values 2d wide;
//   recurrent.cpp  one query at a time against the KV cache, both maps.
#pragma once
#include <memory>

#include "attnlab/io/config_schema.h"
#include "attnlab/mixers/mixer.h"
#include "attnlab/mixers/softmax/attention_position.h"
#include "attnlab/mixers/softmax/softmax.h"

namespace attnlab::mixers {

struct DiffOptions : AttentionPositionOptions {
  // `heads` counts differential heads: each has two query/key sub-heads and one value
  // head twice as wide, so h diff-heads cost what 2h softmax heads cost at equal width.
  int64_t heads = 2;
  int64_t kv_heads = 0;  // 0 means heads (no grouping)
  int64_t head_dim = 0;  // sub-head width d; 0 means d_model / (2 heads)

  void validate(int64_t d_model) const;

  template <class V>
  void visit(V& v) {
    v.field("heads", heads, "differential heads h (2h query sub-heads; the softmax baseline of equal size has 2h heads)",
            config::positive());
    v.field("kv_heads", kv_heads, "key/value diff-heads (0: = heads; must divide heads)", config::non_negative());
    v.field("head_dim", head_dim, "sub-head width d; values are 2d wide (0: d_model / (2 heads))",
            config::non_negative());
    v.check(kv_heads == 0 || heads % kv_heads == 0, "kv_heads", "must divide heads");
    visit_position(v);
  }
};

// lambda_init at 0-based depth l: 0.8 - 0.6 exp(-0.3 l) (0.2, 0.356, 0.471, ...).
double diff_lambda_init(int64_t layer);

// ---- the attention core in each form ----
// q [B, 2h, Tq, d] and k [B, 2hkv, Tk, d] sub-head-major (sub-head s of head i at
// s * h + i), v [B, hkv, Tk, 2d], lambda a one-element tensor -> o [B, h, Tq, 2d].
// With a cache, earlier keys and values come first and queries sit at the end. `terms`
// carries Kerple's p and a ([h]; both maps use them), as for the softmax mixer's cores.
Tensor diff_attention_ref(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& lambda,
                          const ops::AttentionOptions& opt, const ScoreTerms& terms = {});
Tensor diff_attention_parallel(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& lambda,
                               const ops::AttentionOptions& opt, const ScoreTerms& terms = {});
// k_all, v_all: the whole cache with the T new tokens last.
Tensor diff_attention_recurrent(const Tensor& q, const Tensor& k_all, const Tensor& v_all, const Tensor& lambda,
                                const ops::AttentionOptions& opt, const ScoreTerms& terms = {});
// Sub-head s of a sub-head-major [B, 2n, T, d]: [B, n, T, d] (a view).
Tensor diff_subhead(const Tensor& t, int64_t s);

class DiffAttention : public Mixer {
 public:
  DiffAttention(const DiffOptions& opt, const MixerContext& ctx);
  Tensor forward(const Tensor& x, Form form, MixerState* state) override;
  // The KV cache holds keys [B, 2hkv, len, d] (sub-head-major) and values [B, hkv, len, 2d].
  std::unique_ptr<MixerState> make_state() const override { return std::make_unique<KVCache>(); }
  bool supports(Form) const override { return true; }

  double lambda_init() const { return lambda_init_; }
  // lambda = exp(lq1 . lk1) - exp(lq2 . lk2) + lambda_init, one element, differentiable.
  Tensor lambda() const;

 private:
  DiffOptions opt_;
  int64_t d_model_, heads_, kv_heads_, head_dim_;
  double lambda_init_;
  AttentionPosition position_;  // the softmax mixer's RoPE, ALiBi, KeyNorm, scale rules, window
  std::shared_ptr<model::Param> wq_, wk_, wv_, wo_;
  std::shared_ptr<model::Param> lambda_q1_, lambda_k1_, lambda_q2_, lambda_k2_;  // [d] each
  std::shared_ptr<model::Param> subln_;  // RMSNorm gain [2d], shared by the heads
  KerpleParams kerple_;  // with position = kerple: one (p, a) per diff-head
};

}  // namespace attnlab::mixers
