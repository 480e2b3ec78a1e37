// Length-extrapolation options of the softmax mixer. ALiBi slope scaling: the keys reach
// the slopes, and dynamic scaling picks a = max(1, L / L_train) from the total length of
// each call. Attention-scale rules: log-n is standard attention at n = L_train and differs
// elsewhere; "fixed" at 1/sqrt(D) is the default. KeyNorm: only the keys' direction
// matters, and tau scales q . k / |k|; cosine: only directions matter, lambda = 4 ln n. (Slopes are checked against hand-computed
// values in position/position_test.cpp; every form against ref by the registry tests.)
#include <gtest/gtest.h>

#include <cmath>

#include "attnlab/autograd/node.h"
#include "attnlab/model/config.h"
#include "attnlab/mixers/softmax/softmax.h"
#include "harness/assert_close.h"
#include "harness/mixer_fixture.h"

namespace attnlab::mixers {
namespace {

constexpr int64_t kWidth = 24;

using Built = ::attnlab::testing::BuiltMixer;

// The same seed for every variant: the same weights, so outputs differ only by the option.
std::unique_ptr<Built> build(const std::vector<std::string>& variant) {
  return ::attnlab::testing::build_mixer("softmax", variant, kWidth, DType::F64, 11);
}

Tensor out(Built& b, const Tensor& x, Form form = Form::Parallel) {
  autograd::NoGradGuard no_grad;
  return b.mixer->forward(x, form, nullptr);
}

TEST(SoftmaxAlibi, ScalingChangesTheOutputAndFactorOneDoesNot) {
  Rng rng(5);
  Tensor x = Tensor::randn({1, 9, kWidth}, rng, DType::F64);
  auto plain = build({"position=alibi", "heads=6"});
  auto ntk1 = build({"position=alibi", "heads=6", "alibi_scaling=ntk", "alibi_factor=1"});
  auto ntk2 = build({"position=alibi", "heads=6", "alibi_scaling=ntk", "alibi_factor=2"});
  auto int2 = build({"position=alibi", "heads=6", "alibi_scaling=interpolate", "alibi_factor=2"});
  EXPECT_CLOSE("factor 1", out(*plain, x), out(*ntk1, x), 1e-14);
  EXPECT_GT(compare(out(*plain, x), out(*ntk2, x)).max_abs, 1e-6);
  EXPECT_GT(compare(out(*ntk2, x), out(*int2, x)).max_abs, 1e-6);
}

TEST(SoftmaxAlibi, DynamicFactorComesFromTheTotalLength) {
  Rng rng(6);
  Tensor x = Tensor::randn({2, 9, kWidth}, rng, DType::F64);
  auto dyn = build({"position=alibi", "heads=6", "alibi_scaling=ntk", "alibi_dynamic=true",
                    "alibi_original_length=4"});
  // 9 tokens, L_train 4: a = 2.25, the same as a fixed factor of 2.25 in every form.
  auto fixed = build({"position=alibi", "heads=6", "alibi_scaling=ntk", "alibi_factor=2.25"});
  for (Form f : {Form::Ref, Form::Parallel, Form::Recurrent})
    EXPECT_CLOSE("a = 9/4", out(*fixed, x, f), out(*dyn, x, f), 1e-10);
  // 3 tokens: a = max(1, 3/4) = 1, plain ALiBi.
  Tensor x3 = x.slice_raw(1, 0, 3).contiguous();
  auto plain = build({"position=alibi", "heads=6"});
  EXPECT_CLOSE("a = 1", out(*plain, x3), out(*dyn, x3), 1e-14);
}

TEST(SoftmaxAlibi, DynamicWithoutTrainingLengthIsAnError) {
  try {
    build({"position=alibi", "alibi_dynamic=true"});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("alibi_original_length"), std::string::npos) << e.what();
  }
  EXPECT_THROW(build({"position=alibi", "alibi_factor=0.5"}), Error);
}

TEST(SoftmaxScale, LognIsStandardAttentionAtTheTrainingLength) {
  Rng rng(7);
  const int64_t T = 10;
  Tensor x = Tensor::randn({2, T, kWidth}, rng, DType::F64);
  auto plain = build({"position=rope"});
  auto logn = build({"position=rope", "attn_scale=logn", "attn_original_length=10"});
  for (Form f : {Form::Ref, Form::Parallel, Form::Recurrent}) {
    Tensor a = out(*plain, x, f), b = out(*logn, x, f);
    // n = 10 = L_train: factor 1; n = 1: one key, weight 1 whatever the scale.
    EXPECT_CLOSE("n = L_train", a.slice_raw(1, T - 1, T), b.slice_raw(1, T - 1, T), 1e-13);
    EXPECT_CLOSE("n = 1", a.slice_raw(1, 0, 1), b.slice_raw(1, 0, 1), 1e-13);
    for (int64_t n = 2; n < T; ++n)
      EXPECT_GT(compare(a.slice_raw(1, n - 1, n), b.slice_raw(1, n - 1, n)).max_abs, 1e-9) << "n " << n;
  }
}

TEST(SoftmaxScale, FixedAtInvSqrtDIsTheDefault) {
  Rng rng(8);
  Tensor x = Tensor::randn({1, 7, kWidth}, rng, DType::F64);
  auto plain = build({"position=alibi", "heads=6"});  // D = 24 / 6 = 4: 1/sqrt(D) = 0.5
  auto fixed = build({"position=alibi", "heads=6", "attn_scale=fixed", "attn_scale_value=0.5"});
  auto other = build({"position=alibi", "heads=6", "attn_scale=fixed", "attn_scale_value=2"});
  EXPECT_CLOSE("0.5", out(*plain, x), out(*fixed, x), 1e-14);
  EXPECT_GT(compare(out(*plain, x), out(*other, x)).max_abs, 1e-6);
  EXPECT_THROW(build({"attn_scale=logn"}), Error);  // no L_train
  EXPECT_THROW(build({"attn_scale=fixed", "attn_scale_value=0"}), Error);
}

// Multiplies the named projection's weight in place (no autograd: a test set-up step).
void scale_weight(Built& b, const std::string& name, double s) {
  autograd::NoGradGuard no_grad;
  for (const auto& p : b.store.params())
    if (p->name == "mixer." + name + ".weight") {
      Tensor scaled = p->value.detach().to(DType::F64);
      std::vector<double> v = scaled.to_vector();
      for (double& x : v) x *= s;
      p->value.copy_from(Tensor::from_vector(v, p->value.shape()));
      return;
    }
  FAIL() << "no parameter " << name;
}

TEST(SoftmaxKeyNorm, OnlyTheKeysDirectionMatters) {
  Rng rng(9);
  Tensor x = Tensor::randn({2, 11, kWidth}, rng, DType::F64);
  for (std::string pos : {"rope", "nope"}) {
    auto a = build({"position=" + pos, "key_norm=true", "key_norm_temperature=1.5"});
    auto b = build({"position=" + pos, "key_norm=true", "key_norm_temperature=1.5"});
    scale_weight(*b, "wk", 3.0);  // |k| x3: KeyNorm removes it
    for (Form f : {Form::Ref, Form::Parallel, Form::Recurrent})
      EXPECT_CLOSE(pos + " keys x3", out(*a, x, f), out(*b, x, f), 1e-10);
    scale_weight(*b, "wq", 2.0);  // |q| x2 changes the logits: the queries are not normalised
    EXPECT_GT(compare(out(*a, x), out(*b, x)).max_abs, 1e-6);
    // and the temperature multiplies q . k / |k|: tau 3 with |q| x 1 equals tau 1.5 with |q| x 2
    auto c = build({"position=" + pos, "key_norm=true", "key_norm_temperature=3"});
    EXPECT_CLOSE(pos + " tau", out(*c, x), out(*b, x), 1e-10);
  }
  auto plain = build({"position=rope"});
  auto plain3 = build({"position=rope"});
  scale_weight(*plain3, "wk", 3.0);
  EXPECT_GT(compare(out(*plain, x), out(*plain3, x)).max_abs, 1e-6);  // the test can fail
}

TEST(SoftmaxKeyNorm, LearnableTemperatureStartsAtTauAndLearns) {
  Rng rng(11);
  Tensor x = Tensor::randn({2, 8, kWidth}, rng, DType::F64);
  auto fixed = build({"key_norm=true", "key_norm_temperature=2.5"});
  auto learned = build({"key_norm=true", "key_norm_temperature=2.5", "key_norm_learnable=true"});
  ASSERT_EQ(learned->store.params().size(), fixed->store.params().size() + 1);
  // the projections keep their places and values; tau starts at 2.5 for each of the 4 heads
  auto tau = learned->store.params().back();
  EXPECT_EQ(tau->name, "mixer.key_norm.temperature");
  EXPECT_EQ(tau->value.to_vector(), std::vector<double>(4, 2.5));
  EXPECT_CLOSE("tau 2.5", out(*fixed, x), out(*learned, x), 1e-12);
  learned->store.zero_grads();
  Tensor y = learned->mixer->forward(x, Form::Parallel, nullptr);
  y.backward(Tensor::randn(y.shape(), rng, DType::F64));
  double g = 0;
  for (double v : tau->grad.to_vector()) g += std::abs(v);
  EXPECT_GT(g, 0.0);
  EXPECT_THROW(build({"key_norm_learnable=true"}), Error);  // needs key_norm
}

TEST(SoftmaxCosine, OnlyDirectionsMatterAndLambdaIsFourLogN) {
  Rng rng(10);
  const int64_t T = 9;
  Tensor x = Tensor::randn({2, T, kWidth}, rng, DType::F64);
  auto a = build({"position=rope", "cosine=true"});
  auto b = build({"position=rope", "cosine=true"});
  scale_weight(*b, "wq", 5.0);
  scale_weight(*b, "wk", 0.2);
  for (Form f : {Form::Ref, Form::Parallel, Form::Recurrent})
    // not 1e-12: the eps inside l2_normalize's root is ~1e-9 of |k|^2 for these small keys
    EXPECT_CLOSE("q x5, k x0.2", out(*a, x, f), out(*b, x, f), 1e-8);
  // lambda = 4 ln n: at the last row (n = 9) it equals a fixed lambda of 4 ln 9.
  auto fixed = build({"position=rope", "cosine=true", "cosine_lambda=" + std::to_string(4.0 * std::log(9.0))});
  Tensor ya = out(*a, x), yf = out(*fixed, x);
  EXPECT_CLOSE("n = 9", yf.slice_raw(1, T - 1, T), ya.slice_raw(1, T - 1, T), 1e-5);  // to_string: 6 digits
  EXPECT_GT(compare(yf.slice_raw(1, 1, 2), ya.slice_raw(1, 1, 2)).max_abs, 1e-6);
  EXPECT_THROW(build({"cosine=true", "key_norm=true"}), Error);
  EXPECT_THROW(build({"cosine=true", "attn_scale=logn", "attn_original_length=8"}), Error);
  EXPECT_THROW(build({"key_norm=true", "attn_scale=fixed"}), Error);
}

}  // namespace
}  // namespace attnlab::mixers
