#include "attnlab/mixers/dijiang/dijiang.h"

#include <cmath>

#include "attnlab/core/rng.h"
#include "attnlab/ops/ops.h"

namespace attnlab::mixers {

void DijiangOptions::validate(int64_t d_model) const {
  config::validate_config(*this, "model.mixer");
  ATTNLAB_CHECK(head_dim > 0 || d_model % heads == 0, "model.mixer.heads = ", heads,
                " must divide model.d_model = ", d_model, " (or set model.mixer.head_dim)");
  const int64_t D = head_dim > 0 ? head_dim : d_model / heads;
  const int64_t R = rotary_dim > 0 ? rotary_dim : D;
  ATTNLAB_CHECK(position != "rope" || (R % 2 == 0 && R <= D), "model.mixer.rotary_dim = ", R,
                " must be even and at most the head dimension ", D);
  const int64_t G = norm_groups > 0 ? norm_groups : heads;
  ATTNLAB_CHECK((heads * D) % G == 0, "model.mixer.norm_groups = ", G, " must divide heads * head_dim = ", heads * D);
}

std::vector<double> dijiang_gammas(int64_t heads) {
  std::vector<double> g;
  const double a = std::log(1.0 / 32), b = std::log(1.0 / 512);
  for (int64_t h = 0; h < heads; ++h)
    g.push_back(1.0 - std::exp(heads == 1 ? a : a + (b - a) * double(h) / double(heads - 1)));
  return g;
}

namespace {

// Phi^-1(u) by bisection on the normal CDF 0.5 erfc(-x / sqrt 2): slow, exact to double,
// run D times per layer at construction.
double normal_quantile(double u) {
  double lo = -40, hi = 40;
  for (int i = 0; i < 200 && hi - lo > 1e-15; ++i) {
    double mid = 0.5 * (lo + hi);
    (0.5 * std::erfc(-mid / std::sqrt(2.0)) < u ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

// The base-2 radical inverse of i (van der Corput): 1 -> 1/2, 2 -> 1/4, 3 -> 3/4, ...
double van_der_corput(uint64_t i) {
  double x = 0, f = 0.5;
  for (; i; i >>= 1, f *= 0.5)
    if (i & 1) x += f;
  return x;
}

}  // namespace

std::vector<double> dijiang_feature_matrix(int64_t D, const std::string& features, uint64_t seed, int64_t layer) {
  Rng rng(seed, uint64_t(layer) << 32);
  std::vector<double> w(static_cast<size_t>(D));
  if (features == "qmc") {
    // Cranley-Patterson rotation of the van der Corput points: uniform in [0, 1), low discrepancy.
    const double shift = rng.next_uniform();
    for (int64_t i = 0; i < D; ++i) {
      double u = van_der_corput(uint64_t(i + 1)) + shift;
      u -= std::floor(u);
      w[size_t(i)] = normal_quantile(std::min(std::max(u, 1e-12), 1.0 - 1e-12));
    }
  } else {
    rng.fill_normal(w.data(), D, 0.0, 1.0);
  }
  // C[k][n] = s_k cos(pi (2n + 1) k / (2D)): scipy's dct(I, axis=0, norm="ortho"), i.e. the
  // dct op applied down the columns of the identity.
  std::vector<double> eye(static_cast<size_t>(D * D), 0.0);
  for (int64_t i = 0; i < D; ++i) eye[size_t(i * D + i)] = 1.0;
  std::vector<double> C = ops::dct(Tensor::from_vector(eye, {D, D}), 0).to_vector();
  for (int64_t k = 0; k < D; ++k)
    for (int64_t n = 0; n < D; ++n) C[size_t(k * D + n)] *= w[size_t(n)];
  return C;
}

Dijiang::Dijiang(const DijiangOptions& opt, const MixerContext& ctx) : opt_(opt), d_model_(ctx.d_model) {
  opt_.validate(d_model_);
  heads_ = opt_.heads;
  head_dim_ = opt_.head_dim ? opt_.head_dim : d_model_ / heads_;
  groups_ = opt_.norm_groups ? opt_.norm_groups : heads_;
  gammas_ = dijiang_gammas(heads_);
  feature_matrix_ = dijiang_feature_matrix(head_dim_, opt_.features, uint64_t(opt_.feature_seed), ctx.layer);
  rope_.base = opt_.rope_base;
  rope_.style = position::parse_rope_style(opt_.rope_style);
  rope_.rotary_dim = opt_.rotary_dim;
  auto& p = *ctx.params;
  const int64_t HD = heads_ * head_dim_;
  // q, k, v, o as the softmax mixer (GPT-2 style), so a converted model starts from the same
  // kind of weights as a trained one; W_G as the released code (xavier, gain 2^-2.5).
  const double std_out = 0.02 / std::sqrt(2.0 * double(ctx.n_layers));
  wq_ = p.declare(ctx.prefix + "wq.weight", {HD, d_model_}, model::Init::normal(0.02));
  wk_ = p.declare(ctx.prefix + "wk.weight", {HD, d_model_}, model::Init::normal(0.02));
  wv_ = p.declare(ctx.prefix + "wv.weight", {HD, d_model_}, model::Init::normal(0.02));
  wo_ = p.declare(ctx.prefix + "wo.weight", {d_model_, HD}, model::Init::normal(std_out));
  const double gb = xavier_bound(d_model_, HD, std::pow(2.0, -2.5));
  wg_ = p.declare(ctx.prefix + "wg.weight", {HD, d_model_}, model::Init::uniform(-gb, gb));
  norm_w_ = p.declare(ctx.prefix + "norm.weight", {HD}, model::Init::ones(), /*weight_decay=*/false);
  norm_b_ = p.declare(ctx.prefix + "norm.bias", {HD}, model::Init::zeros(), /*weight_decay=*/false);
  if (opt_.decay == "original") {
    // D1[h, n] = gamma_h^n, D2[h, m] = gamma_h^-m as released. In float32 gamma^-m overflows
    // past m ~ 2.8k for the fastest head: original_positions beyond that give inf here.
    const int64_t L = opt_.original_positions;
    std::vector<double> d1, d2;
    for (int64_t h = 0; h < heads_; ++h)
      for (int64_t n = 0; n < L; ++n) {
        d1.push_back(std::pow(gammas_[size_t(h)], double(n)));
        d2.push_back(std::pow(gammas_[size_t(h)], -double(n)));
      }
    d1_ = p.declare(ctx.prefix + "decay.d1", {heads_, L}, model::Init::values(d1), /*weight_decay=*/false);
    d2_ = p.declare(ctx.prefix + "decay.d2", {heads_, L}, model::Init::values(d2), /*weight_decay=*/false);
  } else if (opt_.decay_learnable) {
    decay_theta_ = p.declare(ctx.prefix + "decay.theta", {heads_}, model::Init::values(decay_theta(gammas_)),
                             /*weight_decay=*/false);
  }
}

Tensor Dijiang::feature_map(const Tensor& x) const {
  Tensor P = Tensor::from_vector(feature_matrix_, {head_dim_, head_dim_}).to(x.dtype());
  return ops::softmax(ops::matmul(x, P));
}

Tensor Dijiang::forward(const Tensor& x, Form form, MixerState* state) {
  ATTNLAB_CHECK(x.dim() == 3 && x.size(2) == d_model_, "dijiang: expected x [B, T, ", d_model_, "], got ",
                shape_str(x.shape()));
  DecayedState* st = decayed_state_of(state, "dijiang");
  const int64_t B = x.size(0), T = x.size(1), start = st ? st->len : 0;
  if (d1_)
    ATTNLAB_CHECK(start + T <= opt_.original_positions, "dijiang: decay = \"original\" has per-position factors "
                  "D1/D2 for ", opt_.original_positions, " positions (model.mixer.original_positions), but this call "
                  "reaches position ", start + T, "; use decay = \"stable\" (gamma^(i-j), any length)");
  Tensor q = project_to_heads(x, wq_->value, heads_, head_dim_);
  Tensor k = project_to_heads(x, wk_->value, heads_, head_dim_);
  Tensor v = project_to_heads(x, wv_->value, heads_, head_dim_);
  if (opt_.position == "rope") {
    q = position::rope(q, start, rope_);
    k = position::rope(k, start, rope_);
  }
  Tensor fq = feature_map(q), fk = feature_map(k);
  Tensor lg;
  if (d1_) {
    // Released parametrisation: D1[i] on the queries, D2[j] on the keys, no decay in the core.
    auto at = [&](const std::shared_ptr<model::Param>& d) {
      return ops::reshape(ops::slice(d->value, 1, start, start + T), {1, heads_, T, 1});
    };
    fq = ops::mul(fq, at(d1_));
    fk = ops::mul(fk, at(d2_));
    lg = Tensor::zeros({heads_}, x.dtype());
  } else {
    lg = decay_theta_ ? ops::neg(ops::exp(decay_theta_->value)) : log_gamma_constant(gammas_, x.dtype());
  }
  Tensor o = form == Form::Ref        ? dijiang_core_ref(fq, fk, v, lg, st)
             : form == Form::Parallel ? dijiang_core_parallel(fq, fk, v, lg, opt_.chunk, st)
                                      : dijiang_core_recurrent(fq, fk, v, lg, st);
  // GroupNorm over the H * D channels of each token, groups of HD / G adjacent channels.
  const int64_t HD = heads_ * head_dim_;
  Tensor g = ops::reshape(merge_heads(o), {B, T, groups_, HD / groups_});
  g = ops::reshape(ops::layer_norm(g, Tensor(), Tensor(), opt_.norm_eps), {B, T, HD});
  g = ops::add(ops::mul(g, norm_w_->value), norm_b_->value);
  Tensor gate = ops::silu(ops::matmul(x, ops::transpose(wg_->value, 0, 1)));
  return ops::matmul(ops::mul(gate, g), ops::transpose(wo_->value, 0, 1));
}

}  // namespace attnlab::mixers
