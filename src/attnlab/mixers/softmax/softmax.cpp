#include "attnlab/mixers/softmax/softmax.h"

#include <cmath>
#include <functional>

#include "attnlab/autograd/node.h"
#include "attnlab/ops/ops.h"
#include "attnlab/position/alibi.h"

namespace attnlab::mixers {

// Rules on single keys live in visit(); this adds what needs the model's width.
void SoftmaxOptions::validate(int64_t d_model) const {
  config::validate_config(*this, "model.mixer");
  ATTNLAB_CHECK(!alibi_dynamic || alibi_original_length > 0,
                "model.mixer.alibi_dynamic needs model.mixer.alibi_original_length > 0 (the training length)");
  ATTNLAB_CHECK(attn_scale != "logn" || attn_original_length > 1,
                "model.mixer.attn_scale = \"logn\" needs model.mixer.attn_original_length > 1 (the training "
                "length), got ", attn_original_length);
  ATTNLAB_CHECK(head_dim > 0 || d_model % heads == 0, "model.mixer.heads = ", heads,
                " must divide model.d_model = ", d_model, " (or set model.mixer.head_dim)");
}

size_t KVCache::bytes() const {
  size_t b = 0;
  for (const Tensor* t : {&k, &v})
    if (t->defined()) b += size_t(t->numel()) * dtype_size(t->dtype());
  return b;
}

std::pair<Tensor, Tensor> KVCache::append(const Tensor& k_new, const Tensor& v_new) {
  int64_t t = k_new.size(2);
  if (autograd::grad_enabled() && (k_new.requires_grad() || v_new.requires_grad())) {
    // Differentiable path: the cache is a chain of concatenations.
    k = len ? ops::concat({ops::slice(k, 2, 0, len), k_new}, 2) : k_new;
    v = len ? ops::concat({ops::slice(v, 2, 0, len), v_new}, 2) : v_new;
    len += t;
    return {k, v};
  }
  int64_t cap = k.defined() ? k.size(2) : 0;
  if (len + t > cap || k.requires_grad()) {
    int64_t new_cap = std::max<int64_t>(16, std::max(2 * cap, len + t));
    auto grow = [&](const Tensor& old, const Tensor& like) {
      Shape s = like.shape();
      s[2] = new_cap;
      Tensor buf = Tensor::empty(s, like.dtype());
      if (len) buf.slice_raw(2, 0, len).copy_from(old.slice_raw(2, 0, len).detach());
      return buf;
    };
    k = grow(k, k_new);
    v = grow(v, v_new);
  }
  k.slice_raw(2, len, len + t).copy_from(k_new);
  v.slice_raw(2, len, len + t).copy_from(v_new);
  len += t;
  return {k.slice_raw(2, 0, len), v.slice_raw(2, 0, len)};
}

SoftmaxAttention::SoftmaxAttention(const SoftmaxOptions& opt, const MixerContext& ctx)
    : opt_(opt), layer_(ctx.layer), d_model_(ctx.d_model) {
  opt_.validate(d_model_);
  heads_ = opt_.heads;
  kv_heads_ = opt_.kv_heads ? opt_.kv_heads : heads_;
  head_dim_ = opt_.head_dim ? opt_.head_dim : d_model_ / heads_;
  rope_.base = opt_.rope_base;
  rope_.style = position::parse_rope_style(opt_.rope_style);
  // RoPE scaling: checked here so a bad combination fails at build time, not mid-eval.
  rope_.scaling = position::parse_rope_scaling(opt_.rope_scaling);
  rope_.factor = opt_.rope_factor;
  rope_.original_length = opt_.rope_original_length;
  rope_.beta_fast = opt_.yarn_beta_fast;
  rope_.beta_slow = opt_.yarn_beta_slow;
  if (opt_.position == "rope") position::rope_frequencies(rope_, head_dim_, 1);
  if (opt_.position == "alibi" && !opt_.alibi_dynamic)
    alibi_slopes_ = alibi_slopes_for(opt_.alibi_factor);
  // GPT-2 initialisation: N(0, 0.02), the residual projection scaled by 1/sqrt(2 * layers).
  double std_out = 0.02 / std::sqrt(2.0 * double(ctx.n_layers));
  auto& p = *ctx.params;
  wq_ = p.declare(ctx.prefix + "wq.weight", {heads_ * head_dim_, d_model_}, model::Init::normal(0.02));
  wk_ = p.declare(ctx.prefix + "wk.weight", {kv_heads_ * head_dim_, d_model_}, model::Init::normal(0.02));
  wv_ = p.declare(ctx.prefix + "wv.weight", {kv_heads_ * head_dim_, d_model_}, model::Init::normal(0.02));
  wo_ = p.declare(ctx.prefix + "wo.weight", {d_model_, heads_ * head_dim_}, model::Init::normal(std_out));
  // Declared last so the other parameters keep their place (and initial values).
  if (opt_.key_norm_learnable)
    key_norm_tau_ = p.declare(ctx.prefix + "key_norm.temperature", {heads_},
                              model::Init::constant(opt_.key_norm_temperature), /*weight_decay=*/false);
}

// The slopes as every form uses them (float32, so all forms see the same values).
std::vector<float> SoftmaxAttention::alibi_slopes_for(double factor) const {
  std::vector<float> out;
  auto scaling = position::parse_alibi_scaling(opt_.alibi_scaling);
  for (double m : position::alibi_scaled_slopes(heads_, scaling, factor)) out.push_back(float(m));
  return out;
}

namespace {
// x [B, T, C] -> [B, heads, T, D] through weight [heads * D, C] (PyTorch's Linear layout).
Tensor project_heads(const Tensor& x, const Tensor& w, int64_t heads, int64_t D) {
  Tensor y = ops::matmul(x, ops::transpose(w, 0, 1));  // [B, T, heads * D]
  y = ops::reshape(y, {x.size(0), x.size(1), heads, D});
  return ops::contiguous(ops::transpose(y, 1, 2));
}
}  // namespace

Tensor SoftmaxAttention::forward(const Tensor& x, Form form, MixerState* state) {
  ATTNLAB_CHECK(x.dim() == 3 && x.size(2) == d_model_, "softmax attention: expected x [B, T, ", d_model_,
                "], got ", shape_str(x.shape()));
  KVCache* cache = nullptr;
  if (state) {
    cache = dynamic_cast<KVCache*>(state);
    ATTNLAB_CHECK(cache, "softmax attention: the state passed is not a KV cache");
  }
  int64_t B = x.size(0), T = x.size(1);
  int64_t start = cache ? cache->len : 0;
  Tensor q = project_heads(x, wq_->value, heads_, head_dim_);
  Tensor k = project_heads(x, wk_->value, kv_heads_, head_dim_);
  Tensor v = project_heads(x, wv_->value, kv_heads_, head_dim_);
  // Dynamic NTK: the frequencies depend on L = start + T, so keys cached by earlier calls
  // were rotated for a shorter length. The cache therefore holds unrotated keys and the
  // whole cache is rotated again at each call (O(L D), the cost of attending anyway); the
  // newest token then sees exactly what a single parallel pass over all L tokens gives it.
  const bool rerotate = opt_.position == "rope" && rope_.scaling == position::RopeScaling::DynamicNTK;
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
    q = ops::mul(q, ops::reshape(key_norm_tau_->value, {1, heads_, 1, 1}));
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
  Tensor o;
  if (form == Form::Recurrent && rerotate) {
    KVCache local;
    auto [k_all, v_all] = (cache ? *cache : local).append(k, v);
    o = softmax_attention_recurrent_prefix(q, position::rope(k_all, 0, rope_, L), v_all, ao);
  } else if (form == Form::Recurrent) {
    KVCache local;
    o = softmax_attention_recurrent(q, k, v, ao, cache ? *cache : local);
  } else {
    Tensor k_all = k, v_all = v;
    if (cache) std::tie(k_all, v_all) = cache->append(k, v);
    if (rerotate) k_all = position::rope(k_all, 0, rope_, L);
    if (AttentionObserver* observer = attention_observer())
      observer->on_attention(layer_, softmax_attention_weights(q.detach(), k_all.detach(), ao));
    o = form == Form::Ref ? softmax_attention_ref(q, k_all, v_all, ao)
                          : softmax_attention_parallel(q, k_all, v_all, ao);
  }
  o = ops::reshape(ops::transpose(o, 1, 2), {B, T, heads_ * head_dim_});
  return ops::matmul(o, ops::transpose(wo_->value, 0, 1));
}

}  // namespace attnlab::mixers
