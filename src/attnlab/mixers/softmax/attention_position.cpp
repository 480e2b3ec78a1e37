#include "attnlab/mixers/softmax/attention_position.h"

#include <cmath>
#include <functional>

#include "attnlab/ops/ops.h"
#include "attnlab/position/alibi.h"

namespace attnlab::mixers {

void AttentionPositionOptions::validate_position() const {
  ATTNLAB_CHECK(!alibi_dynamic || alibi_original_length > 0,
                "model.mixer.alibi_dynamic needs model.mixer.alibi_original_length > 0 (the training length)");
  ATTNLAB_CHECK(attn_scale != "logn" || attn_original_length > 1,
                "model.mixer.attn_scale = \"logn\" needs model.mixer.attn_original_length > 1 (the training "
                "length), got ", attn_original_length);
}

AttentionPosition::AttentionPosition(const AttentionPositionOptions& opt, int64_t q_heads, int64_t slope_heads,
                                     int64_t head_dim)
    : opt_(opt), q_heads_(q_heads), slope_heads_(slope_heads), head_dim_(head_dim) {
  rope_.base = opt_.rope_base;
  rope_.style = position::parse_rope_style(opt_.rope_style);
  // RoPE scaling: checked here so a bad combination fails at build time, not mid-eval.
  rope_.scaling = position::parse_rope_scaling(opt_.rope_scaling);
  rope_.factor = opt_.rope_factor;
  rope_.original_length = opt_.rope_original_length;
  rope_.beta_fast = opt_.yarn_beta_fast;
  rope_.beta_slow = opt_.yarn_beta_slow;
  ATTNLAB_CHECK(opt_.rotary_dim <= head_dim_, "model.mixer.rotary_dim = ", opt_.rotary_dim,
                ": must be at most the head dimension ", head_dim_);
  rope_.rotary_dim = opt_.rotary_dim;
  if (opt_.position == "rope") position::rope_frequencies(rope_, opt_.rotary_dim ? opt_.rotary_dim : head_dim_, 1);
  if (opt_.position == "alibi" && !opt_.alibi_dynamic)
    alibi_slopes_ = alibi_slopes_for(opt_.alibi_factor);
}

void AttentionPosition::declare_parameters(const MixerContext& ctx) {
  if (opt_.key_norm_learnable)
    key_norm_tau_ = ctx.params->declare(ctx.prefix + "key_norm.temperature", {q_heads_},
                                        model::Init::constant(opt_.key_norm_temperature), /*weight_decay=*/false);
}

// The slopes as every form uses them (float32, so all forms see the same values).
std::vector<float> AttentionPosition::alibi_slopes_for(double factor) const {
  std::vector<float> out;
  auto scaling = position::parse_alibi_scaling(opt_.alibi_scaling);
  for (double m : position::alibi_scaled_slopes(slope_heads_, scaling, factor)) out.push_back(float(m));
  return out;
}

bool AttentionPosition::rerotates_cache() const {
  return opt_.position == "rope" && rope_.scaling == position::RopeScaling::DynamicNTK;
}

Tensor AttentionPosition::rotate_cached_keys(const Tensor& k_all, int64_t length) const {
  return position::rope(k_all, 0, rope_, length);
}

AttentionPosition::Prepared AttentionPosition::prepare(Tensor q, Tensor k, int64_t start) const {
  const int64_t T = q.size(2);
  // Dynamic NTK: the frequencies depend on L = start + T, so keys cached by earlier calls
  // were rotated for a shorter length. The cache therefore holds unrotated keys and the
  // whole cache is rotated again at each call (O(L D), the cost of attending anyway); the
  // newest token then sees exactly what a single parallel pass over all L tokens gives it.
  const bool rerotate = rerotates_cache();
  const int64_t L = start + T;
  if (opt_.position == "rope") {
    q = position::rope(q, start, rope_, L);
    if (!rerotate) k = position::rope(k, start, rope_, L);
  }
  // KeyNorm / cosine: normalised after RoPE (a rotation keeps the norm, so the order
  // does not change the logits; this way the cache holds unit keys).
  if (opt_.key_norm || opt_.cosine) k = ops::l2_normalize(k);
  if (opt_.cosine) q = ops::l2_normalize(q);
  // The logit scale: one scalar for the kernel, times a per-query-row factor f(n), n the
  // position + 1, applied by scaling each row of q first (exact: logits are linear in q).
  ops::AttentionOptions ao;
  ao.scale = 1.0 / std::sqrt(double(head_dim_));
  if (opt_.attn_scale == "fixed") ao.scale = opt_.attn_scale_value;
  if (opt_.key_norm) ao.scale = opt_.key_norm_temperature;
  if (opt_.cosine) ao.scale = opt_.cosine_lambda > 0 ? opt_.cosine_lambda : 1.0;
  std::function<double(double)> row_factor;
  if (opt_.attn_scale == "logn") {
    // Su's entropy-invariant log_{L_train}(n); not clamped, so < 1 for n < L_train.
    double log_train = std::log(double(opt_.attn_original_length));
    row_factor = [log_train](double n) { return std::log(n) / log_train; };
  }
  if (key_norm_tau_) {  // a learned tau per head multiplies q (the kernel's scale stays 1)
    ao.scale = 1.0;
    q = ops::mul(q, ops::reshape(key_norm_tau_->value, {1, q_heads_, 1, 1}));
  }
  if (opt_.cosine && opt_.cosine_lambda == 0) row_factor = [](double n) { return 4.0 * std::log(n); };
  if (row_factor) {
    std::vector<double> f(static_cast<size_t>(T));
    for (int64_t t = 0; t < T; ++t) f[size_t(t)] = row_factor(double(start + t + 1));
    q = ops::mul(q, Tensor::from_vector(f, {1, 1, T, 1}).to(q.dtype()));
  }
  ao.causal = true;
  ao.alibi_slopes = alibi_slopes_;
  // Dynamic ALiBi: one factor per call from the total length after it, so the three forms
  // (and every row of this call) agree; token-by-token decoding gets a factor per step.
  if (opt_.position == "alibi" && opt_.alibi_dynamic)
    ao.alibi_slopes = alibi_slopes_for(
        position::alibi_dynamic_factor(start + T, opt_.alibi_original_length, opt_.alibi_factor));
  ao.window = opt_.window;
  return {q, k, ao};
}

}  // namespace attnlab::mixers
