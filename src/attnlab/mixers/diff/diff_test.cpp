// What only differential attention has (the registry tests hold every form to ref): the
// whole mixer against an independent loop implementation of the paper's formulas, at two
// depths (so lambda_init's depth rule and the lambda vectors reach the output); the depth
// rule itself; lambda's gradients against finite differences; the parameter count of the
// softmax baseline with twice the heads; and the errors of bad options.
#include "attnlab/mixers/diff/diff.h"
#include "attnlab/ops/ops.h"

#include <gtest/gtest.h>

#include <cmath>

#include "attnlab/autograd/gradcheck.h"
#include "attnlab/autograd/node.h"
#include "harness/assert_close.h"
#include "harness/mixer_fixture.h"

namespace attnlab::mixers {
namespace {

constexpr int64_t kWidth = 24;

using ::attnlab::testing::build_mixer;
using ::attnlab::testing::MixerPlace;

std::vector<double> values(const ::attnlab::testing::BuiltMixer& b, const std::string& name) {
  const model::Param* p = b.store.find("mixer." + name);
  EXPECT_NE(p, nullptr) << name;
  return p ? p->value.to_vector() : std::vector<double>{};
}

// y for x [1, T, C] by the paper's formulas, one scalar at a time (NoPE, no window), with
// the reference code's layout: sub-head s of head i is row block 2i + s of Wq and Wk,
// and head i reads kv-head i / (h / hkv).
std::vector<double> diff_by_loops(const ::attnlab::testing::BuiltMixer& b, const std::vector<double>& x, int64_t T,
                                  int64_t h, int64_t hkv, int64_t layer) {
  const int64_t C = kWidth, d = C / (2 * h);
  auto wq = values(b, "wq.weight"), wk = values(b, "wk.weight"), wv = values(b, "wv.weight");
  auto wo = values(b, "wo.weight"), gain = values(b, "subln.weight");
  auto lq1 = values(b, "lambda_q1"), lk1 = values(b, "lambda_k1");
  auto lq2 = values(b, "lambda_q2"), lk2 = values(b, "lambda_k2");
  double dot1 = 0, dot2 = 0;
  for (int64_t c = 0; c < d; ++c) dot1 += lq1[size_t(c)] * lk1[size_t(c)], dot2 += lq2[size_t(c)] * lk2[size_t(c)];
  const double lambda_init = 0.8 - 0.6 * std::exp(-0.3 * double(layer));
  const double lambda = std::exp(dot1) - std::exp(dot2) + lambda_init;
  // row r of W times token t of x
  auto proj = [&](const std::vector<double>& w, int64_t r, int64_t t) {
    double s = 0;
    for (int64_t c = 0; c < C; ++c) s += w[size_t(r * C + c)] * x[size_t(t * C + c)];
    return s;
  };
  std::vector<double> concat(size_t(T * 2 * h * d)), y(size_t(T * C));
  for (int64_t i = 0; i < h; ++i) {
    const int64_t g = i / (h / hkv);
    for (int64_t t = 0; t < T; ++t) {
      std::vector<double> o(size_t(2 * d), 0.0);
      for (int64_t s = 0; s < 2; ++s) {
        std::vector<double> logit(size_t(t + 1));
        double mx = -1e300, z = 0;
        for (int64_t j = 0; j <= t; ++j) {
          double dot = 0;
          for (int64_t c = 0; c < d; ++c) dot += proj(wq, (2 * i + s) * d + c, t) * proj(wk, (2 * g + s) * d + c, j);
          logit[size_t(j)] = dot / std::sqrt(double(d));
          mx = std::max(mx, logit[size_t(j)]);
        }
        for (int64_t j = 0; j <= t; ++j) z += std::exp(logit[size_t(j)] - mx);
        const double sign = s == 0 ? 1.0 : -lambda;
        for (int64_t j = 0; j <= t; ++j) {
          double a = std::exp(logit[size_t(j)] - mx) / z;
          for (int64_t c = 0; c < 2 * d; ++c) o[size_t(c)] += sign * a * proj(wv, g * 2 * d + c, j);
        }
      }
      double ms = 0;
      for (double e : o) ms += e * e / double(2 * d);
      for (int64_t c = 0; c < 2 * d; ++c)
        concat[size_t((t * h + i) * 2 * d + c)] =
            o[size_t(c)] / std::sqrt(ms + 1e-5) * gain[size_t(c)] * (1.0 - lambda_init);
    }
  }
  for (int64_t t = 0; t < T; ++t)
    for (int64_t c = 0; c < C; ++c) {
      double s = 0;
      for (int64_t r = 0; r < 2 * h * d; ++r) s += wo[size_t(c * 2 * h * d + r)] * concat[size_t(t * 2 * h * d + r)];
      y[size_t(t * C + c)] = s;
    }
  return y;
}

TEST(DiffAttention, EveryFormMatchesTheFormulasComputedByLoopsAtTwoDepths) {
  const int64_t T = 9, h = 4, hkv = 2;
  for (int64_t layer : {0, 3}) {
    auto b = build_mixer("diff", {"position=nope", "heads=4", "kv_heads=2"}, kWidth, DType::F64, 21,
                         MixerPlace{layer, 6});
    Rng rng(8);
    Tensor x = Tensor::randn({1, T, kWidth}, rng, DType::F64);
    Tensor want = Tensor::from_vector(diff_by_loops(*b, x.to_vector(), T, h, hkv, layer), {1, T, kWidth});
    autograd::NoGradGuard no_grad;
    for (Form f : {Form::Ref, Form::Parallel, Form::Recurrent})
      EXPECT_CLOSE(cat("layer ", layer, " ", form_name(f)), want, b->mixer->forward(x, f, nullptr), 1e-12);
  }
}

TEST(DiffAttention, LambdaInitFollowsTheDepthRule) {
  // The paper's values for the first layers, then the rule at every depth of a model.
  const double paper[] = {0.2, 0.356, 0.471};
  for (int64_t l = 0; l < 3; ++l) EXPECT_NEAR(diff_lambda_init(l), paper[l], 1e-3) << "layer " << l;
  for (int64_t l = 0; l < 8; ++l) {
    auto b = build_mixer("diff", {}, kWidth, DType::F64, 3, MixerPlace{l, 8});
    auto& m = dynamic_cast<DiffAttention&>(*b->mixer);
    EXPECT_DOUBLE_EQ(m.lambda_init(), 0.8 - 0.6 * std::exp(-0.3 * double(l))) << "layer " << l;
    // lambda itself: the lambda vectors' two dot products on top of lambda_init.
    auto q1 = values(*b, "lambda_q1"), k1 = values(*b, "lambda_k1");
    auto q2 = values(*b, "lambda_q2"), k2 = values(*b, "lambda_k2");
    double d1 = 0, d2 = 0;
    for (size_t c = 0; c < q1.size(); ++c) d1 += q1[c] * k1[c], d2 += q2[c] * k2[c];
    EXPECT_NEAR(m.lambda().item(), std::exp(d1) - std::exp(d2) + m.lambda_init(), 1e-14);
  }
  // Deeper layers subtract more of the second map: lambda_init grows towards 0.8.
  EXPECT_LT(diff_lambda_init(1), diff_lambda_init(2));
  EXPECT_NEAR(diff_lambda_init(100), 0.8, 1e-12);
}

TEST(DiffAttention, LambdaVectorsAreInitialisedWithStdOneTenthAndGetGradients) {
  auto b = build_mixer("diff", {"heads=1"}, 64, DType::F64, 5);  // d = 32
  std::vector<double> all;
  for (const char* n : {"lambda_q1", "lambda_k1", "lambda_q2", "lambda_k2"})
    for (double e : values(*b, n)) all.push_back(e);
  ASSERT_EQ(all.size(), 128u);
  double ss = 0;
  for (double e : all) ss += e * e;
  EXPECT_NEAR(std::sqrt(ss / double(all.size())), 0.1, 0.03);
  for (double g : values(*b, "subln.weight")) EXPECT_EQ(g, 1.0);
}

TEST(DiffAttention, LambdaGradientsMatchFiniteDifferences) {
  // The lambda vectors alone as inputs: their gradients are small next to the
  // projections', so they get a check of their own at a depth where lambda_init != 0.2.
  for (Form form : {Form::Ref, Form::Parallel}) {
    auto b = build_mixer("diff", {"position=rope", "heads=2", "kv_heads=1"}, kWidth, DType::F64, 9, MixerPlace{2, 4});
    Rng rng(4);
    Tensor x = Tensor::randn({2, 6, kWidth}, rng, DType::F64);
    std::vector<Tensor> lambdas;
    for (const char* n : {"lambda_q1", "lambda_k1", "lambda_q2", "lambda_k2"})
      lambdas.push_back(b->store.find(std::string("mixer.") + n)->value);
    Mixer* mixer = b->mixer.get();
    autograd::GradCase gc{"diff", "lambda vectors", [lambdas](Rng&) { return lambdas; },
                          [mixer, form, x](const std::vector<Tensor>&) { return mixer->forward(x, form, nullptr); }};
    b->store.zero_grads();
    autograd::GradCheckResult r = autograd::gradcheck(gc);
    EXPECT_EQ(r.checked_inputs, 4);
    EXPECT_TRUE(r.passed) << form_name(form) << ": " << r.detail << " (max rel err " << r.max_rel_error << ")";
  }
}

// Counted parameter by parameter: the flat buffer pads each one to an aligned offset.
int64_t parameter_count(const ::attnlab::testing::BuiltMixer& b) {
  int64_t n = 0;
  for (const auto& p : b.store.params()) n += p->value.numel();
  return n;
}

TEST(DiffAttention, ParameterCountIsTheSoftmaxBaselinesWithTwiceTheHeadsPlusLambdaAndGain) {
  struct Pair {
    std::vector<std::string> diff, softmax;
    int64_t width, d;  // d: the sub-head width, d_model / (2 heads)
  };
  const Pair pairs[] = {
      {{"heads=2"}, {"heads=4"}, 24, 6},
      {{"heads=4", "kv_heads=2"}, {"heads=8", "kv_heads=4"}, 64, 8},
      {{"heads=3", "key_norm=true", "key_norm_learnable=true"}, {"heads=6", "key_norm=true", "key_norm_learnable=true"},
       24, 4},
  };
  for (const auto& p : pairs) {
    auto d = build_mixer("diff", p.diff, p.width, DType::F32, 1);
    auto s = build_mixer("softmax", p.softmax, p.width, DType::F32, 1);
    const int64_t dh = p.d;
    EXPECT_EQ(int64_t(values(*d, "lambda_q1").size()), dh);
    // The projections have the same shapes, name by name.
    for (const char* n : {"mixer.wq.weight", "mixer.wk.weight", "mixer.wv.weight", "mixer.wo.weight"})
      EXPECT_EQ(d->store.find(n)->shape, s->store.find(n)->shape) << n;
    // Beyond them, diff adds four lambda vectors [d] and the norm gain [2d] per layer.
    EXPECT_EQ(parameter_count(*d), parameter_count(*s) + 6 * dh) << p.diff[0];
  }
}

TEST(DiffAttention, ParallelPrefillThenTokenByTokenDecodingContinuesTheSequence) {
  // What generation does: one cache written by the parallel form, then extended by the
  // recurrent form one token at a time, must give the outputs of one parallel call.
  for (const std::vector<std::string>& variant :
       {std::vector<std::string>{"position=alibi", "heads=6", "kv_heads=2"},
        std::vector<std::string>{"position=rope", "kv_heads=1", "window=6"},
        std::vector<std::string>{"position=kerple", "heads=6", "kv_heads=3"}}) {
    auto b = build_mixer("diff", variant, kWidth, DType::F64, 13);
    Rng rng(2);
    const int64_t T = 23, prefill = 15;
    Tensor x = Tensor::randn({2, T, kWidth}, rng, DType::F64);
    autograd::NoGradGuard no_grad;
    Tensor whole = b->mixer->forward(x, Form::Parallel, nullptr);
    auto state = b->mixer->make_state();
    Tensor first = b->mixer->forward(x.slice_raw(1, 0, prefill).contiguous(), Form::Parallel, state.get());
    EXPECT_CLOSE(variant[0] + " prefill", whole.slice_raw(1, 0, prefill), first, 1e-12);
    for (int64_t t = prefill; t < T; ++t) {
      Tensor step = b->mixer->forward(x.slice_raw(1, t, t + 1).contiguous(), Form::Recurrent, state.get());
      EXPECT_CLOSE(cat(variant[0], " token ", t), whole.slice_raw(1, t, t + 1), step, 1e-12);
    }
    EXPECT_EQ(state->length(), T);
  }
}

TEST(DiffAttention, KerpleLearnsOnePairPerDiffHeadSharedByBothMaps) {
  // position = kerple adds p and a per diff-head ([h] each), and they reach the output:
  // changing p changes it, with a non-zero gradient in every form.
  for (Form form : {Form::Ref, Form::Parallel, Form::Recurrent}) {
    auto b = build_mixer("diff", {"position=kerple", "heads=3"}, kWidth, DType::F64, 4);
    std::vector<std::shared_ptr<model::Param>> kerple;
    for (const auto& prm : b->store.params())
      if (prm->name.find("kerple.") != std::string::npos) kerple.push_back(prm);
    ASSERT_EQ(kerple.size(), 2u);
    for (const auto& prm : kerple) EXPECT_EQ(prm->value.shape(), Shape({3}));
    Rng rng(8);
    Tensor x = Tensor::randn({1, 9, kWidth}, rng, DType::F64);
    b->store.zero_grads();
    Tensor y = b->mixer->forward(x, form, form == Form::Recurrent ? b->mixer->make_state().get() : nullptr);
    ops::sum(ops::mul(y, y), {0, 1, 2}).backward();
    for (const auto& prm : kerple) {
      double g = 0;
      for (double v : prm->grad.to_vector()) g += std::abs(v);
      EXPECT_GT(g, 0.0) << prm->name;
    }
  }
}

TEST(DiffAttention, BadOptionsAreErrorsNamingTheKey) {
  auto expect_error = [](const std::vector<std::string>& sets, const std::string& needle) {
    try {
      build_mixer("diff", sets, kWidth, DType::F32, 1);
      ADD_FAILURE() << "no error for " << sets[0];
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error({"heads=5"}, "2 * heads must divide model.d_model = 24");
  expect_error({"heads=4", "kv_heads=3"}, "kv_heads");
  expect_error({"position=alibi", "rope_scaling=pi"}, "rope_scaling");
}

}  // namespace
}  // namespace attnlab::mixers
