#include "attnlab/train/update_stats.h"

#include <gtest/gtest.h>

#include <cmath>

#include "attnlab/core/rng.h"

namespace attnlab::train {
namespace {

// Block sums of explicit vectors split at `cuts` (block p is [cuts[p], cuts[p + 1])).
BlockSums sums_of(const std::vector<double>& u, const std::vector<double>& v, const std::vector<size_t>& cuts) {
  BlockSums s(cuts.size() - 1);
  for (size_t p = 0; p + 1 < cuts.size(); ++p)
    for (size_t i = cuts[p]; i < cuts[p + 1]; ++i) {
      s.dot[p] += u[i] * v[i];
      s.uu[p] += u[i] * u[i];
      s.vv[p] += v[i] * v[i];
    }
  return s;
}

TEST(UpdateStats, HandComputedCosinesAndWeights) {
  // Block 0: u = (1, 0), v = (1, 1); block 1: u = (0, 2), v = (0, -1).
  // |u| = sqrt 5, |v| = sqrt 3, <u, v> = 1 - 2 = -1.
  BlockCosine c = block_cosine(sums_of({1, 0, 0, 2}, {1, 1, 0, -1}, {0, 2, 4}));
  EXPECT_NEAR(c.local[0], 1 / std::sqrt(2.0), 1e-15);
  EXPECT_NEAR(c.local[1], -1.0, 1e-15);
  EXPECT_NEAR(c.weight[0], std::sqrt(2.0) / std::sqrt(15.0), 1e-15);
  EXPECT_NEAR(c.weight[1], 2.0 / std::sqrt(15.0), 1e-15);
  EXPECT_NEAR(c.W, (std::sqrt(2.0) + 2) / std::sqrt(15.0), 1e-15);
  EXPECT_NEAR(c.global, -1 / std::sqrt(15.0), 1e-15);
  EXPECT_NEAR(c.mean_local, (1 / std::sqrt(2.0) - 1) / 2, 1e-15);
}

TEST(UpdateStats, GlobalCosineIsTheWeightedSumOfLocalOnesAndBoundedByW) {
  Rng rng(17);
  for (int trial = 0; trial < 200; ++trial) {
    const size_t n = 40;
    std::vector<double> u(n), v(n);
    // Blocks of very different scales, so W is often far below 1.
    auto normal = [&] {
      double x;
      rng.fill_normal(&x, 1, 0.0, 1.0);
      return x;
    };
    for (size_t i = 0; i < n; ++i) {
      double su = std::exp(3 * normal() * double(i / 10)), sv = std::exp(3 * normal());
      u[i] = su * normal();
      v[i] = sv * normal() + (trial % 3 == 0 ? u[i] : 0.0);
    }
    BlockCosine c = block_cosine(sums_of(u, v, {0, 7, 10, 23, 31, 40}));
    double weighted = 0, lowest = 1;
    for (size_t p = 0; p < c.local.size(); ++p) {
      weighted += c.weight[p] * c.local[p];
      lowest = std::min(lowest, c.local[p]);
    }
    EXPECT_NEAR(c.global, weighted, 1e-12);
    EXPECT_LE(c.W, 1 + 1e-12);
    EXPECT_LE(std::abs(c.global), c.W + 1e-12);
    if (lowest >= 0) {
      EXPECT_GE(c.global, lowest * c.W - 1e-12);
    }
  }
}

TEST(UpdateStats, EqualityCases) {
  // Proportional block norm profiles: W = 1 whatever the directions inside the blocks.
  BlockCosine a = block_cosine(sums_of({3, 0, 0, 4}, {0, 6, 8, 0}, {0, 2, 4}));  // |u_p| = 3, 4; |v_p| = 6, 8
  EXPECT_NEAR(a.W, 1.0, 1e-15);
  EXPECT_NEAR(a.global, 0.0, 1e-15);
  // Every local cosine 1 and W = 1: the global cosine is 1 (u = 2 v).
  BlockCosine b = block_cosine(sums_of({2, 4, -6}, {1, 2, -3}, {0, 1, 3}));
  EXPECT_NEAR(b.W, 1.0, 1e-15);
  EXPECT_NEAR(b.global, 1.0, 1e-15);
  // Every local cosine 1 but mismatched norm profiles: the global cosine is only W < 1.
  BlockCosine c = block_cosine(sums_of({1, 0}, {0, 1}, {0, 1, 2}));  // u lives in block 0, v in block 1
  EXPECT_EQ(c.W, 0.0);
  EXPECT_EQ(c.global, 0.0);
  BlockCosine d = block_cosine(sums_of({1, 1}, {1, 3}, {0, 1, 2}));  // c_p = 1 each, W = 4 / sqrt(20)
  EXPECT_NEAR(d.local[0], 1.0, 1e-15);
  EXPECT_NEAR(d.local[1], 1.0, 1e-15);
  EXPECT_NEAR(d.W, 4 / std::sqrt(20.0), 1e-15);
  EXPECT_NEAR(d.global, d.W, 1e-15);
  // Zero vectors give 0, not NaN.
  BlockCosine z = block_cosine(sums_of({0, 0}, {1, 2}, {0, 2}));
  EXPECT_EQ(z.global, 0.0);
  EXPECT_EQ(z.local[0], 0.0);
}

TEST(UpdateStats, ParameterGroups) {
  EXPECT_EQ(parameter_group("embed.weight"), "embed");
  EXPECT_EQ(parameter_group("head.weight"), "head");
  EXPECT_EQ(parameter_group("blocks.3.mixer.wq.weight"), "mixer");
  EXPECT_EQ(parameter_group("blocks.0.mixer.key_norm.temperature"), "mixer");
  EXPECT_EQ(parameter_group("blocks.1.mlp.up.weight"), "mlp");
  EXPECT_EQ(parameter_group("blocks.1.norm2.weight"), "norm");
  EXPECT_EQ(parameter_group("norm.bias"), "norm");
}

TEST(UpdateStats, LoggedValuesMatchTheUpdatesMade) {
  // Two groups; a hand-made "optimizer" moves the weights; the logged cosines and ratios
  // are those of the explicit vectors.
  model::ParamStore store;
  store.declare("embed.weight", {2, 2}, model::Init::constant(1.0), false);
  store.declare("blocks.0.mlp.up.weight", {3}, model::Init::constant(2.0));
  store.allocate(1, DType::F64);
  UpdateDiagnostics diag(store, 2);
  // Parameters start on 16-float boundaries in the flat buffer: scatter the 7 values there.
  auto flat = [&](const std::vector<double>& seven) {
    std::vector<double> all(size_t(store.numel()), 0.0);
    size_t k = 0;
    for (const auto& prm : store.params())
      for (int64_t i = 0; i < shape_numel(prm->shape); ++i) all[size_t(prm->offset + i)] = seven[k++];
    return Tensor::from_vector(all, {store.numel()});
  };
  auto step = [&](int64_t done, const std::vector<double>& grad, const std::vector<double>& update) {
    store.grads().copy_from(flat(grad));
    diag.before_step(done);
    Tensor w = store.values().clone();
    std::vector<double> u = flat(update).to_vector(), wv = w.to_vector();
    for (size_t i = 0; i < wv.size(); ++i) wv[i] += u[i];
    store.values().copy_from(Tensor::from_vector(wv, {store.numel()}));
    nlohmann::json line;
    diag.after_step(done, line);
    return line;
  };
  nlohmann::json first = step(1, {1, 1, 1, 1, 1, 1, 1}, {1, 0, 0, 0, 0, 0, 1});
  EXPECT_TRUE(first.is_null()) << "step 1 is not a diagnostic step: " << first.dump();
  std::vector<double> g{-1, 0, 0, 0, 1, 0, 0}, u{2, 0, 0, 0, 0, 0, -1};
  nlohmann::json line = step(2, g, u);
  // vs -g: embed block u = (2,0,0,0), -g = (1,0,0,0): cos 1; mlp block u = (0,0,-1), -g = (-1,0,0): cos 0.
  EXPECT_NEAR(line["upd_cos_grad.embed"].get<double>(), 1.0, 1e-15);
  EXPECT_NEAR(line["upd_cos_grad.mlp"].get<double>(), 0.0, 1e-15);
  EXPECT_NEAR(line["upd_cos_grad"].get<double>(), 2 / (std::sqrt(5.0) * std::sqrt(2.0)), 1e-15);
  EXPECT_NEAR(line["upd_W_grad"].get<double>(), (2 * 1 + 1 * 1) / (std::sqrt(5.0) * std::sqrt(2.0)), 1e-15);
  // vs the previous update (1,0,0,0 | 0,0,1): embed cos 1, mlp cos -1, global (2 - 1) / (sqrt 5 sqrt 2).
  EXPECT_NEAR(line["upd_cos_prev.embed"].get<double>(), 1.0, 1e-15);
  EXPECT_NEAR(line["upd_cos_prev.mlp"].get<double>(), -1.0, 1e-15);
  EXPECT_NEAR(line["upd_cos_prev"].get<double>(), 1 / std::sqrt(10.0), 1e-15);
  // Ratios against the weights before the step: embed (2,1,1,1) -> |w| = sqrt 7; mlp (2,2,3) -> sqrt 17.
  EXPECT_NEAR(line["upd_ratio.embed"].get<double>(), 2 / std::sqrt(7.0), 1e-15);
  EXPECT_NEAR(line["upd_ratio.mlp"].get<double>(), 1 / std::sqrt(17.0), 1e-15);
  EXPECT_NEAR(line["upd_ratio"].get<double>(), std::sqrt(5.0 / 24.0), 1e-15);
  // Step 4 follows step 3, whose update was kept: the previous-update keys are there;
  // a diagnostic step whose predecessor was not seen (a resume) has none.
  step(3, g, u);
  EXPECT_TRUE(step(4, g, u).contains("upd_cos_prev"));
  UpdateDiagnostics resumed(store, 2);
  store.grads().copy_from(flat(g));
  resumed.before_step(6);
  nlohmann::json after_resume;
  resumed.after_step(6, after_resume);
  EXPECT_TRUE(after_resume.contains("upd_cos_grad"));
  EXPECT_FALSE(after_resume.contains("upd_cos_prev"));
}

}  // namespace
}  // namespace attnlab::train
