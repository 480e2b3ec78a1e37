#include "attnlab/mixers/softmax/softmax.h"

#include <cmath>

#include "attnlab/autograd/node.h"
#include "attnlab/ops/ops.h"

namespace attnlab::mixers {

// Rules on single keys live in visit(); this adds what needs the model's width.
void SoftmaxOptions::validate(int64_t d_model) const {
  config::validate_config(*this, "model.mixer");
  validate_position();
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

// validate() runs first (in the initialiser of heads_), so the sizes below are sound.
SoftmaxAttention::SoftmaxAttention(const SoftmaxOptions& opt, const MixerContext& ctx)
    : opt_(opt),
      layer_(ctx.layer),
      d_model_(ctx.d_model),
      heads_((opt_.validate(d_model_), opt_.heads)),
      kv_heads_(opt_.kv_heads ? opt_.kv_heads : heads_),
      head_dim_(opt_.head_dim ? opt_.head_dim : d_model_ / heads_),
      position_(opt_, heads_, heads_, head_dim_) {
  // GPT-2 initialisation: N(0, 0.02), the residual projection scaled by 1/sqrt(2 * layers).
  double std_out = 0.02 / std::sqrt(2.0 * double(ctx.n_layers));
  auto& p = *ctx.params;
  wq_ = p.declare(ctx.prefix + "wq.weight", {heads_ * head_dim_, d_model_}, model::Init::normal(0.02));
  wk_ = p.declare(ctx.prefix + "wk.weight", {kv_heads_ * head_dim_, d_model_}, model::Init::normal(0.02));
  wv_ = p.declare(ctx.prefix + "wv.weight", {kv_heads_ * head_dim_, d_model_}, model::Init::normal(0.02));
  wo_ = p.declare(ctx.prefix + "wo.weight", {d_model_, heads_ * head_dim_}, model::Init::normal(std_out));
  // Declared last so the other parameters keep their place (and initial values).
  position_.declare_parameters(ctx);
  if (opt_.position == "kerple") kerple_.declare(ctx, heads_);
  if (opt_.dape) {
    // PyTorch's Conv2d default: weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    const bool with_bias = opt_.position == "alibi" || opt_.position == "kerple";
    const int64_t C = with_bias ? 2 * heads_ : heads_, Dh = opt_.dape_hidden, K = opt_.dape_kernel;
    auto u = [](int64_t fan_in) {
      const double b = 1.0 / std::sqrt(double(fan_in));
      return model::Init::uniform(-b, b);
    };
    dape_w1_ = p.declare(ctx.prefix + "dape.conv1.weight", {Dh, C, K}, u(C * K));
    dape_b1_ = p.declare(ctx.prefix + "dape.conv1.bias", {Dh}, u(C * K), false);
    // No bias on the second convolution: a constant per head added to every logit of a
    // row cancels in the softmax, so its gradient is exactly 0 (the reference has one).
    dape_w2_ = p.declare(ctx.prefix + "dape.conv2.weight", {heads_, Dh, K}, u(Dh * K));
  }
}

Tensor project_heads(const Tensor& x, const Tensor& w, int64_t heads, int64_t D) {
  Tensor y = ops::matmul(x, ops::transpose(w, 0, 1));  // [B, T, heads * D]
  y = ops::reshape(y, {x.size(0), x.size(1), heads, D});
  return ops::contiguous(ops::transpose(y, 1, 2));
}

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
  const bool rerotate = position_.rerotates_cache();
  const int64_t L = start + T;
  auto prepared = position_.prepare(q, k, start);
  q = prepared.q;
  k = prepared.k;
  const ops::AttentionOptions& ao = prepared.ao;
  // Kerple's p and a (positive through softplus) and DAPE's weights, for every form.
  ScoreTerms terms;
  DapeWeights dape;
  kerple_.add_to(terms);
  if (dape_w1_) {
    dape = {dape_w1_->value, dape_b1_->value, dape_w2_->value, Tensor(), opt_.dape_kernel,
            opt_.position == "alibi" || opt_.position == "kerple"};
    terms.dape = &dape;
  }
  Tensor o;
  if (form == Form::Recurrent && rerotate) {
    KVCache local;
    auto [k_all, v_all] = (cache ? *cache : local).append(k, v);
    o = softmax_attention_recurrent_prefix(q, position_.rotate_cached_keys(k_all, L), v_all, ao, terms);
  } else if (form == Form::Recurrent) {
    KVCache local;
    o = softmax_attention_recurrent(q, k, v, ao, cache ? *cache : local, terms);
  } else {
    Tensor k_all = k, v_all = v;
    if (cache) std::tie(k_all, v_all) = cache->append(k, v);
    if (rerotate) k_all = position_.rotate_cached_keys(k_all, L);
    if (AttentionObserver* observer = attention_observer()) {
      // Kerple's bias is in ref's probabilities; DAPE's processed scores are not observed
      // (dape_attention_rows does not expose its weights), so diagnose reports none for it.
      autograd::NoGradGuard no_grad;
      if (terms.kerple() && !terms.dape) {
        Tensor w = softmax_attention_probs_ref(q.detach(), k_all.detach(), ao, terms);
        observer->on_attention(layer_, ops::reshape(w, {B, heads_, T, k_all.size(2)}).to(DType::F64));
      } else if (!terms.dape) {
        observer->on_attention(layer_, softmax_attention_weights(q.detach(), k_all.detach(), ao));
      }
    }
    o = form == Form::Ref ? softmax_attention_ref(q, k_all, v_all, ao, terms)
                          : softmax_attention_parallel(q, k_all, v_all, ao, terms);
  }
  o = ops::reshape(ops::transpose(o, 1, 2), {B, T, heads_ * head_dim_});
  return ops::matmul(o, ops::transpose(wo_->value, 0, 1));
}

}  // namespace attnlab::mixers
