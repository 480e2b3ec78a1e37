#include "attnlab/eval/diagnostics.h"

#include <gtest/gtest.h>

#include <cmath>

#include "attnlab/autograd/node.h"
#include "attnlab/core/rng.h"
#include "attnlab/mixers/softmax/softmax.h"
#include "attnlab/model/lm.h"
#include "attnlab/ops/attention.h"

namespace attnlab::eval {
namespace {

TEST(AttentionRowStats, UniformRow) {
  for (int64_t n : {2, 7, 100}) {
    std::vector<double> row(static_cast<size_t>(n), 1.0 / double(n));
    RowStats s = attention_row_stats(row.data(), n);
    EXPECT_NEAR(s.v[kEntropy], std::log(double(n)), 1e-12);
    EXPECT_NEAR(s.v[kNormEntropy], 1.0, 1e-12);
    EXPECT_NEAR(s.v[kSpan], double(n), 1e-9);
    EXPECT_NEAR(s.v[kMaxWeight], 1.0 / double(n), 1e-15);
    EXPECT_NEAR(s.v[kFirstWeight], 1.0 / double(n), 1e-15);
    EXPECT_NEAR(s.v[kSparsity], 1.0, 1e-12);
  }
}

TEST(AttentionRowStats, OneHotRow) {
  for (int64_t n : {2, 9, 64})
    for (int64_t hot : {int64_t(0), n - 1}) {
      std::vector<double> row(static_cast<size_t>(n), 0.0);
      row[size_t(hot)] = 1;
      RowStats s = attention_row_stats(row.data(), n);
      EXPECT_EQ(s.v[kEntropy], 0.0);
      EXPECT_EQ(s.v[kNormEntropy], 0.0);
      EXPECT_EQ(s.v[kSpan], 1.0);
      EXPECT_EQ(s.v[kMaxWeight], 1.0);
      EXPECT_EQ(s.v[kFirstWeight], hot == 0 ? 1.0 : 0.0);
      EXPECT_NEAR(s.v[kSparsity], 1.0 / std::sqrt(double(n)), 1e-15);
    }
}

TEST(AttentionRowStats, UniformOverKOfNKeys) {
  // Uniform over k of n keys: H = log k, span k, S = sqrt(k / n).
  const int64_t n = 40, k = 10;
  std::vector<double> row(static_cast<size_t>(n), 0.0);
  for (int64_t j = n - k; j < n; ++j) row[size_t(j)] = 1.0 / double(k);
  RowStats s = attention_row_stats(row.data(), n);
  EXPECT_NEAR(s.v[kSpan], double(k), 1e-9);
  EXPECT_NEAR(s.v[kNormEntropy], std::log(double(k)) / std::log(double(n)), 1e-12);
  EXPECT_NEAR(s.v[kSparsity], std::sqrt(double(k) / double(n)), 1e-12);
  // One key: entropy is 0 and norm_entropy undefined (left out of means).
  double one = 1;
  RowStats s1 = attention_row_stats(&one, 1);
  EXPECT_TRUE(std::isnan(s1.v[kNormEntropy]));
  StatSums sums;
  sums.add(s1);
  sums.add(s);
  EXPECT_NEAR(sums.mean(kNormEntropy), s.v[kNormEntropy], 1e-12);
  EXPECT_NEAR(sums.mean(kSpan), (1 + double(k)) / 2, 1e-9);
}

TEST(AttentionDiagnostics, PositionBins) {
  EXPECT_EQ(position_bin(0), 0);
  EXPECT_EQ(position_bin(1), 1);
  EXPECT_EQ(position_bin(2), 1);
  EXPECT_EQ(position_bin(3), 2);
  EXPECT_EQ(position_bin(6), 2);
  EXPECT_EQ(position_bin(7), 3);
  EXPECT_EQ(position_bin(1023), 10);
}

TEST(AttentionDiagnostics, CausalUniformMapsGiveEntropyOneAndNeedleShare) {
  // Head 0 uniform over the prefix, head 1 one-hot on the first token.
  const int64_t T = 20;
  std::vector<double> w(static_cast<size_t>(2 * T * T), 0.0);
  for (int64_t i = 0; i < T; ++i) {
    for (int64_t j = 0; j <= i; ++j) w[size_t(i * T + j)] = 1.0 / double(i + 1);
    w[size_t(T * T + i * T)] = 1;
  }
  AttentionDiagnostics d;
  d.set_needle(5, 8);
  d.on_attention(1, Tensor::from_vector(w, {1, 2, T, T}));
  ASSERT_EQ(d.layers(), 2);
  EXPECT_EQ(d.heads(1), 2);
  EXPECT_NEAR(d.total(1, 0).mean(kNormEntropy), 1.0, 1e-12);
  EXPECT_NEAR(d.total(1, 1).mean(kNormEntropy), 0.0, 1e-12);
  EXPECT_NEAR(d.total(1, 1).mean(kFirstWeight), 1.0, 1e-12);
  EXPECT_NEAR(d.total(1, 0).mean(kSparsity), 1.0, 1e-12);
  // Span of the uniform head in bin b is the mean of (p + 1) over p in [2^b - 1, 2^(b+1) - 1).
  const auto& bins = d.by_position(1, 0);
  ASSERT_EQ(bins.size(), 5u);  // p up to 19: bins 0..4
  EXPECT_NEAR(bins[2].mean(kSpan), (4 + 5 + 6 + 7) / 4.0, 1e-9);
  EXPECT_NEAR(d.needle_weight(1, 0), 3.0 / double(T), 1e-12);
  EXPECT_NEAR(d.needle_weight(1, 1), 0.0, 1e-12);
  EXPECT_TRUE(std::isnan(d.needle_uniform())) << "the baseline is counted on layer 0 only";
}

// The maps the softmax mixer reports are its ref definition's softmax: rows sum to 1,
// masked keys get 0, and weights x V is the reference attention.
TEST(SoftmaxAttentionWeights, MatchTheReferenceOutput) {
  Rng rng(4);
  const int64_t B = 2, H = 4, Hkv = 2, Tq = 5, Tk = 9, D = 3;
  Tensor q = Tensor::randn({B, H, Tq, D}, rng, DType::F64);
  Tensor k = Tensor::randn({B, Hkv, Tk, D}, rng, DType::F64);
  Tensor v = Tensor::randn({B, Hkv, Tk, D}, rng, DType::F64);
  for (int64_t window : {0, 3}) {
    auto opt = ops::AttentionOptions::make(0.7, true, -1, {0.5f, 0.25f, 0.125f, 0.0625f}, window);
    Tensor w = mixers::softmax_attention_weights(q, k, opt);
    Tensor ref = ops::attention_reference(q, k, v, opt);
    const double* W = w.data<double>();
    const double* V = v.data<double>();
    const double* R = ref.data<double>();
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t i = 0; i < Tq; ++i) {
          const double* row = W + ((b * H + h) * Tq + i) * Tk;
          double total = 0;
          const int64_t p = Tk - Tq + i;
          for (int64_t j = 0; j < Tk; ++j) {
            total += row[j];
            if (j > p || (window && p - j >= window)) {
              EXPECT_EQ(row[j], 0.0);
            }
          }
          EXPECT_NEAR(total, 1.0, 1e-12);
          for (int64_t d = 0; d < D; ++d) {
            double o = 0;
            for (int64_t j = 0; j < Tk; ++j) o += row[j] * V[((b * Hkv + h / 2) * Tk + j) * D + d];
            EXPECT_NEAR(o, R[((b * H + h) * Tq + i) * D + d], 1e-12);
          }
        }
  }
}

// A model forward under an observer reports one map per layer, [1, H, T, T].
TEST(AttentionDiagnostics, ModelReportsEveryLayer) {
  model::ModelConfig c;
  c.vocab_size = 50;
  c.d_model = 16;
  c.n_layers = 3;
  c.mixer.name = "softmax";
  model::LanguageModel lm(c, 1);
  struct Count : mixers::AttentionObserver {
    std::vector<int64_t> layers;
    void on_attention(int64_t layer, const Tensor& w) override {
      layers.push_back(layer);
      EXPECT_EQ(w.shape(), (Shape{1, 4, 7, 7}));
    }
  } count;
  std::vector<int32_t> toks = {1, 2, 3, 4, 5, 6, 7};
  {
    mixers::ObserveAttention observe(&count);
    autograd::NoGradGuard g;
    lm.forward(Tensor::from_vector(toks, {1, 7}));
  }
  EXPECT_EQ(count.layers, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(mixers::attention_observer(), nullptr);  // restored
  lm.forward(Tensor::from_vector(toks, {1, 7}));
  EXPECT_EQ(count.layers.size(), 3u);
}

}  // namespace
}  // namespace attnlab::eval
