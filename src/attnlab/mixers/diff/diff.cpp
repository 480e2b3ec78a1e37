#include "attnlab/mixers/diff/diff.h"

#include <cmath>

#include "attnlab/ops/ops.h"

namespace attnlab::mixers {

void DiffOptions::validate(int64_t d_model) const {
  config::validate_config(*this, "model.mixer");
  validate_position();
  ATTNLAB_CHECK(head_dim > 0 || d_model % (2 * heads) == 0, "model.mixer.heads = ", heads,
                ": 2 * heads must divide model.d_model = ", d_model, " (or set model.mixer.head_dim)");
}

double diff_lambda_init(int64_t layer) { return 0.8 - 0.6 * std::exp(-0.3 * double(layer)); }

Tensor diff_subhead(const Tensor& t, int64_t s) {
  int64_t n = t.size(1) / 2;
  return ops::slice(t, 1, s * n, (s + 1) * n);
}

// validate() runs first (in the initialiser of heads_), so the sizes below are sound.
DiffAttention::DiffAttention(const DiffOptions& opt, const MixerContext& ctx)
    : opt_(opt),
      d_model_(ctx.d_model),
      heads_((opt_.validate(d_model_), opt_.heads)),
      kv_heads_(opt_.kv_heads ? opt_.kv_heads : heads_),
      head_dim_(opt_.head_dim ? opt_.head_dim : d_model_ / (2 * heads_)),
      lambda_init_(diff_lambda_init(ctx.layer)),
      position_(opt_, 2 * heads_, heads_, head_dim_) {
  // The projections as the softmax mixer initialises them (GPT-2: N(0, 0.02), the
  // residual projection scaled by 1/sqrt(2 * layers)), so the two differ only in the core.
  double std_out = 0.02 / std::sqrt(2.0 * double(ctx.n_layers));
  const int64_t d = head_dim_;
  auto& p = *ctx.params;
  wq_ = p.declare(ctx.prefix + "wq.weight", {2 * heads_ * d, d_model_}, model::Init::normal(0.02));
  wk_ = p.declare(ctx.prefix + "wk.weight", {2 * kv_heads_ * d, d_model_}, model::Init::normal(0.02));
  wv_ = p.declare(ctx.prefix + "wv.weight", {2 * kv_heads_ * d, d_model_}, model::Init::normal(0.02));
  wo_ = p.declare(ctx.prefix + "wo.weight", {d_model_, 2 * heads_ * d}, model::Init::normal(std_out));
  // The reference code's lambda vectors, N(0, 0.1), and its "subln" gain; no weight decay
  // (decay would pull lambda towards lambda_init and the gain towards 0).
  for (auto [param, name] : {std::pair{&lambda_q1_, "lambda_q1"}, std::pair{&lambda_k1_, "lambda_k1"},
                             std::pair{&lambda_q2_, "lambda_q2"}, std::pair{&lambda_k2_, "lambda_k2"}})
    *param = p.declare(ctx.prefix + name, {d}, model::Init::normal(0.1), /*weight_decay=*/false);
  subln_ = p.declare(ctx.prefix + "subln.weight", {2 * d}, model::Init::ones(), /*weight_decay=*/false);
  position_.declare_parameters(ctx);
  // One (p, a) per diff-head: both maps of a head see the same distance bias, as with
  // ALiBi's slopes.
  if (opt_.position == "kerple") kerple_.declare(ctx, heads_);
}

Tensor DiffAttention::lambda() const {
  auto dot_exp = [](const model::Param& a, const model::Param& b) {
    return ops::exp(ops::sum(ops::mul(a.value, b.value), {0}, /*keepdim=*/true));  // [1]
  };
  return ops::add_scalar(ops::sub(dot_exp(*lambda_q1_, *lambda_k1_), dot_exp(*lambda_q2_, *lambda_k2_)),
                         lambda_init_);
}

namespace {
// [B, 2n, T, d] with sub-head s of head i at 2i + s (the projection's layout) ->
// sub-head-major, s * n + i, so each sub-head's n heads are one slice.
Tensor to_subhead_major(const Tensor& t) {
  int64_t B = t.size(0), n = t.size(1) / 2, T = t.size(2), d = t.size(3);
  Tensor t5 = ops::transpose(ops::reshape(t, {B, n, 2, T, d}), 1, 2);  // [B, 2, n, T, d]
  return ops::reshape(ops::contiguous(t5), {B, 2 * n, T, d});
}
}  // namespace

Tensor DiffAttention::forward(const Tensor& x, Form form, MixerState* state) {
  ATTNLAB_CHECK(x.dim() == 3 && x.size(2) == d_model_, "differential attention: expected x [B, T, ", d_model_,
                "], got ", shape_str(x.shape()));
  KVCache* cache = nullptr;
  if (state) {
    cache = dynamic_cast<KVCache*>(state);
    ATTNLAB_CHECK(cache, "differential attention: the state passed is not a KV cache");
  }
  const int64_t B = x.size(0), T = x.size(1), d = head_dim_;
  const int64_t start = cache ? cache->len : 0;
  Tensor q = to_subhead_major(project_heads(x, wq_->value, 2 * heads_, d));
  Tensor k = to_subhead_major(project_heads(x, wk_->value, 2 * kv_heads_, d));
  Tensor v = project_heads(x, wv_->value, kv_heads_, 2 * d);
  auto prepared = position_.prepare(q, k, start);
  // Every form sees the whole key/value sequence (cache first); the cache holds keys
  // unrotated when the rotation depends on the total length (dynamic NTK).
  Tensor k_all = prepared.k, v_all = v;
  if (cache) std::tie(k_all, v_all) = cache->append(prepared.k, v);
  if (position_.rerotates_cache()) k_all = position_.rotate_cached_keys(k_all, start + T);
  const Tensor lam = lambda();
  ScoreTerms terms;
  kerple_.add_to(terms);
  Tensor o;  // [B, h, T, 2d]
  switch (form) {
    case Form::Ref: o = diff_attention_ref(prepared.q, k_all, v_all, lam, prepared.ao, terms); break;
    case Form::Parallel: o = diff_attention_parallel(prepared.q, k_all, v_all, lam, prepared.ao, terms); break;
    case Form::Recurrent: o = diff_attention_recurrent(prepared.q, k_all, v_all, lam, prepared.ao, terms); break;
  }
  // Per-head RMSNorm over 2d (eps 1e-5, as the reference code), then the fixed
  // (1 - lambda_init), which keeps the gradient scale close to softmax attention's.
  o = ops::scale(ops::rms_norm(o, subln_->value, 1e-5), 1.0 - lambda_init_);
  o = ops::reshape(ops::transpose(o, 1, 2), {B, T, heads_ * 2 * d});
  return ops::matmul(o, ops::transpose(wo_->value, 0, 1));
}

}  // namespace attnlab::mixers
