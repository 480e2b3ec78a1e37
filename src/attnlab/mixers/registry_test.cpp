// The registry-walking mixer tests (DESIGN.md conventions 2 and 3): every registered
// mixer, with every one of its test variants, in every form it declares, must match its
// reference form run in float64 on outputs, the gradient of the input and the gradients
// of every parameter, at lengths that are not multiples of any block size; carrying a
// state across calls must equal one call; and its float64 gradients must match finite
// differences. A mixer cannot opt out: the list comes from the registry.
#include "attnlab/mixers/registry.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "attnlab/autograd/gradcheck.h"
#include "attnlab/autograd/node.h"
#include "attnlab/model/config.h"
#include "attnlab/ops/ops.h"
#include "harness/assert_close.h"
#include "harness/mixer_fixture.h"

namespace attnlab::mixers {
namespace {

constexpr int64_t kWidth = 24;

using Built = ::attnlab::testing::BuiltMixer;

std::string variant_text(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& kv : v) s += (s.empty() ? "" : " ") + kv;
  return s.empty() ? "defaults" : s;
}

std::unique_ptr<Built> build(const MixerEntry& e, const std::vector<std::string>& variant, DType dtype,
                             const Tensor* copy_values_from = nullptr) {
  return ::attnlab::testing::build_mixer(e.name, variant, kWidth, dtype, 7, {}, copy_values_from);
}

struct FormRun {
  Tensor out, grad_x, grad_params;
};

// Output and gradients for the loss sum(out * w).
FormRun run(Built& b, const Tensor& x_in, const Tensor& w, Form form, MixerState* state = nullptr) {
  Tensor x = x_in.detach().clone().set_requires_grad(true);
  b.store.zero_grads();
  Tensor out = b.mixer->forward(x, form, state);
  out.backward(w.to(out.dtype()));
  return {out.detach(), x.grad(), b.store.grads().clone()};
}

struct Case {
  const MixerEntry* entry;
  std::vector<std::string> variant;
  Form form;
};

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (const auto& e : mixer_registry())
    for (const auto& v : e.test_variants)
      for (Form f : e.forms) cases.push_back({&e, v, f});
  return cases;
}

TEST(MixerRegistry, EveryMixerHasTestVariantsARefFormAndAUniqueName) {
  std::set<std::string> names;
  for (const auto& e : mixer_registry()) {
    EXPECT_TRUE(names.insert(e.name).second) << e.name;
    EXPECT_FALSE(e.test_variants.empty()) << e.name << " has no test variants";
    EXPECT_NE(std::find(e.forms.begin(), e.forms.end(), Form::Ref), e.forms.end()) << e.name << " has no ref form";
    for (const auto& v : e.test_variants) EXPECT_NO_THROW(build(e, v, DType::F32)) << e.name << " " << variant_text(v);
  }
}

TEST(MixerRegistry, UnknownMixerAndUnknownOptionAreErrorsNamingThem) {
  try {
    find_mixer("sofmax");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sofmax"), std::string::npos);
  }
  try {
    config::parse_config_text<model::MixerConfig>("name = \"softmax\"\nhaeds = 4\n", "x.toml");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("heads"), std::string::npos) << e.what();
  }
}

class MixerForms : public ::testing::TestWithParam<size_t> {};

TEST_P(MixerForms, MatchReferenceOnValuesAndAllGradients) {
  static const auto cases = all_cases();
  const Case& c = cases[GetParam()];
  auto fast = build(*c.entry, c.variant, DType::F32);
  Tensor values64 = fast->store.values().to(DType::F64);
  auto ref = build(*c.entry, c.variant, DType::F64, &values64);
  std::vector<int64_t> lengths = {1, 63, 127};
  if (c.form == Form::Parallel) lengths.push_back(1000);
  for (int64_t T : lengths) {
    Rng rng(static_cast<uint64_t>(T));
    int64_t B = T >= 1000 ? 1 : 2;
    Tensor x = Tensor::randn({B, T, kWidth}, rng);
    Tensor w = Tensor::randn({B, T, kWidth}, rng);
    FormRun want = run(*ref, x.to(DType::F64), w, Form::Ref);
    FormRun got = run(*fast, x, w, c.form);
    std::string what = cat(c.entry->name, " [", variant_text(c.variant), "] ", form_name(c.form), " T=", T);
    EXPECT_CLOSE(what + " output", want.out, got.out, 1e-4);
    EXPECT_CLOSE(what + " d input", want.grad_x, got.grad_x, 1e-4);
    EXPECT_CLOSE(what + " d params", want.grad_params, got.grad_params, 1e-4);
  }
}

TEST_P(MixerForms, StateCarriedAcrossCallsEqualsOneCall) {
  static const auto cases = all_cases();
  const Case& c = cases[GetParam()];
  auto b = build(*c.entry, c.variant, DType::F64);
  Rng rng(3);
  const int64_t T = 37, split = 20;
  Tensor x = Tensor::randn({2, T, kWidth}, rng, DType::F64);
  autograd::NoGradGuard no_grad;
  Tensor whole = b->mixer->forward(x, c.form, nullptr);
  auto state = b->mixer->make_state();
  Tensor first = b->mixer->forward(x.slice_raw(1, 0, split).contiguous(), c.form, state.get());
  Tensor second = b->mixer->forward(x.slice_raw(1, split, T).contiguous(), c.form, state.get());
  EXPECT_EQ(state->length(), T);
  EXPECT_CLOSE("first part", whole.slice_raw(1, 0, split), first, 1e-12);
  EXPECT_CLOSE("second part", whole.slice_raw(1, split, T), second, 1e-12);
}

TEST_P(MixerForms, Float64GradientsMatchFiniteDifferences) {
  static const auto cases = all_cases();
  const Case& c = cases[GetParam()];
  auto b = build(*c.entry, c.variant, DType::F64);
  std::vector<Tensor> params;
  for (const auto& p : b->store.params()) params.push_back(p->value);
  Mixer* mixer = b->mixer.get();
  Form form = c.form;
  autograd::GradCase gc{
      c.entry->name, variant_text(c.variant),
      [params](Rng& r) {
        std::vector<Tensor> in{Tensor::randn({2, 7, kWidth}, r, DType::F64).set_requires_grad(true)};
        for (const auto& p : params) in.push_back(p);
        return in;
      },
      [mixer, form](const std::vector<Tensor>& in) { return mixer->forward(in[0], form, nullptr); }};
  b->store.zero_grads();
  autograd::GradCheckResult r = autograd::gradcheck(gc);
  EXPECT_TRUE(r.passed) << r.detail << " (max rel err " << r.max_rel_error << ")";
}

INSTANTIATE_TEST_SUITE_P(Registry, MixerForms, ::testing::Range<size_t>(0, all_cases().size()),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           static const auto cases = all_cases();
                           const Case& c = cases[info.param];
                           return c.entry->name + "_" + form_name(c.form) + "_" + std::to_string(info.param);
                         });

}  // namespace
}  // namespace attnlab::mixers
