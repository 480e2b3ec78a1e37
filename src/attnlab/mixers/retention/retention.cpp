#include "attnlab/mixers/retention/retention.h"

#include <cmath>

#include "attnlab/ops/ops.h"

namespace attnlab::mixers {

void RetentionOptions::validate(int64_t d_model) const {
  config::validate_config(*this, "model.mixer");
  ATTNLAB_CHECK(head_dim > 0 || d_model % heads == 0, "model.mixer.heads = ", heads,
                " must divide model.d_model = ", d_model, " (or set model.mixer.head_dim)");
  int64_t D = head_dim > 0 ? head_dim : d_model / heads;
  ATTNLAB_CHECK(!rotary || D % 2 == 0, "model.mixer: rotary retention needs an even head dimension, got ", D);
}

std::vector<double> retention_gammas(int64_t heads) {
  std::vector<double> g;
  for (int64_t h = 0; h < heads; ++h) g.push_back(1.0 - std::pow(2.0, -5.0 - double(h)));
  return g;
}

Retention::Retention(const RetentionOptions& opt, const MixerContext& ctx) : opt_(opt), d_model_(ctx.d_model) {
  opt_.validate(d_model_);
  heads_ = opt_.heads;
  head_dim_ = opt_.head_dim ? opt_.head_dim : d_model_ / heads_;
  value_dim_ = opt_.value_head_dim ? opt_.value_head_dim : head_dim_;
  gammas_ = retention_gammas(heads_);
  // torchscale's theta_i = base^(-linspace(0, 1, D/2)_i) = base^(-i/(D/2-1)) is the
  // standard base'^(-2i/D) with base' = base^(D/(D-2)).
  rope_.style = position::parse_rope_style(opt_.rope_style);
  rope_.base = opt_.rope_frequencies == "torchscale" && head_dim_ > 2
                   ? std::pow(opt_.rope_base, double(head_dim_) / double(head_dim_ - 2))
                   : opt_.rope_base;
  auto& p = *ctx.params;
  const int64_t HD = heads_ * head_dim_, HV = heads_ * value_dim_;
  // torchscale: xavier-uniform with gain 2^-2.5 for q, k, v, g and 2^-1 for the output.
  auto xavier = [](int64_t out, int64_t in, double gain) {
    double b = xavier_bound(in, out, gain);
    return model::Init::uniform(-b, b);
  };
  const double g25 = std::pow(2.0, -2.5);
  wq_ = p.declare(ctx.prefix + "wq.weight", {HD, d_model_}, xavier(HD, d_model_, g25));
  wk_ = p.declare(ctx.prefix + "wk.weight", {HD, d_model_}, xavier(HD, d_model_, g25));
  wv_ = p.declare(ctx.prefix + "wv.weight", {HV, d_model_}, xavier(HV, d_model_, g25));
  wo_ = p.declare(ctx.prefix + "wo.weight", {d_model_, HV}, xavier(d_model_, HV, 0.5));
  wg_ = p.declare(ctx.prefix + "wg.weight", {HV, d_model_}, xavier(HV, d_model_, g25));
  if (opt_.decay_learnable)
    decay_theta_ = p.declare(ctx.prefix + "decay.theta", {heads_}, model::Init::values(decay_theta(gammas_)),
                             /*weight_decay=*/false);
}

Tensor Retention::log_gamma(DType dtype) const {
  if (decay_theta_) return ops::neg(ops::exp(decay_theta_->value));  // log gamma = -exp(theta) < 0
  return log_gamma_constant(gammas_, dtype);
}

Tensor Retention::forward(const Tensor& x, Form form, MixerState* state) {
  ATTNLAB_CHECK(x.dim() == 3 && x.size(2) == d_model_, "retention: expected x [B, T, ", d_model_, "], got ",
                shape_str(x.shape()));
  DecayedState* st = decayed_state_of(state, "retention");
  const int64_t T = x.size(1), start = st ? st->len : 0;
  Tensor q = project_to_heads(x, wq_->value, heads_, head_dim_);
  Tensor k = project_to_heads(x, wk_->value, heads_, head_dim_);
  Tensor v = project_to_heads(x, wv_->value, heads_, value_dim_);
  if (opt_.rotary) {
    q = position::rope(q, start, rope_);
    k = position::rope(k, start, rope_);
  }
  k = ops::scale(k, 1.0 / std::sqrt(double(head_dim_)));
  Tensor lg = log_gamma(x.dtype());
  Tensor o = form == Form::Ref        ? retention_core_ref(q, k, v, lg, st)
             : form == Form::Parallel ? retention_core_parallel(q, k, v, lg, opt_.chunk, st)
                                      : retention_core_recurrent(q, k, v, lg, st);
  if (opt_.decay_normalize) {
    // c_i = (1 - gamma^(p_i + 1)) / (1 - gamma), p_i = start + i: a per-row scalar, the same
    // in every form, with exponents >= 0 only.
    std::vector<double> next(static_cast<size_t>(T));
    for (int64_t t = 0; t < T; ++t) next[size_t(t)] = double(start + t + 1);
    Tensor lg4 = ops::reshape(lg, {1, heads_, 1, 1});
    Tensor num = ops::add_scalar(ops::neg(ops::exp(ops::mul(lg4, Tensor::from_vector(next, {1, 1, T, 1}).to(x.dtype())))), 1.0);
    Tensor den = ops::add_scalar(ops::neg(ops::exp(lg4)), 1.0);
    o = ops::div(o, ops::sqrt(ops::div(num, den)));
  }
  o = merge_heads(ops::rms_norm(o, Tensor(), opt_.norm_eps));  // [B, T, H * Dv]
  Tensor gate = ops::silu(ops::matmul(x, ops::transpose(wg_->value, 0, 1)));
  return ops::matmul(ops::mul(gate, o), ops::transpose(wo_->value, 0, 1));
}

}  // namespace attnlab::mixers
