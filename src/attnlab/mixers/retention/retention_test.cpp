// Retention against torchscale's recurrent formulation written out by hand in float64:
// theta_shift rotation with theta_i = 10000^(-linspace(0, 1, D/2)_i) on adjacent pairs,
// k * D^-1/2, c_n = gamma c_{n-1} + 1, S_n = gamma sqrt(c_{n-1}/c_n) S_{n-1} + k_n^T v_n / sqrt(c_n),
// o_n = q_n S_n, RMSNorm per head (eps 1e-5, no affine), y = Wo (swish(x Wg^T) * o).
// Every attnlab form must give these numbers (the registry tests hold the forms to ref).
#include <gtest/gtest.h>

#include <cmath>

#include "attnlab/autograd/node.h"
#include "attnlab/mixers/retention/retention.h"
#include "harness/assert_close.h"
#include "harness/mixer_fixture.h"

namespace attnlab::mixers {
namespace {

TEST(Retention, MatchesTorchscalesRecurrentFormWrittenOut) {
  const int64_t C = 24, H = 3, D = 8, B = 2, T = 41;
  auto b = ::attnlab::testing::build_mixer("retention", {"heads=3"}, C, DType::F64, 4);
  auto W = [&](const char* name) { return b->store.find(std::string("mixer.") + name)->value.to_vector(); };
  const std::vector<double> wq = W("wq.weight"), wk = W("wk.weight"), wv = W("wv.weight"), wg = W("wg.weight"),
                            wo = W("wo.weight");
  Rng rng(8);
  Tensor x = Tensor::randn({B, T, C}, rng, DType::F64);
  const std::vector<double> xs = x.to_vector();
  const std::vector<double> gamma = retention_gammas(H);
  auto proj = [&](const std::vector<double>& w, int64_t bb, int64_t t, int64_t row) {
    double s = 0;
    for (int64_t c = 0; c < C; ++c) s += w[size_t(row * C + c)] * xs[size_t((bb * T + t) * C + c)];
    return s;
  };
  std::vector<double> y(size_t(B * T * C), 0.0);
  for (int64_t bb = 0; bb < B; ++bb) {
    std::vector<std::vector<double>> S(size_t(H), std::vector<double>(size_t(D * D), 0.0));
    std::vector<double> c_prev(size_t(H), 0.0);
    for (int64_t t = 0; t < T; ++t) {
      std::vector<double> o(static_cast<size_t>(H * D));
      for (int64_t h = 0; h < H; ++h) {
        std::vector<double> q(static_cast<size_t>(D)), k(static_cast<size_t>(D)), v(static_cast<size_t>(D));
        for (int64_t d = 0; d < D; ++d) {
          q[size_t(d)] = proj(wq, bb, t, h * D + d);
          k[size_t(d)] = proj(wk, bb, t, h * D + d);
          v[size_t(d)] = proj(wv, bb, t, h * D + d);
        }
        for (int64_t i = 0; i < D / 2; ++i) {  // theta_shift on pairs (2i, 2i+1)
          double ang = double(t) / std::pow(10000.0, double(i) / double(D / 2 - 1));
          for (auto* z : {&q, &k}) {
            double a = (*z)[size_t(2 * i)], bv = (*z)[size_t(2 * i + 1)];
            (*z)[size_t(2 * i)] = a * std::cos(ang) - bv * std::sin(ang);
            (*z)[size_t(2 * i + 1)] = bv * std::cos(ang) + a * std::sin(ang);
          }
        }
        for (double& kk : k) kk /= std::sqrt(double(D));
        const double g = gamma[size_t(h)], c = g * c_prev[size_t(h)] + 1.0;
        auto& Sh = S[size_t(h)];
        for (int64_t a = 0; a < D; ++a)
          for (int64_t e = 0; e < D; ++e)
            Sh[size_t(a * D + e)] = g * std::sqrt(c_prev[size_t(h)] / c) * Sh[size_t(a * D + e)] +
                                    k[size_t(a)] * v[size_t(e)] / std::sqrt(c);
        c_prev[size_t(h)] = c;
        double ms = 0;
        for (int64_t e = 0; e < D; ++e) {
          double s = 0;
          for (int64_t a = 0; a < D; ++a) s += q[size_t(a)] * Sh[size_t(a * D + e)];
          o[size_t(h * D + e)] = s;
          ms += s * s / double(D);
        }
        for (int64_t e = 0; e < D; ++e) o[size_t(h * D + e)] /= std::sqrt(ms + 1e-5);
      }
      for (int64_t j = 0; j < H * D; ++j) {
        double gt = proj(wg, bb, t, j);
        o[size_t(j)] *= gt / (1.0 + std::exp(-gt));
      }
      for (int64_t c = 0; c < C; ++c) {
        double s = 0;
        for (int64_t j = 0; j < H * D; ++j) s += wo[size_t(c * H * D + j)] * o[size_t(j)];
        y[size_t((bb * T + t) * C + c)] = s;
      }
    }
  }
  Tensor want = Tensor::from_vector(y, {B, T, C});
  autograd::NoGradGuard no_grad;
  for (Form f : {Form::Ref, Form::Parallel, Form::Recurrent})
    EXPECT_CLOSE(form_name(f), want, b->mixer->forward(x, f, nullptr), 1e-10);
}

}  // namespace
}  // namespace attnlab::mixers
