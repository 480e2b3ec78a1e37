// The language model as a whole: its three forms agree (decoding with a state equals one
// parallel pass), its parameters are the ones the config implies under the names a
// checkpoint uses, it can learn (memorise one batch), it initialises the same for any
// thread count, and its float64 loss gradients match finite differences.
#include "attnlab/model/lm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "attnlab/autograd/gradcheck.h"
#include "attnlab/autograd/node.h"
#include "attnlab/core/parallel.h"
#include "attnlab/train/adamw.h"
#include "harness/assert_close.h"

namespace attnlab::model {
namespace {

ModelConfig make_config(const std::string& toml, const std::vector<std::string>& sets = {}) {
  ModelConfig c = config::parse_config_text<ModelConfig>(toml, "lm_test", sets);
  c.validate();
  return c;
}

const char* kTiny = R"(
vocab_size = 40
d_model = 32
n_layers = 2
[mixer]
name = "softmax"
heads = 4
)";

Tensor random_tokens(int64_t B, int64_t T, int64_t V, uint64_t seed) {
  Rng rng(seed);
  std::vector<int32_t> ids(size_t(B * T));
  for (auto& id : ids) id = int32_t(rng.next_below(uint64_t(V)));
  return Tensor::from_vector(ids, {B, T});
}

// ---- parallel vs ref vs decoding with a state ----

struct FormCase {
  std::string name;
  std::vector<std::string> sets;
};

void PrintTo(const FormCase& c, std::ostream* os) { *os << c.name; }

class LanguageModelForms : public ::testing::TestWithParam<FormCase> {};

TEST_P(LanguageModelForms, DecodingWithAStateGivesTheLogitsOfOneParallelPass) {
  ModelConfig cfg = make_config(kTiny, GetParam().sets);
  LanguageModel lm(cfg, 5);
  autograd::NoGradGuard no_grad;
  const int64_t B = 2, T = 23, prefill = 9, V = cfg.vocab_size;
  Tensor tokens = random_tokens(B, T, V, 17);
  Tensor whole = lm.forward(tokens, mixers::Form::Parallel);
  ASSERT_EQ(whole.shape(), (Shape{B, T, V}));
  EXPECT_CLOSE(GetParam().name + " ref vs parallel", lm.forward(tokens, mixers::Form::Ref), whole, 1e-4);

  // Prefill in the parallel form, then one token at a time in the recurrent form, as
  // generation does.
  DecodeState state = lm.make_state();
  Tensor first = lm.forward(tokens.slice_raw(1, 0, prefill).contiguous(), mixers::Form::Parallel, &state);
  EXPECT_EQ(state.length(), prefill);
  EXPECT_CLOSE(GetParam().name + " prefill", whole.slice_raw(1, 0, prefill), first, 1e-4);
  for (int64_t t = prefill; t < T; ++t) {
    Tensor step = lm.forward(tokens.slice_raw(1, t, t + 1).contiguous(), mixers::Form::Recurrent, &state);
    EXPECT_CLOSE(cat(GetParam().name, " decode t=", t), whole.slice_raw(1, t, t + 1), step, 1e-4);
  }
  EXPECT_EQ(state.length(), T);
  EXPECT_GT(state.bytes(), 0u);

  // The whole sequence through the recurrent form in one call (what `attnlab forward
  // --form recurrent` does).
  DecodeState fresh = lm.make_state();
  EXPECT_CLOSE(GetParam().name + " recurrent, one call", whole, lm.forward(tokens, mixers::Form::Recurrent, &fresh),
               1e-4);
}

INSTANTIATE_TEST_SUITE_P(
    Positions, LanguageModelForms,
    ::testing::Values(FormCase{"nope", {"mixer.position=\"nope\""}}, FormCase{"rope", {"mixer.position=\"rope\""}},
                      FormCase{"rope_interleaved_gqa",
                               {"mixer.position=\"rope\"", "mixer.rope_style=\"interleaved\"", "mixer.kv_heads=2"}},
                      FormCase{"alibi", {"mixer.position=\"alibi\""}},
                      FormCase{"alibi_layernorm_gelu_untied",
                               {"mixer.position=\"alibi\"", "norm=\"layer\"", "mlp=\"gelu\"", "tie_embeddings=false"}}),
    [](const ::testing::TestParamInfo<FormCase>& info) { return info.param.name; });

// ---- parameters: names, shapes, count, weight decay ----

struct Expected {
  std::string name;
  Shape shape;
  bool decay;
};

void expect_params(const LanguageModel& lm, const std::vector<Expected>& want) {
  const auto& got = lm.params().params();
  ASSERT_EQ(got.size(), want.size());
  int64_t total = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i]->name, want[i].name) << "parameter " << i;
    EXPECT_EQ(got[i]->shape, want[i].shape) << want[i].name;
    EXPECT_EQ(got[i]->weight_decay, want[i].decay) << want[i].name;
    EXPECT_EQ(lm.params().find(want[i].name), got[i].get());
    total += shape_numel(want[i].shape);
  }
  // The flat buffer holds every parameter, each padded to a 16-float boundary.
  EXPECT_GE(lm.params().numel(), total);
  EXPECT_LT(lm.params().numel(), total + 16 * int64_t(want.size()));
}

TEST(LanguageModelParams, TiedRmsSwigluModelHasExactlyTheParametersTheConfigImplies) {
  LanguageModel lm(make_config(kTiny), 1);
  const int64_t V = 40, C = 32, F = 96;  // F: 8C/3 = 85 rounded up to 32
  std::vector<Expected> want = {{"embed.weight", {V, C}, false}};
  for (int l = 0; l < 2; ++l) {
    std::string p = "blocks." + std::to_string(l) + ".";
    want.push_back({p + "norm1.weight", {C}, false});
    for (const char* w : {"wq", "wk", "wv", "wo"}) want.push_back({p + "mixer." + w + ".weight", {C, C}, true});
    want.push_back({p + "norm2.weight", {C}, false});
    want.push_back({p + "mlp.gate.weight", {F, C}, true});
    want.push_back({p + "mlp.up.weight", {F, C}, true});
    want.push_back({p + "mlp.down.weight", {C, F}, true});
  }
  want.push_back({"norm.weight", {C}, false});
  expect_params(lm, want);
  EXPECT_EQ(lm.params().find("head.weight"), nullptr) << "a tied head has no weight of its own";
  // V*C + layers * (2C + 4C^2 + 3FC) + C
  int64_t count = 0;
  for (const auto& p : lm.params().params()) count += shape_numel(p->shape);
  EXPECT_EQ(count, V * C + 2 * (2 * C + 4 * C * C + 3 * F * C) + C);
}

TEST(LanguageModelParams, UntiedLayerNormGeluGroupedQueryModel) {
  LanguageModel lm(make_config(kTiny, {"norm=\"layer\"", "mlp=\"gelu\"", "tie_embeddings=false", "mixer.kv_heads=1",
                                       "d_ff=48"}),
                   1);
  const int64_t V = 40, C = 32, F = 48, D = 8;  // head dim C / heads
  std::vector<Expected> want = {{"embed.weight", {V, C}, false}};
  for (int l = 0; l < 2; ++l) {
    std::string p = "blocks." + std::to_string(l) + ".";
    want.push_back({p + "norm1.weight", {C}, false});
    want.push_back({p + "norm1.bias", {C}, false});
    want.push_back({p + "mixer.wq.weight", {C, C}, true});
    want.push_back({p + "mixer.wk.weight", {D, C}, true});  // one key/value head
    want.push_back({p + "mixer.wv.weight", {D, C}, true});
    want.push_back({p + "mixer.wo.weight", {C, C}, true});
    want.push_back({p + "norm2.weight", {C}, false});
    want.push_back({p + "norm2.bias", {C}, false});
    want.push_back({p + "mlp.up.weight", {F, C}, true});
    want.push_back({p + "mlp.down.weight", {C, F}, true});
  }
  want.push_back({"norm.weight", {C}, false});
  want.push_back({"norm.bias", {C}, false});
  want.push_back({"head.weight", {V, C}, true});
  expect_params(lm, want);
}

TEST(LanguageModelParams, InitialisationFollowsTheDocumentedScales) {
  LanguageModel lm(make_config(kTiny, {"n_layers=8", "d_model=64"}), 3);
  auto stddev = [&](const std::string& name) {
    std::vector<double> v = lm.params().find(name)->value.to_vector();
    double s = 0;
    for (double x : v) s += x * x;
    return std::sqrt(s / double(v.size()));
  };
  EXPECT_NEAR(stddev("embed.weight"), 0.02, 0.002);
  EXPECT_NEAR(stddev("blocks.3.mixer.wq.weight"), 0.02, 0.002);
  EXPECT_NEAR(stddev("blocks.3.mlp.up.weight"), 0.02, 0.002);
  // Projections into the residual stream: 0.02 / sqrt(2 * layers) = 0.005.
  EXPECT_NEAR(stddev("blocks.3.mixer.wo.weight"), 0.005, 0.0005);
  EXPECT_NEAR(stddev("blocks.3.mlp.down.weight"), 0.005, 0.0005);
  for (double x : lm.params().find("blocks.5.norm2.weight")->value.to_vector()) ASSERT_EQ(x, 1.0);
}

TEST(LanguageModelParams, InitialisationIsTheSameForOneAndTwoThreadsAndFollowsTheSeed) {
  const int before = num_threads();
  ModelConfig cfg = make_config(kTiny, {"d_model=64"});
  set_num_threads(1);
  LanguageModel one(cfg, 9);
  set_num_threads(2);
  LanguageModel two(cfg, 9);
  LanguageModel other_seed(cfg, 10);
  set_num_threads(before);
  const Tensor& a = one.params().values();
  ASSERT_EQ(a.numel(), two.params().values().numel());
  EXPECT_EQ(std::memcmp(a.data<float>(), two.params().values().data<float>(), size_t(a.numel()) * sizeof(float)), 0);
  EXPECT_NE(std::memcmp(a.data<float>(), other_seed.params().values().data<float>(), size_t(a.numel()) * sizeof(float)),
            0);
}

// ---- learning ----

TEST(LanguageModelTraining, AdamWMemorisesOneFixedBatch) {
  LanguageModel lm(make_config(kTiny), 2);
  Tensor tokens = random_tokens(4, 16, 40, 21);
  Tensor targets = random_tokens(4, 16, 40, 22);
  train::AdamW opt(lm.params(), {0.9, 0.95, 1e-8, 0.0});
  double first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    lm.params().zero_grads();
    Tensor loss = lm.loss(tokens, targets);
    loss.backward();
    (step == 0 ? first : last) = loss.item();
    opt.step(1e-2);
  }
  EXPECT_NEAR(first, std::log(40.0), 0.1) << "a fresh model predicts nearly uniformly";
  EXPECT_LT(last, 0.1 * first) << "60 AdamW steps on one batch should memorise it: " << first << " -> " << last;
}

// ---- float64 gradients of the whole loss ----

class LanguageModelGradients : public ::testing::TestWithParam<FormCase> {};

TEST_P(LanguageModelGradients, Float64LossGradientsMatchFiniteDifferences) {
  const char* small = R"(
vocab_size = 11
d_model = 8
n_layers = 2
d_ff = 12
[mixer]
name = "softmax"
heads = 2
)";
  ModelConfig cfg = make_config(small, GetParam().sets);
  LanguageModel trained(cfg, 4);
  LanguageModel lm(cfg, 0, DType::F64);
  // The float32 model's values, moved off their initial scales (norm gains of exactly 1,
  // projections of 0.02) so every nonlinearity and every attention weight is exercised.
  Rng rng(8);
  Tensor noise = Tensor::randn({trained.params().numel()}, rng, DType::F64, 0.3);
  lm.params().values().copy_from(trained.params().values());
  double* v = lm.params().values().data<double>();
  const double* n = noise.data<double>();
  for (int64_t i = 0; i < lm.params().numel(); ++i) v[i] += n[i];

  const Tensor tokens = random_tokens(2, 6, 11, 31), targets = random_tokens(2, 6, 11, 32);
  std::vector<std::string> names = {"embed.weight",          "blocks.0.norm1.weight",    "blocks.0.mixer.wq.weight",
                                    "blocks.0.mixer.wk.weight", "blocks.1.mixer.wv.weight", "blocks.1.mixer.wo.weight",
                                    "blocks.0.mlp.up.weight", "blocks.1.mlp.down.weight", "norm.weight"};
  if (!cfg.tie_embeddings) names.push_back("head.weight");
  std::vector<Tensor> params;
  for (const auto& name : names) {
    const Param* p = lm.params().find(name);
    ASSERT_NE(p, nullptr) << name;
    params.push_back(p->value);
  }
  mixers::Form form = mixers::parse_form(GetParam().name.substr(0, GetParam().name.find('_')));
  LanguageModel* model = &lm;
  autograd::GradCase gc{"lm.loss", GetParam().name, [params](Rng&) { return params; },
                        [model, tokens, targets, form](const std::vector<Tensor>&) {
                          return model->loss(tokens, targets, form);
                        }};
  lm.params().zero_grads();
  autograd::GradCheckResult r = autograd::gradcheck(gc);
  EXPECT_TRUE(r.passed) << r.detail << " (max rel err " << r.max_rel_error << ")";
  EXPECT_EQ(r.checked_inputs, int(names.size()));
}

INSTANTIATE_TEST_SUITE_P(
    Forms, LanguageModelGradients,
    ::testing::Values(FormCase{"parallel_rope", {"mixer.position=\"rope\""}},
                      FormCase{"ref_alibi_layernorm_gelu_untied",
                               {"mixer.position=\"alibi\"", "norm=\"layer\"", "mlp=\"gelu\"", "tie_embeddings=false"}},
                      FormCase{"parallel_nope_gqa", {"mixer.position=\"nope\"", "mixer.kv_heads=1"}}),
    [](const ::testing::TestParamInfo<FormCase>& info) { return info.param.name; });

}  // namespace
}  // namespace attnlab::model
