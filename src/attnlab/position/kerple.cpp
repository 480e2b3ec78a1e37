#include "attnlab/position/kerple.h"

#include <cmath>

#include "attnlab/ops/gradcases.h"
#include "attnlab/ops/ops.h"

namespace attnlab::position {

Tensor softplus(const Tensor& rho) { return ops::log(ops::add_scalar(ops::exp(rho), 1.0)); }

double softplus_inverse(double y) {
  ATTNLAB_CHECK(y > 0, "softplus_inverse: needs y > 0, got ", y);
  return std::log(std::expm1(y));
}

namespace {
// -p log(1 + a d) with p, a broadcast against the distances d.
Tensor kerple_of(const Tensor& p, const Tensor& a, const Tensor& dist) {
  return ops::neg(ops::mul(p, ops::log(ops::add_scalar(ops::mul(a, dist), 1.0))));
}
void check_params(const char* op, const Tensor& p, const Tensor& a) {
  ATTNLAB_CHECK(p.defined() && a.defined() && p.dim() == 1 && p.shape() == a.shape() &&
                    p.dtype() == a.dtype(),
                op, ": p and a must be [H] tensors of one dtype, got ",
                p.defined() ? shape_str(p.shape()) : "undefined", " and ",
                a.defined() ? shape_str(a.shape()) : "undefined");
}
}  // namespace

Tensor kerple_distance_table(const Tensor& p, const Tensor& a, int64_t n) {
  check_params("kerple_distance_table", p, a);
  ATTNLAB_CHECK(n >= 1, "kerple_distance_table: n must be >= 1, got ", n);
  std::vector<double> d(static_cast<size_t>(n));
  for (int64_t x = 0; x < n; ++x) d[size_t(x)] = double(x);
  const int64_t H = p.size(0);
  return kerple_of(ops::reshape(p, {H, 1}), ops::reshape(a, {H, 1}),
                   Tensor::from_vector(d, {1, n}).to(p.dtype()));
}

Tensor kerple_bias(const Tensor& p, const Tensor& a, int64_t Tq, int64_t Tk, int64_t offset) {
  check_params("kerple_bias", p, a);
  std::vector<double> d(static_cast<size_t>(Tq * Tk));
  for (int64_t i = 0; i < Tq; ++i)
    for (int64_t j = 0; j < Tk; ++j) d[size_t(i * Tk + j)] = std::abs(double(offset + i - j));
  const int64_t H = p.size(0);
  return kerple_of(ops::reshape(p, {H, 1, 1}), ops::reshape(a, {H, 1, 1}),
                   Tensor::from_vector(d, {1, Tq, Tk}).to(p.dtype()));
}

}  // namespace attnlab::position

namespace attnlab::ops {

void add_kerple_gradcases(std::vector<autograd::GradCase>& cases) {
  using Inputs = std::vector<Tensor>;
  // rho around 0 (p, a near softplus(0) = 0.69), so every term matters.
  auto rho = [](Rng& r, int64_t H) {
    return Tensor::uniform({H}, r, -1.5, 1.0, DType::F64).set_requires_grad(true);
  };
  cases.push_back({"kerple_bias", "distance table H=3 n=9 through softplus",
                   [=](Rng& r) { return Inputs{rho(r, 3), rho(r, 3)}; },
                   [](const Inputs& x) {
                     return position::kerple_distance_table(position::softplus(x[0]), position::softplus(x[1]), 9);
                   }});
  cases.push_back({"kerple_bias", "bias matrix H=2 Tq=3 Tk=6 offset 4 (|i - j| both ways)",
                   [=](Rng& r) { return Inputs{rho(r, 2), rho(r, 2)}; },
                   [](const Inputs& x) {
                     return position::kerple_bias(position::softplus(x[0]), position::softplus(x[1]), 3, 6, 4);
                   }});
  // Through the fused kernel: gradients reach rho via the table's gradient.
  cases.push_back({"attention_distance_bias", "Kerple table via softplus, GQA H=4 Hkv=2 T=6",
                   [=](Rng& r) {
                     auto in = [&](const Shape& s) { return Tensor::randn(s, r, DType::F64).set_requires_grad(true); };
                     return Inputs{in({1, 4, 6, 3}), in({1, 2, 6, 3}), in({1, 2, 6, 3}), rho(r, 4), rho(r, 4)};
                   },
                   [](const Inputs& x) {
                     Tensor table = position::kerple_distance_table(position::softplus(x[3]), position::softplus(x[4]), 6);
                     return attention_distance_bias(x[0], x[1], x[2], table, AttentionOptions::make(0.5));
                   }});
}

}  // namespace attnlab::ops
