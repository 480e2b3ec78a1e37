#include "attnlab/ops/emo_loss.h"

#include <gtest/gtest.h>

#include <cmath>

#include "attnlab/ops/loss.h"
#include "harness/assert_close.h"

namespace attnlab::ops {
namespace {

using ::attnlab::testing::error_of;

// The definition in plain double loops from the raw (not normalised) embedding:
// per row, Q = softmax(x), s_j = cos(e_j, e_t), DEMD = sum_j Q_j (1 - s_j), and its
// gradient dDEMD/dx_j = -Q_j (s_j - sum_i Q_i s_i).
struct DemdRef {
  std::vector<double> demd, ddemd, q;  // [N], [N * V], [N * V]
};

DemdRef demd_ref(const std::vector<double>& x, const std::vector<int32_t>& t, const std::vector<double>& e,
                 int64_t N, int64_t V, int64_t d) {
  DemdRef r{std::vector<double>(size_t(N)), std::vector<double>(size_t(N * V)), std::vector<double>(size_t(N * V))};
  auto norm = [&](int64_t i) {
    double s = 0;
    for (int64_t k = 0; k < d; ++k) s += e[size_t(i * d + k)] * e[size_t(i * d + k)];
    return std::sqrt(s);
  };
  for (int64_t n = 0; n < N; ++n) {
    if (t[size_t(n)] < 0) continue;
    double m = -1e300, z = 0;
    for (int64_t j = 0; j < V; ++j) m = std::max(m, x[size_t(n * V + j)]);
    for (int64_t j = 0; j < V; ++j) z += std::exp(x[size_t(n * V + j)] - m);
    std::vector<double> s(static_cast<size_t>(V));
    double mean_s = 0;
    const int64_t tt = t[size_t(n)];
    for (int64_t j = 0; j < V; ++j) {
      double q = std::exp(x[size_t(n * V + j)] - m) / z, dot = 0;
      for (int64_t k = 0; k < d; ++k) dot += e[size_t(j * d + k)] * e[size_t(tt * d + k)];
      s[size_t(j)] = dot / (norm(j) * norm(tt));
      r.q[size_t(n * V + j)] = q;
      r.demd[size_t(n)] += q * (1 - s[size_t(j)]);
      mean_s += q * s[size_t(j)];
    }
    for (int64_t j = 0; j < V; ++j)
      r.ddemd[size_t(n * V + j)] = -r.q[size_t(n * V + j)] * (s[size_t(j)] - mean_s);
  }
  return r;
}

struct Problem {
  int64_t N = 9, V = 37, d = 5;
  std::vector<int32_t> targets{3, -100, 0, 36, 36, 17, 5, -100, 22};
  Tensor logits, embedding;
  explicit Problem(DType dtype, uint64_t seed = 7) {
    Rng rng(seed);
    logits = Tensor::randn({N, V}, rng, dtype, 2.0);
    embedding = Tensor::randn({V, d}, rng, dtype);
  }
  Tensor t() const { return Tensor::from_vector(targets, {N}); }
};

TEST(EmoLoss, DistanceMatchesTheDefinitionInDouble) {
  for (DType dtype : {DType::F64, DType::F32}) {
    Problem p(dtype);
    DemdRef ref = demd_ref(p.logits.to_vector(), p.targets, p.embedding.to_vector(), p.N, p.V, p.d);
    Tensor got = emo_distance(p.logits, p.t(), emo_unit_rows(p.embedding));
    EXPECT_CLOSE("demd", Tensor::from_vector(ref.demd, {p.N}).to(dtype), got, dtype == DType::F64 ? 1e-13 : 1e-5);
    for (double v : got.to_vector()) {
      EXPECT_GE(v, -1e-6);  // a mean of costs in [0, 2]
      EXPECT_LE(v, 2 + 1e-6);
    }
    EXPECT_EQ(got.to_vector()[1], 0.0) << "an ignored row is 0";
  }
}

TEST(EmoLoss, OneHotPredictionOfTheTargetCostsNothing) {
  Problem p(DType::F64);
  std::vector<double> x(size_t(p.N * p.V), 0.0);
  for (int64_t n = 0; n < p.N; ++n)
    if (p.targets[size_t(n)] >= 0) x[size_t(n * p.V + p.targets[size_t(n)])] = 1000.0;  // softmax is exactly one-hot
  Tensor got = emo_distance(Tensor::from_vector(x, {p.N, p.V}), p.t(), emo_unit_rows(p.embedding));
  for (double v : got.to_vector()) EXPECT_NEAR(v, 0.0, 1e-15);  // |e^| = 1 to rounding
}

TEST(EmoLoss, OrthonormalEmbeddingGivesOneMinusTheTargetProbability) {
  // e^ = identity: every other token costs 1, so DEMD = 1 - Q_t.
  const int64_t V = 6;
  std::vector<double> eye(size_t(V * V), 0.0);
  for (int64_t i = 0; i < V; ++i) eye[size_t(i * V + i)] = 3.0;  // normalised inside
  Rng rng(3);
  Tensor logits = Tensor::randn({4, V}, rng, DType::F64);
  Tensor t = Tensor::from_vector(std::vector<int32_t>{0, 5, 2, 2}, {4});
  Tensor got = emo_distance(logits, t, emo_unit_rows(Tensor::from_vector(eye, {V, V})));
  std::vector<double> x = logits.to_vector(), g = got.to_vector();
  const int targets[] = {0, 5, 2, 2};
  for (int64_t n = 0; n < 4; ++n) {
    double z = 0;
    for (int64_t j = 0; j < V; ++j) z += std::exp(x[size_t(n * V + j)]);
    EXPECT_NEAR(g[size_t(n)], 1 - std::exp(x[size_t(n * V + targets[n])]) / z, 1e-14);
  }
}

TEST(EmoLoss, CeEqualValueIsCrossEntropyAndEmphasisedIsTwiceTheDistance) {
  // Exactly, with the eps of the ratios: per row 1/2 [CE + CE DEMD / (DEMD + eps)] and
  // DEMD + DEMD CE / (CE + eps); so CE and 2 DEMD up to a relative eps / DEMD (or eps / CE).
  for (DType dtype : {DType::F64, DType::F32}) {
    Problem p(dtype, 11);
    Tensor unit = emo_unit_rows(p.embedding);
    std::vector<double> ce = cross_entropy_per_token(p.logits, p.t()).to_vector();
    std::vector<double> demd = emo_distance(p.logits, p.t(), unit).to_vector();
    const double eps = 1e-8;
    double want_equal = 0, want_emph = 0, mean_ce = 0, mean_demd = 0;
    for (int64_t n = 0; n < p.N; ++n) {
      if (p.targets[size_t(n)] < 0) continue;
      const double c = ce[size_t(n)], d = demd[size_t(n)];
      want_equal += 0.5 * (c + c * d / (d + eps)) / 7;
      want_emph += (d + d * c / (c + eps)) / 7;
      mean_ce += c / 7;
      mean_demd += d / 7;
    }
    const double tol = dtype == DType::F64 ? 1e-12 : 1e-6;
    const double equal = emo_loss(p.logits, p.t(), unit, EmoMode::CeEqual, -100, eps).item();
    const double emph = emo_loss(p.logits, p.t(), unit, EmoMode::EmoEmphasised, -100, eps).item();
    EXPECT_NEAR(equal, want_equal, tol * want_equal);
    EXPECT_NEAR(emph, want_emph, tol * want_emph);
    EXPECT_NEAR(equal, mean_ce, 1e-6 * mean_ce);
    EXPECT_NEAR(emph, 2 * mean_demd, 1e-6 * mean_demd);
    EXPECT_NEAR(mean_ce, cross_entropy(p.logits, p.t()).item(), tol * mean_ce);
  }
}

TEST(EmoLoss, GradientsAreTheStopGradientMixtures) {
  // ce-equal:  dL/dx = 1/count * 1/2 [(softmax - onehot) + CE/DEMD dDEMD/dx]
  // emphasised: dL/dx = 1/count * [dDEMD/dx + DEMD/CE (softmax - onehot)]
  Problem p(DType::F64, 5);
  DemdRef ref = demd_ref(p.logits.to_vector(), p.targets, p.embedding.to_vector(), p.N, p.V, p.d);
  std::vector<double> ce = cross_entropy_per_token(p.logits, p.t()).to_vector();
  const double count = 7;
  for (EmoMode mode : {EmoMode::CeEqual, EmoMode::EmoEmphasised}) {
    Tensor x = p.logits.clone().set_requires_grad(true);
    Tensor e = p.embedding.clone().set_requires_grad(true);
    emo_loss(x, p.t(), emo_unit_rows(e), mode).backward();
    std::vector<double> want(size_t(p.N * p.V), 0.0);
    for (int64_t n = 0; n < p.N; ++n) {
      const int32_t t = p.targets[size_t(n)];
      if (t < 0) continue;
      const double c = ce[size_t(n)], dm = ref.demd[size_t(n)];
      for (int64_t j = 0; j < p.V; ++j) {
        size_t i = size_t(n * p.V + j);
        double dce = ref.q[i] - (j == t ? 1.0 : 0.0);
        want[i] = mode == EmoMode::CeEqual ? 0.5 * (dce + c / (dm + 1e-8) * ref.ddemd[i])
                                           : ref.ddemd[i] + dm / (c + 1e-8) * dce;
        want[i] /= count;
      }
    }
    EXPECT_CLOSE("dlogits", Tensor::from_vector(want, {p.N, p.V}), x.grad(), 1e-12);
    EXPECT_FALSE(e.grad().defined()) << "the cost embedding is frozen";
  }
}

TEST(EmoLoss, EveryTargetIgnoredGivesZero) {
  Problem p(DType::F64);
  Tensor t = Tensor::from_vector(std::vector<int32_t>(size_t(p.N), -100), {p.N});
  Tensor x = p.logits.clone().set_requires_grad(true);
  Tensor loss = emo_loss(x, t, emo_unit_rows(p.embedding), EmoMode::CeEqual);
  EXPECT_EQ(loss.item(), 0.0);
  loss.backward();
  for (double g : x.grad().to_vector()) EXPECT_EQ(g, 0.0);
}

TEST(EmoLoss, BadInputIsAnErrorNamingIt) {
  Problem p(DType::F64);
  Tensor unit = emo_unit_rows(p.embedding);
  EXPECT_NE(error_of([&] { emo_distance(p.logits, p.t(), emo_unit_rows(Tensor::zeros({5, 4}, DType::F64))); })
                .find("[V = 37, d]"),
            std::string::npos);
  std::vector<int32_t> bad = p.targets;
  bad[4] = 37;
  EXPECT_NE(error_of([&] { emo_loss(p.logits, Tensor::from_vector(bad, {p.N}), unit, EmoMode::CeEqual); })
                .find("target 37 at row 4"),
            std::string::npos);
  EXPECT_NE(error_of([&] { emo_distance(p.logits.to(DType::F32), p.t(), unit); }).find("float64"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_emo_mode("emo2"); }).find("train.emo_mode"), std::string::npos);
}

}  // namespace
}  // namespace attnlab::ops
