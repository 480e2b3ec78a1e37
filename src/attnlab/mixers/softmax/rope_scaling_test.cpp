// RoPE scalings through the softmax mixer: what the registry-walking tests cannot say.
// Dynamic NTK's frequencies depend on the total length of a call, so "state across calls
// equals one call" holds only for the newest token of each call; that, and its gradients
// at a length where it actually scales, are checked here. Also: the keys are reachable as
// command-line overrides of a checkpoint's config.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "attnlab/autograd/gradcheck.h"
#include "attnlab/autograd/node.h"
#include "attnlab/mixers/softmax/softmax.h"
#include "attnlab/model/config.h"
#include "attnlab/ops/ops.h"
#include "attnlab/train/run_config.h"
#include "harness/assert_close.h"
#include "harness/mixer_fixture.h"

namespace attnlab::mixers {
namespace {

constexpr int64_t kWidth = 16;

using Built = ::attnlab::testing::BuiltMixer;

std::unique_ptr<Built> build(const std::vector<std::string>& sets) {
  return ::attnlab::testing::build_mixer("softmax", sets, kWidth, DType::F64, 3, {0, 1, "m."});
}

const std::vector<std::string> kDynamic = {"position=rope", "heads=2", "rope_scaling=dynamic_ntk", "rope_factor=4",
                                           "rope_original_length=4"};

TEST(RopeScalingMixer, DynamicNtkDecodingGivesEachNewTokenTheWholePassResult) {
  // Prefill 3 tokens, then decode one at a time (in every form): the newest token's
  // output must equal the last row of one parallel pass over the whole prefix, even
  // though each step's length L changes the frequencies of all cached keys.
  auto b = build(kDynamic);
  Rng rng(8);
  const int64_t T = 11, prefill = 3;
  Tensor x = Tensor::randn({2, T, kWidth}, rng, DType::F64);
  autograd::NoGradGuard no_grad;
  for (Form form : {Form::Ref, Form::Parallel, Form::Recurrent}) {
    auto state = b->mixer->make_state();
    Tensor first = b->mixer->forward(x.slice_raw(1, 0, prefill).contiguous(), form, state.get());
    EXPECT_CLOSE("prefill", b->mixer->forward(x.slice_raw(1, 0, prefill).contiguous(), Form::Parallel, nullptr),
                 first, 1e-12);
    for (int64_t t = prefill; t < T; ++t) {
      Tensor step = b->mixer->forward(x.slice_raw(1, t, t + 1).contiguous(), form, state.get());
      Tensor whole = b->mixer->forward(x.slice_raw(1, 0, t + 1).contiguous(), Form::Parallel, nullptr);
      EXPECT_CLOSE(cat(form_name(form), " step ", t), whole.slice_raw(1, t, t + 1), step, 1e-12);
    }
    EXPECT_EQ(state->length(), T);
  }
  // And the scaling is really in effect: the unscaled mixer gives something else at T = 11.
  auto plain = build({"position=rope", "heads=2"});
  plain->store.values().copy_from(b->store.values());
  auto a = b->mixer->forward(x, Form::Parallel, nullptr).to_vector();
  auto c = plain->mixer->forward(x, Form::Parallel, nullptr).to_vector();
  double diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff = std::max(diff, std::abs(a[i] - c[i]));
  EXPECT_GT(diff, 1e-6);
}

TEST(RopeScalingMixer, ScaledFormsPassGradientChecksAtScaledLengths) {
  for (const auto& sets : {kDynamic,
                           std::vector<std::string>{"position=rope", "heads=2", "rope_scaling=yarn", "rope_factor=4",
                                                    "rope_original_length=4"}}) {
    auto b = build(sets);
    std::vector<Tensor> params;
    for (const auto& p : b->store.params()) params.push_back(p->value);
    Mixer* mixer = b->mixer.get();
    for (Form form : {Form::Ref, Form::Parallel, Form::Recurrent}) {
      autograd::GradCase gc{
          "softmax", cat(sets[2], " ", form_name(form)),
          [params](Rng& r) {
            std::vector<Tensor> in{Tensor::randn({2, 7, kWidth}, r, DType::F64).set_requires_grad(true)};
            for (const auto& p : params) in.push_back(p);
            return in;
          },
          [mixer, form](const std::vector<Tensor>& in) { return mixer->forward(in[0], form, nullptr); }};
      b->store.zero_grads();
      autograd::GradCheckResult r = autograd::gradcheck(gc);
      EXPECT_TRUE(r.passed) << gc.label << " " << r.detail << " (max rel err " << r.max_rel_error << ")";
    }
  }
}

TEST(RopeScalingMixer, KeysAreCommandLineOverridesOfARunConfig) {
  // What `attnlab eval CKPT --set model.mixer.rope_scaling=yarn --set model.mixer.rope_factor=8` does.
  train::RunConfig base;
  base.train.seq_len = 96;
  train::fill_trained_length(base);
  train::RunConfig run = config::apply_overrides(
      base, {"model.mixer.rope_scaling=yarn", "model.mixer.rope_factor=8"}, "ckpt/config.toml");
  auto& o = dynamic_cast<OptionsOf<SoftmaxOptions>&>(*run.model.mixer.options).value;
  EXPECT_EQ(o.rope_scaling, "yarn");
  EXPECT_EQ(o.rope_factor, 8.0);
  EXPECT_EQ(o.rope_original_length, 96);  // recorded by the trainer, kept through the round trip
  EXPECT_EQ(o.yarn_beta_fast, 32.0);
  EXPECT_EQ(o.yarn_beta_slow, 1.0);
  try {
    config::apply_overrides(base, {"model.mixer.rope_scaling=longrope"}, "ckpt/config.toml");
    ADD_FAILURE() << "an unknown scaling was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rope_scaling"), std::string::npos) << e.what();
  }
  EXPECT_THROW(config::apply_overrides(base, {"model.mixer.rope_factor=0"}), Error);
  EXPECT_THROW(config::apply_overrides(base, {"model.mixer.yarn_beta_fast=0.5"}), Error);
  // A scaling on a model without RoPE would silently do nothing: refused.
  EXPECT_THROW(config::apply_overrides(base, {"model.mixer.position=alibi", "model.mixer.rope_scaling=pi"}), Error);
  // dynamic_ntk or yarn without a trained length fail when the mixer is built, naming the key.
  try {
    build({"rope_scaling=yarn", "rope_factor=2"});
    ADD_FAILURE() << "yarn without rope_original_length was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rope_original_length"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace attnlab::mixers

namespace attnlab::mixers {
namespace {

// Partial rotary (rotary_dim): the registry variants compare its forms; here, that the key
// reaches the rotation. heads=2 at width 16 gives D = 8.
TEST(PartialRotary, WholeHeadEqualsDefaultAndFewerFeaturesDiffer) {
  Rng rng(4);
  Tensor x = Tensor::randn({1, 9, kWidth}, rng, DType::F64);
  autograd::NoGradGuard no_grad;
  auto out = [&](const std::string& r) {
    return ::attnlab::testing::build_mixer("softmax", {"position=rope", "heads=2", "rotary_dim=" + r}, kWidth,
                                           DType::F64, 3)
        ->mixer->forward(x, Form::Parallel, nullptr);
  };
  const Tensor all = out("0");
  EXPECT_EQ(compare(all, out("8")).max_abs, 0.0);  // rotary_dim = D is the whole head
  EXPECT_GT(compare(all, out("2")).max_abs, 1e-6);
  EXPECT_GT(compare(out("2"), out("4")).max_abs, 1e-6);
}

TEST(PartialRotary, BadValuesNameTheKey) {
  auto expect_error = [](const std::vector<std::string>& sets, const std::string& needle) {
    try {
      ::attnlab::testing::build_mixer("softmax", sets, kWidth, DType::F64, 3);
      ADD_FAILURE() << "no error for " << sets.back();
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error({"heads=2", "rotary_dim=3"}, "rotary_dim");
  expect_error({"heads=2", "rotary_dim=10"}, "model.mixer.rotary_dim = 10: must be at most the head dimension 8");
  expect_error({"position=alibi", "rotary_dim=4"}, "needs position = \"rope\"");
}

}  // namespace
}  // namespace attnlab::mixers
