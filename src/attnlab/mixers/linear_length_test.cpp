// Any length (DESIGN.md convention 7) for the decayed linear mixers: 100,000 tokens in
// float32 at a tiny width give finite outputs in every form, and the recurrent form (whole
// sequence, and token by token after a parallel prefill carried in the state) equals the
// parallel form at the last tokens. The million-token run is a benchmark (docs/BENCHMARKS.md).
#include <gtest/gtest.h>

#include <cmath>

#include "attnlab/autograd/node.h"
#include "harness/assert_close.h"
#include "harness/mixer_fixture.h"

namespace attnlab::mixers {
namespace {

constexpr int64_t kWidth = 8, kT = 100000, kTail = 16;

bool all_finite(const Tensor& t) {
  for (double y : t.to_vector())
    if (!std::isfinite(y)) return false;
  return true;
}

void check_long(const std::string& name, const std::vector<std::string>& variant) {
  autograd::NoGradGuard no_grad;
  auto b = ::attnlab::testing::build_mixer(name, variant, kWidth, DType::F32, 3);
  Rng rng(17);
  Tensor x = Tensor::randn({1, kT, kWidth}, rng, DType::F32);
  Tensor parallel = b->mixer->forward(x, Form::Parallel, nullptr);
  Tensor recurrent = b->mixer->forward(x, Form::Recurrent, nullptr);
  ASSERT_TRUE(all_finite(parallel)) << name;
  ASSERT_TRUE(all_finite(recurrent)) << name;
  // Prefill all but the tail in parallel, then decode the tail one token at a time.
  auto state = b->mixer->make_state();
  b->mixer->forward(x.slice_raw(1, 0, kT - kTail).contiguous(), Form::Parallel, state.get());
  std::vector<Tensor> steps;
  for (int64_t t = kT - kTail; t < kT; ++t)
    steps.push_back(b->mixer->forward(x.slice_raw(1, t, t + 1).contiguous(), Form::Recurrent, state.get()));
  EXPECT_EQ(state->length(), kT);
  Tensor tail = parallel.slice_raw(1, kT - kTail, kT);
  EXPECT_CLOSE(name + " recurrent, last tokens", tail, recurrent.slice_raw(1, kT - kTail, kT), 1e-4);
  for (int64_t i = 0; i < kTail; ++i)
    EXPECT_CLOSE(name + cat(" decode step ", i), tail.slice_raw(1, i, i + 1), steps[size_t(i)], 1e-4);
}

TEST(LinearMixersAtLength, RetentionStaysFiniteAndFormsAgreeAt100kTokens) {
  check_long("retention", {"heads=2"});
}

TEST(LinearMixersAtLength, DijiangStaysFiniteAndFormsAgreeAt100kTokens) {
  check_long("dijiang", {"heads=2"});
}

}  // namespace
}  // namespace attnlab::mixers
