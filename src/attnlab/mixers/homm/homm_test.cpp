// What only HoMM has (the registry tests already hold every form to ref on values and
// gradients): a hand-computed example, causality of the running mean, a state of
// k * e * d numbers per sequence whatever the length, 100,000 tokens in float32 that
// stay finite and accurate with the recurrent form matching the parallel one, and the
// errors of bad options and states.
#include "attnlab/mixers/homm/homm.h"

#include <gtest/gtest.h>

#include <cmath>

#include "attnlab/autograd/node.h"
#include "harness/assert_close.h"
#include "harness/mixer_fixture.h"

namespace attnlab::mixers {
namespace {

using Built = ::attnlab::testing::BuiltMixer;
using ::attnlab::testing::error_of;

constexpr Form kForms[] = {Form::Ref, Form::Parallel, Form::Recurrent};

std::unique_ptr<Built> build(const std::vector<std::string>& sets, int64_t width, DType dtype = DType::F64,
                             const Tensor* values = nullptr) {
  return ::attnlab::testing::build_mixer("homm", sets, width, dtype, 13, {}, values);
}

void set_param(Built& b, const std::string& name, const std::vector<double>& v) {
  for (const auto& p : b.store.params())
    if (p->name == name) {
      ASSERT_EQ(p->value.numel(), int64_t(v.size())) << name;
      p->value.copy_from(Tensor::from_vector(v, p->value.shape()));
      return;
    }
  FAIL() << "no parameter " << name;
}

Tensor run(Built& b, const Tensor& x, Form form, MixerState* state = nullptr) {
  autograd::NoGradGuard no_grad;
  return b.mixer->forward(x, form, state);
}

double gelu(double a) { return 0.5 * a * (1.0 + std::erf(a / std::sqrt(2.0))); }
double sigmoid(double a) { return 1.0 / (1.0 + std::exp(-a)); }

// d = 1, k = 2, e = 1: two features h = (x, 2x + 0.5), moments m1 = gelu(x),
// m2 = gelu(x) gelu(2x + 0.5); selection s = (sigmoid(0), sigmoid(x)) = (1/2, sigmoid(x));
// y = 1 * s1 R1 - 1 * s2 R2 + 0.25, R the mean of m over the tokens so far.
TEST(Homm, HandComputedExampleInEveryForm) {
  auto b = build({"order=2", "expand=1"}, 1);
  set_param(*b, "mixer.ho_proj.weight", {1, 2});
  set_param(*b, "mixer.ho_proj.bias", {0, 0.5});
  set_param(*b, "mixer.se_proj.weight", {0, 1});
  set_param(*b, "mixer.se_proj.bias", {0, 0});
  set_param(*b, "mixer.ag_proj.weight", {1, -1});
  set_param(*b, "mixer.ag_proj.bias", {0.25});
  const std::vector<double> xs = {1.0, -1.0, 2.0, 0.5};
  std::vector<double> want;
  double sum1 = 0, sum2 = 0;
  for (size_t t = 0; t < xs.size(); ++t) {
    double m1 = gelu(xs[t]), m2 = gelu(xs[t]) * gelu(2 * xs[t] + 0.5);
    sum1 += m1;
    sum2 += m2;
    double n = double(t + 1);
    want.push_back(0.5 * sum1 / n - sigmoid(xs[t]) * sum2 / n + 0.25);
  }
  // The first token by hand: gelu(1) = 0.841345, gelu(2.5) = 2.484476, sigmoid(1) = 0.731059,
  // y = 0.5 * 0.841345 - 0.731059 * 0.841345 * 2.484476 + 0.25 = -0.857460.
  EXPECT_NEAR(want[0], -0.857460, 1e-6);
  Tensor x = Tensor::from_vector(xs, {1, int64_t(xs.size()), 1});
  Tensor expected = Tensor::from_vector(want, {1, int64_t(xs.size()), 1});
  for (Form f : kForms) EXPECT_CLOSE(form_name(f), expected, run(*b, x, f), 1e-13);
}

// Order 3 tells the running product m_3 = g_1 g_2 g_3 from a product of neighbours
// (g_2 g_3): d = 1, e = 1, h = (x, 2x + 0.5, 0.5 - x), s = (1/2, 1/2, 1/2) (zero
// selection weights), y = R_1 + R_2 + R_3 (no biases except ho's).
TEST(Homm, OrderThreeMultipliesEveryGroupSoFar) {
  auto b = build({"order=3", "expand=1"}, 1);
  set_param(*b, "mixer.ho_proj.weight", {1, 2, -1});
  set_param(*b, "mixer.ho_proj.bias", {0, 0.5, 0.5});
  set_param(*b, "mixer.se_proj.weight", {0, 0, 0});
  set_param(*b, "mixer.se_proj.bias", {0, 0, 0});
  set_param(*b, "mixer.ag_proj.weight", {1, 1, 1});
  set_param(*b, "mixer.ag_proj.bias", {0});
  const std::vector<double> xs = {0.3, -1.2, 1.7};
  std::vector<double> want;
  double sum = 0;
  for (size_t t = 0; t < xs.size(); ++t) {
    double g1 = gelu(xs[t]), g2 = gelu(2 * xs[t] + 0.5), g3 = gelu(0.5 - xs[t]);
    sum += g1 + g1 * g2 + g1 * g2 * g3;
    want.push_back(0.5 * sum / double(t + 1));
  }
  Tensor x = Tensor::from_vector(xs, {1, int64_t(xs.size()), 1});
  Tensor expected = Tensor::from_vector(want, {1, int64_t(xs.size()), 1});
  for (Form f : kForms) EXPECT_CLOSE(form_name(f), expected, run(*b, x, f), 1e-13);
}

TEST(Homm, OutputAtTokenIDependsOnlyOnTokensUpToI) {
  const int64_t T = 12, changed = 7;
  auto b = build({"order=3", "expand=1"}, 8);
  Rng rng(21);
  Tensor x = Tensor::randn({2, T, 8}, rng, DType::F64);
  Tensor x2 = x.clone();
  x2.slice_raw(1, changed, changed + 1).copy_from(Tensor::randn({2, 1, 8}, rng, DType::F64));
  for (Form f : kForms) {
    Tensor a = run(*b, x, f), c = run(*b, x2, f);
    // Earlier tokens: bit for bit the same (the change never enters their sums).
    EXPECT_EQ(compare(a.slice_raw(1, 0, changed), c.slice_raw(1, 0, changed)).max_abs, 0.0) << form_name(f);
    // Every later token sees it through the mean.
    for (int64_t t = changed; t < T; ++t)
      EXPECT_GT(compare(a.slice_raw(1, t, t + 1), c.slice_raw(1, t, t + 1)).max_abs, 1e-9)
          << form_name(f) << " t=" << t;
  }
}

TEST(Homm, StateIsOrderTimesExpandTimesWidthPerSequenceWhateverTheLength) {
  const int64_t d = 24, B = 3;
  for (auto [k, e] : {std::pair<int64_t, int64_t>{1, 1}, {2, 2}, {3, 2}}) {
    auto b = build({"order=" + std::to_string(k), "expand=" + std::to_string(e)}, d);
    EXPECT_EQ(static_cast<Homm&>(*b->mixer).features(), k * e * d);
    for (Form f : kForms) {
      auto state = b->mixer->make_state();
      Rng rng(4);
      size_t want = size_t(B * k * e * d) * sizeof(double);
      run(*b, Tensor::randn({B, 5, d}, rng, DType::F64), f, state.get());
      EXPECT_EQ(state->bytes(), want) << form_name(f);
      run(*b, Tensor::randn({B, 200, d}, rng, DType::F64), f, state.get());
      EXPECT_EQ(state->bytes(), want) << form_name(f);
      EXPECT_EQ(state->length(), 205);
    }
  }
}

// Issue 6, "any length": 100,000 tokens in float32 at a tiny width. The outputs are
// finite; the recurrent form's last outputs equal the parallel form's, and both equal a
// float64 run to 1e-6: the running sums (double in cumsum and in the state) do not
// drift with the length. Splitting the sequence over calls with a state changes nothing.
TEST(Homm, HundredThousandTokensInFloat32StayFiniteAndAccurate) {
  const int64_t T = 100000, d = 8, tail = 64;
  auto b32 = build({"order=2", "expand=2"}, d, DType::F32);
  Tensor values64 = b32->store.values().to(DType::F64);
  auto b64 = build({"order=2", "expand=2"}, d, DType::F64, &values64);
  Rng rng(99);
  // The moments (gelu and its products) have a mean away from zero, so the running sums
  // grow like t: the case where a float32 running sum drifts.
  Tensor x = Tensor::randn({1, T, d}, rng, DType::F32);
  Tensor parallel = run(*b32, x, Form::Parallel);
  Tensor recurrent = run(*b32, x, Form::Recurrent);
  for (const Tensor* out : {&parallel, &recurrent})
    for (double v : out->to_vector()) ASSERT_TRUE(std::isfinite(v));
  Tensor exact = run(*b64, x.to(DType::F64), Form::Parallel);
  auto last = [&](const Tensor& t) { return t.slice_raw(1, T - tail, T); };
  EXPECT_CLOSE("recurrent vs parallel, last tokens", last(parallel), last(recurrent), 1e-6);
  EXPECT_CLOSE("parallel vs float64, last tokens", last(exact), last(parallel), 1e-6);
  EXPECT_CLOSE("recurrent vs float64, last tokens", last(exact), last(recurrent), 1e-6);
  EXPECT_CLOSE("parallel vs float64, all tokens", exact, parallel, 1e-6);

  // Prefill 60,000 tokens with the parallel form, then decode the rest token-sized and
  // chunk-sized with the recurrent form, on one state.
  auto state = b32->mixer->make_state();
  run(*b32, x.slice_raw(1, 0, 60000).contiguous(), Form::Parallel, state.get());
  run(*b32, x.slice_raw(1, 60000, T - tail).contiguous(), Form::Recurrent, state.get());
  std::vector<Tensor> steps;
  for (int64_t t = T - tail; t < T; ++t)
    steps.push_back(run(*b32, x.slice_raw(1, t, t + 1).contiguous(), Form::Recurrent, state.get()));
  EXPECT_EQ(state->length(), T);
  for (int64_t i = 0; i < tail; ++i)
    EXPECT_CLOSE(cat("decoded token ", T - tail + i), exact.slice_raw(1, T - tail + i, T - tail + i + 1),
                 steps[size_t(i)], 1e-6);
}

TEST(Homm, BadOptionsAndStatesAreErrorsNamingThem) {
  EXPECT_NE(error_of([] { build({"order=0"}, 8); }).find("order"), std::string::npos);
  EXPECT_NE(error_of([] { build({"expand=0"}, 8); }).find("expand"), std::string::npos);
  EXPECT_NE(error_of([] { build({"orders=2"}, 8); }).find("order"), std::string::npos);
  auto b = build({}, 8);
  Rng rng(1);
  EXPECT_NE(error_of([&] { run(*b, Tensor::randn({1, 3, 7}, rng, DType::F64), Form::Parallel); })
                .find("expected x [B, T, 8]"),
            std::string::npos);
  class OtherState : public MixerState {
   public:
    int64_t length() const override { return 0; }
    size_t bytes() const override { return 0; }
  } other;
  EXPECT_NE(error_of([&] { run(*b, Tensor::randn({1, 3, 8}, rng, DType::F64), Form::Recurrent, &other); })
                .find("not a HoMM state"),
            std::string::npos);
  auto state = b->mixer->make_state();
  run(*b, Tensor::randn({2, 3, 8}, rng, DType::F64), Form::Parallel, state.get());
  EXPECT_NE(error_of([&] { run(*b, Tensor::randn({1, 3, 8}, rng, DType::F64), Form::Parallel, state.get()); })
                .find("holds 2 sequences"),
            std::string::npos);
}

TEST(Homm, ParametersHaveTheReferenceCodesNames) {
  auto b = build({}, 8);
  std::vector<std::string> names;
  for (const auto& p : b->store.params()) names.push_back(p->name);
  EXPECT_EQ(names, (std::vector<std::string>{"mixer.ho_proj.weight", "mixer.se_proj.weight", "mixer.ag_proj.weight",
                                             "mixer.ho_proj.bias", "mixer.se_proj.bias", "mixer.ag_proj.bias"}));
  auto no_bias = build({"bias=false"}, 8);
  EXPECT_EQ(no_bias->store.params().size(), 3u);
}

}  // namespace
}  // namespace attnlab::mixers
