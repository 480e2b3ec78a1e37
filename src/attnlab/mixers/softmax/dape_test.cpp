// DAPE V2 and Kerple in the softmax mixer (scores.h). dape_scores against explicit loops
// written from the definition (k = 1, 3, 5; with and without a bias channel); decoding one
// token at a time equals the parallel form; a token's output does not depend on later
// tokens (the extended key axis); the parallel form's blocks bound its memory; Kerple's
// learned p and a start in range and move the output. (Every form against ref, on values
// and all gradients, and finite differences: the registry tests.)
#include <gtest/gtest.h>

#include <cmath>

#include "attnlab/autograd/checkpoint.h"
#include "attnlab/autograd/node.h"
#include "attnlab/core/storage.h"
#include "attnlab/mixers/softmax/softmax.h"
#include "attnlab/ops/ops.h"
#include "attnlab/position/kerple.h"
#include "harness/assert_close.h"
#include "harness/mixer_fixture.h"

namespace attnlab::mixers {
namespace {

constexpr int64_t kWidth = 24;
using Built = ::attnlab::testing::BuiltMixer;

std::unique_ptr<Built> build(const std::vector<std::string>& variant, DType dtype = DType::F64) {
  return ::attnlab::testing::build_mixer("softmax", variant, kWidth, dtype, 13);
}

// The definition, one row at a time: X(c, j) = [A; bias](c, j) for j <= pos, 0 after (and
// beyond Tk); hidden(d, j) = leaky(b1 + sum w1 X) for j >= 0, 0 for j < 0 (the second
// convolution's left padding); g(h, j) = b2 + sum w2 hidden; S~ = A + bias + g.
std::vector<double> dape_loops(const Tensor& A, const Tensor& bias, int64_t offset, const DapeWeights& w) {
  const int64_t B = A.size(0), H = A.size(1), R = A.size(2), Tk = A.size(3), K = w.kernel, P = K / 2;
  const int64_t C = w.w1.size(1), Dh = w.w1.size(0);
  auto at = [](const Tensor& t, std::initializer_list<int64_t> i) { return t.at(i); };
  std::vector<double> out(size_t(B * H * R * Tk));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t r = 0; r < R; ++r) {
      const int64_t pos = offset + r;
      auto X = [&](int64_t c, int64_t j) -> double {
        if (j < 0 || j > pos || j >= Tk) return 0.0;
        return c < H ? at(A, {b, c, r, j}) : at(bias, {c - H, r, j});
      };
      auto hidden = [&](int64_t d, int64_t j) -> double {
        if (j < 0) return 0.0;
        double s = at(w.b1, {d});
        for (int64_t c = 0; c < C; ++c)
          for (int64_t k = 0; k < K; ++k) s += at(w.w1, {d, c, k}) * X(c, j + k - P);
        return s > 0 ? s : 0.01 * s;
      };
      for (int64_t h = 0; h < H; ++h)
        for (int64_t j = 0; j <= std::min(pos, Tk - 1); ++j) {
          double g = w.b2.defined() ? at(w.b2, {h}) : 0.0;
          for (int64_t d = 0; d < Dh; ++d)
            for (int64_t k = 0; k < K; ++k) g += at(w.w2, {h, d, k}) * hidden(d, j + k - P);
          const double base = at(A, {b, h, r, j}) + (bias.defined() ? at(bias, {h, r, j}) : 0.0);
          out[size_t(((b * H + h) * R + r) * Tk + j)] = base + g;
        }
    }
  return out;
}

class DapeScores : public ::testing::TestWithParam<std::tuple<int64_t, bool>> {};

TEST_P(DapeScores, MatchExplicitLoopsOnThePastAndPresent) {
  const auto [K, with_bias] = GetParam();
  const int64_t B = 2, H = 3, R = 5, offset = 2, Tk = 8, Dh = 4, C = with_bias ? 2 * H : H;
  Rng rng(uint64_t(K) * 10 + with_bias);
  DapeWeights w{Tensor::randn({Dh, C, K}, rng, DType::F64), Tensor::randn({Dh}, rng, DType::F64),
                Tensor::randn({H, Dh, K}, rng, DType::F64), Tensor::randn({H}, rng, DType::F64), K, with_bias};
  Tensor A = Tensor::randn({B, H, R, Tk}, rng, DType::F64);
  Tensor bias = with_bias ? Tensor::randn({H, R, Tk}, rng, DType::F64) : Tensor();
  Tensor got = dape_scores(A, bias, offset, w);
  std::vector<double> want = dape_loops(A, bias, offset, w);
  double worst = 0;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t r = 0; r < R; ++r)
        for (int64_t j = 0; j <= offset + r && j < Tk; ++j)  // the future is masked afterwards
          worst = std::max(worst, std::abs(got.at({b, h, r, j}) - want[size_t(((b * H + h) * R + r) * Tk + j)]));
  EXPECT_LT(worst, 1e-12) << "k = " << K << (with_bias ? " with" : " without") << " bias";
}

INSTANTIATE_TEST_SUITE_P(KernelsAndBias, DapeScores,
                         ::testing::Combine(::testing::Values<int64_t>(1, 3, 5), ::testing::Bool()));

TEST(Dape, DecodingOneTokenAtATimeEqualsTheParallelForm) {
  for (const char* position : {"position=kerple", "position=alibi", "position=rope"}) {
    auto b = build({position, "dape=true", "dape_hidden=8", "kv_heads=2"});
    Rng rng(21);
    const int64_t T = 29;
    Tensor x = Tensor::randn({2, T, kWidth}, rng, DType::F64);
    autograd::NoGradGuard no_grad;
    Tensor whole = b->mixer->forward(x, Form::Parallel, nullptr);
    auto state = b->mixer->make_state();
    std::vector<Tensor> steps;
    for (int64_t t = 0; t < T; ++t)
      steps.push_back(b->mixer->forward(x.slice_raw(1, t, t + 1).contiguous(), Form::Recurrent, state.get()));
    EXPECT_CLOSE(std::string(position) + " token by token", whole, ops::concat(steps, 1), 1e-12);
  }
}

TEST(Dape, AnOutputDoesNotDependOnHowManyTokensFollow) {
  // The reference code's last k/2 rows would differ here (scores.h).
  auto b = build({"position=alibi", "dape=true", "dape_kernel=5", "dape_hidden=6"});
  Rng rng(22);
  Tensor x = Tensor::randn({1, 23, kWidth}, rng, DType::F64);
  autograd::NoGradGuard no_grad;
  Tensor whole = b->mixer->forward(x, Form::Parallel, nullptr);
  Tensor prefix = b->mixer->forward(x.slice_raw(1, 0, 14).contiguous(), Form::Parallel, nullptr);
  EXPECT_CLOSE("first 14 tokens", whole.slice_raw(1, 0, 14), prefix, 1e-12);
}

TEST(Dape, DapeChangesTheOutputAndItsConvolutionsGetGradients) {
  auto plain = build({"position=kerple"});
  auto dape = build({"position=kerple", "dape=true"});
  Rng rng(23);
  Tensor x = Tensor::randn({1, 11, kWidth}, rng, DType::F64);
  Tensor a = dape->mixer->forward(x, Form::Parallel, nullptr);
  Tensor base = plain->mixer->forward(x, Form::Parallel, nullptr);
  // Same seed, and the DAPE parameters are declared last: the rest of the weights agree.
  std::vector<double> va = a.to_vector(), vb = base.to_vector();
  double diff = 0, size = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    diff = std::max(diff, std::abs(va[i] - vb[i]));
    size = std::max(size, std::abs(vb[i]));
  }
  EXPECT_GT(diff, 1e-3 * size) << "max change " << diff << ", max output " << size;
  ops::sum(a).backward();
  EXPECT_EQ(dape->store.find("mixer.dape.conv2.bias"), nullptr);  // cancelled by the softmax
  for (const char* name : {"mixer.dape.conv1.weight", "mixer.dape.conv1.bias", "mixer.dape.conv2.weight",
                           "mixer.kerple.rho_p", "mixer.kerple.rho_a"}) {
    const model::Param* p = dape->store.find(name);
    ASSERT_NE(p, nullptr) << name;
    double norm = 0;
    for (double g : p->grad.to_vector()) norm += g * g;
    EXPECT_GT(norm, 0) << name;
  }
}

TEST(Dape, BlockRowsFitTheBudgetAndStayInRange) {
  // per row: B * Tk * (3 C + 4 Dh + 10 H) values
  const int64_t per_row = 2 * 1000 * (3 * 8 + 4 * 32 + 10 * 4) * 4;
  EXPECT_EQ(dape_block_rows(2, 1000, 1000, 4, 8, 32, 4, 10 * per_row), 10);
  EXPECT_EQ(dape_block_rows(2, 1000, 1000, 4, 8, 32, 4, 10 * per_row + per_row - 1), 10);
  EXPECT_EQ(dape_block_rows(2, 1000, 1000, 4, 8, 32, 4, 1), 1);          // never 0
  EXPECT_EQ(dape_block_rows(2, 7, 1000, 4, 8, 32, 4, int64_t(1) << 40), 7);  // never more than Tq
}

TEST(Dape, ParallelFormHoldsLessMemoryThanTheWholeScoreTensor) {
  // Forward and backward at T = 768 in float32, blocked (parallel) and whole (ref).
  // Everything the allocator obtained during a pass (in use + cached) bounds its peak.
  auto b = build({"position=alibi", "dape=true", "dape_hidden=16"}, DType::F32);
  Rng rng(24);
  const int64_t T = 768;
  Tensor x0 = Tensor::randn({1, T, kWidth}, rng);
  auto held_by = [&](Form form) {
    Tensor x = x0.clone().set_requires_grad(true);
    allocator_release_cached();
    const AllocatorStats before = allocator_stats();
    b->mixer->forward(x, form, nullptr).backward(Tensor::full({1, T, kWidth}, 1.0));
    const AllocatorStats after = allocator_stats();
    EXPECT_TRUE(x.grad().defined());
    return double(after.bytes_in_use + after.bytes_cached) - double(before.bytes_in_use);
  };
  const double whole = held_by(Form::Ref), blocked = held_by(Form::Parallel);
  const int64_t rows = dape_block_rows(1, T, T, 4, 8, 16, 4, kDapeBlockBudgetBytes);
  EXPECT_LT(rows, T / 2) << "the test needs several blocks";
  EXPECT_LT(blocked, 0.5 * whole) << "blocked " << blocked / 1e6 << " MB, whole " << whole / 1e6 << " MB";
}

TEST(Checkpoint, GivesTheGradientsOfTheDirectComputation) {
  Rng rng(25);
  Tensor a = Tensor::randn({3, 4}, rng, DType::F64).set_requires_grad(true);
  Tensor b = Tensor::randn({4, 2}, rng, DType::F64).set_requires_grad(true);
  auto fn = [](const std::vector<Tensor>& x) { return ops::tanh(ops::matmul(ops::exp(x[0]), x[1])); };
  Tensor seed = Tensor::randn({3, 2}, rng, DType::F64);
  fn({a, b}).backward(seed);
  Tensor ga = a.grad().clone(), gb = b.grad().clone();
  a.set_grad(Tensor());
  b.set_grad(Tensor());
  Tensor out = autograd::checkpoint("test", fn, {a, b});
  EXPECT_CLOSE("value", fn({a, b}).detach(), out, 1e-15);
  out.backward(seed);
  EXPECT_CLOSE("d a", ga, a.grad(), 1e-14);
  EXPECT_CLOSE("d b", gb, b.grad(), 1e-14);
}

TEST(Kerple, TableAndMatrixMatchHandComputedValues) {
  Tensor p = Tensor::from_vector(std::vector<double>{1.0, 0.5}, {2});
  Tensor a = Tensor::from_vector(std::vector<double>{1.0, 2.0}, {2});
  Tensor table = position::kerple_distance_table(p, a, 4);
  for (int64_t d = 0; d < 4; ++d) {
    EXPECT_NEAR(table.at({0, d}), -std::log(1.0 + double(d)), 1e-15);
    EXPECT_NEAR(table.at({1, d}), -0.5 * std::log(1.0 + 2.0 * double(d)), 1e-15);
  }
  Tensor m = position::kerple_bias(p, a, 2, 5, 3);  // rows at positions 3, 4
  EXPECT_NEAR(m.at({1, 0, 0}), -0.5 * std::log(1.0 + 2.0 * 3), 1e-15);
  EXPECT_NEAR(m.at({1, 1, 4}), 0.0, 1e-15);
  EXPECT_NEAR(m.at({0, 0, 4}), -std::log(2.0), 1e-15);  // |3 - 4| = 1: symmetric
  EXPECT_NEAR(position::softplus_inverse(0.3), std::log(std::expm1(0.3)), 1e-15);
  EXPECT_NEAR(position::softplus(Tensor::full({1}, position::softplus_inverse(0.3), DType::F64)).item(), 0.3, 1e-14);
  EXPECT_THROW(position::kerple_distance_table(p, Tensor::full({3}, 1.0, DType::F64), 4), Error);
}

TEST(Kerple, LearnedSlopesStartInKerplesRangesPerHead) {
  auto b = build({"position=kerple", "heads=6"});
  std::vector<double> p = position::softplus(b->store.find("mixer.kerple.rho_p")->value).to_vector();
  std::vector<double> a = position::softplus(b->store.find("mixer.kerple.rho_a")->value).to_vector();
  ASSERT_EQ(p.size(), 6u);
  for (size_t h = 0; h < 6; ++h) {
    EXPECT_GT(p[h], 0.01 - 1e-12);
    EXPECT_LT(p[h], 2.0 + 1e-12);
    EXPECT_GT(a[h], 0.01 - 1e-12);
    EXPECT_LT(a[h], 1.0 + 1e-12);
  }
  EXPECT_NE(p[0], p[1]);  // drawn per head
}

TEST(Dape, SlidingWindowSeesOnlyTheWindow) {
  // With window w, output row i depends on tokens i - w + 1 .. i only: changing token 0
  // leaves rows w.. unchanged (and changes rows before w), in every form; a window as
  // long as the sequence is the plain causal DAPE, exactly.
  const int64_t T = 13, w = 4;
  for (std::string pos : {"alibi", "rope"})
    for (Form form : {Form::Ref, Form::Parallel, Form::Recurrent}) {
      auto windowed = build({"position=" + pos, "dape=true", "dape_hidden=4", "window=" + std::to_string(w)});
      Rng rng(3);
      Tensor x = Tensor::randn({2, T, kWidth}, rng, DType::F64);
      Tensor x2 = x.clone();
      for (int64_t b = 0; b < 2; ++b)
        for (int64_t c = 0; c < kWidth; ++c) x2.data<double>()[b * T * kWidth + c] += 1.0;  // token 0
      autograd::NoGradGuard no_grad;
      auto run = [&](Built& m, const Tensor& in) {
        auto state = m.mixer->make_state();
        return m.mixer->forward(in, form, form == Form::Recurrent ? state.get() : nullptr);
      };
      Tensor y = run(*windowed, x), y2 = run(*windowed, x2);
      const std::string what = pos + " form " + std::to_string(int(form));
      EXPECT_EQ(compare(y.slice_raw(1, w, T), y2.slice_raw(1, w, T)).max_abs, 0.0) << what;
      EXPECT_GT(compare(y.slice_raw(1, 0, w), y2.slice_raw(1, 0, w)).max_abs, 1e-6) << what;
      auto whole = build({"position=" + pos, "dape=true", "dape_hidden=4", "window=" + std::to_string(T)});
      auto plain = build({"position=" + pos, "dape=true", "dape_hidden=4"});
      EXPECT_EQ(compare(run(*whole, x), run(*plain, x)).max_abs, 0.0) << what;
    }
}

TEST(Dape, ConfigErrorsNameTheKey) {
  EXPECT_THROW(build({"dape=true", "dape_kernel=4"}), Error);
  try {
    build({"dape=true", "dape_kernel=2"});
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("dape_kernel"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace attnlab::mixers
