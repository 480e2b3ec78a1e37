#include "attnlab/mixers/deer_rnn/deer_rnn.h"

#include <cmath>

#include "attnlab/autograd/node.h"
#include "attnlab/ops/ops.h"

namespace attnlab::mixers {

void DeerRnnOptions::validate(int64_t d_model) const {
  config::validate_config(*this, "model.mixer");
  ATTNLAB_CHECK(head_dim > 0 || d_model % heads == 0, "model.mixer.heads = ", heads,
                " must divide model.d_model = ", d_model, " (or set model.mixer.head_dim)");
}

DeerRnn::DeerRnn(const DeerRnnOptions& opt, const MixerContext& ctx) : opt_(opt), d_model_(ctx.d_model) {
  opt_.validate(d_model_);
  groups_ = opt_.heads;
  state_dim_ = opt_.head_dim ? opt_.head_dim : d_model_ / groups_;
  solve_.cell = opt_.cell == "tanh" ? DeerCell::Tanh : DeerCell::Gru;
  solve_.diagonal = opt_.jacobian == "diagonal";
  solve_.elk_sigma2 = opt_.elk_sigma2;
  solve_.tol_abs = opt_.tol_abs;
  solve_.tol_rel = opt_.tol_rel;
  solve_.max_iter = opt_.max_iter;
  solve_.chunks = opt_.scan_chunks;
  const int64_t K = deer_gates(solve_.cell), G = groups_, D = state_dim_;
  // Input projection N(0, 1/C) so the pre-activations are O(1) for a normed input; the
  // recurrent matrices U(-1/sqrt(D), 1/sqrt(D)) as PyTorch's RNN/GRU; the output
  // projection writes into the residual stream: N(0, 0.02 / sqrt(2 * layers)).
  auto& p = *ctx.params;
  const double r = 1.0 / std::sqrt(double(D));
  w_in_ = p.declare(ctx.prefix + "in_proj.weight", {G * K * D, d_model_},
                    model::Init::normal(1.0 / std::sqrt(double(d_model_))));
  b_in_ = p.declare(ctx.prefix + "in_proj.bias", {G * K * D}, model::Init::zeros(), false);
  w_rec_ = p.declare(ctx.prefix + "recurrent.weight", {G, K * D, D}, model::Init::uniform(-r, r));
  w_out_ = p.declare(ctx.prefix + "out_proj.weight", {d_model_, G * D},
                     model::Init::normal(0.02 / std::sqrt(2.0 * double(ctx.n_layers))));
}

Tensor DeerRnn::forward(const Tensor& x, Form form, MixerState* state) {
  ATTNLAB_CHECK(x.dim() == 3 && x.size(2) == d_model_, "deer_rnn: expected x [B, T, ", d_model_, "], got ",
                shape_str(x.shape()));
  DeerRnnState* st = nullptr;
  if (state) {
    st = dynamic_cast<DeerRnnState*>(state);
    ATTNLAB_CHECK(st, "deer_rnn: the state passed is not a deer_rnn state");
  }
  const int64_t B = x.size(0), T = x.size(1), G = groups_, D = state_dim_, K = deer_gates(solve_.cell);
  Tensor u = ops::add(ops::matmul(x, ops::transpose(w_in_->value, 0, 1)), b_in_->value);
  u = ops::reshape(u, {B, T, G, K * D});
  Tensor h0 = st && st->len > 0 ? st->h : Tensor();
  ATTNLAB_CHECK(!h0.defined() || h0.size(0) == B, "deer_rnn: the state holds batch ", h0.defined() ? h0.size(0) : 0,
                ", x has batch ", B);
  Tensor h;
  if (form == Form::Ref) h = deer_rnn_ref(u, w_rec_->value, h0, solve_.cell);
  else if (form == Form::Parallel) h = deer_rnn_scan(u, w_rec_->value, h0, solve_, &stats_);
  else h = deer_rnn_recurrent(u, w_rec_->value, h0, solve_.cell);
  if (st && T > 0) {
    Tensor last = ops::reshape(ops::contiguous(ops::slice(h, 1, T - 1, T)), {B, G, D});
    // Without gradients keep a copy, not a view that would hold all T states alive.
    st->h = last.requires_grad() ? last : last.detach().clone();
    st->len += T;
  }
  return ops::matmul(ops::reshape(h, {B, T, G * D}), ops::transpose(w_out_->value, 0, 1));
}

}  // namespace attnlab::mixers
