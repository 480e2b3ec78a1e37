#include "attnlab/mixers/homm/homm.h"

#include <cmath>

#include "attnlab/core/parallel.h"
#include "attnlab/ops/ops.h"

namespace attnlab::mixers {

void HommOptions::validate() const { config::validate_config(*this, "model.mixer"); }

Homm::Homm(const HommOptions& opt, const MixerContext& ctx) : opt_(opt), d_model_(ctx.d_model) {
  opt_.validate();
  features_ = opt_.order * opt_.expand * d_model_;
  // The reference code's initialisation: PyTorch's default Linear weights,
  // U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and zero biases (HLM's init_weights_).
  auto linear_init = [](int64_t fan_in) {
    double a = 1.0 / std::sqrt(double(fan_in));
    return model::Init::uniform(-a, a);
  };
  auto& p = *ctx.params;
  const std::string& at = ctx.prefix;
  w_ho_ = p.declare(at + "ho_proj.weight", {features_, d_model_}, linear_init(d_model_));
  w_se_ = p.declare(at + "se_proj.weight", {features_, d_model_}, linear_init(d_model_));
  w_ag_ = p.declare(at + "ag_proj.weight", {d_model_, features_}, linear_init(features_));
  if (opt_.bias) {
    b_ho_ = p.declare(at + "ho_proj.bias", {features_}, model::Init::zeros(), /*weight_decay=*/false);
    b_se_ = p.declare(at + "se_proj.bias", {features_}, model::Init::zeros(), false);
    b_ag_ = p.declare(at + "ag_proj.bias", {d_model_}, model::Init::zeros(), false);
  }
}

namespace {
// x [..., in] -> x W^T + b [..., out], W [out, in] (PyTorch's Linear layout).
Tensor linear(const Tensor& x, const std::shared_ptr<model::Param>& w, const std::shared_ptr<model::Param>& b) {
  Tensor y = ops::matmul(x, ops::transpose(w->value, 0, 1));
  return b ? ops::add(y, b->value) : y;
}
}  // namespace

Tensor Homm::forward(const Tensor& x, Form form, MixerState* state) {
  ATTNLAB_CHECK(x.dim() == 3 && x.size(2) == d_model_, "homm: expected x [B, T, ", d_model_, "], got ",
                shape_str(x.shape()));
  HommState* st = nullptr;
  if (state) {
    st = dynamic_cast<HommState*>(state);
    ATTNLAB_CHECK(st, "homm: the state passed is not a HoMM state");
    ATTNLAB_CHECK(!st->sum.defined() || st->sum.size(0) == x.size(0), "homm: the state holds ", st->sum.size(0),
                  " sequences, x has ", x.size(0));
  }
  // Moments: gelu of the expansion, split into k groups, running products of the groups.
  Tensor g = ops::gelu(linear(x, w_ho_, b_ho_));  // [B, T, F]
  Tensor m = g;
  if (opt_.order > 1) {
    const int64_t group = opt_.expand * d_model_;
    std::vector<Tensor> groups = ops::split(g, std::vector<int64_t>(static_cast<size_t>(opt_.order), group), 2);
    std::vector<Tensor> moments{groups[0]};
    for (size_t j = 1; j < groups.size(); ++j) moments.push_back(ops::mul(moments.back(), groups[j]));
    m = ops::concat(moments, 2);
  }
  Tensor mean;
  if (form == Form::Recurrent) {
    HommState local;
    mean = homm_mean_recurrent(m, st ? *st : local);
  } else {
    mean = form == Form::Ref ? homm_mean_ref(m, st) : homm_mean_parallel(m, st);
    if (st) homm_state_add(*st, m);
  }
  Tensor selection = ops::sigmoid(linear(x, w_se_, b_se_));
  return linear(ops::mul(selection, mean), w_ag_, b_ag_);
}

Tensor homm_inverse_counts(int64_t start, int64_t T, DType dtype) {
  std::vector<double> inv(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) inv[size_t(t)] = 1.0 / double(start + t + 1);
  return Tensor::from_vector(inv, {1, T, 1}).to(dtype);
}

namespace {
template <class T>
void add_token_sums(const T* m, double* sum, int64_t B, int64_t L, int64_t F) {
  parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b)
      for (int64_t t = 0; t < L; ++t) {
        const T* row = m + (b * L + t) * F;
        double* s = sum + b * F;
        for (int64_t f = 0; f < F; ++f) s[f] += double(row[f]);
      }
  });
}
}  // namespace

void homm_state_add(HommState& state, const Tensor& m_in) {
  Tensor m = m_in.detach().contiguous();
  int64_t B = m.size(0), L = m.size(1), F = m.size(2);
  if (!state.sum.defined()) state.sum = Tensor::zeros({B, F}, DType::F64);
  double* sum = state.sum.data<double>();
  if (m.dtype() == DType::F64)
    add_token_sums(m.data<double>(), sum, B, L, F);
  else
    add_token_sums(m.to(DType::F32).data<float>(), sum, B, L, F);
  state.len += L;
}

}  // namespace attnlab::mixers
