#include <gtest/gtest.h>

#include <cmath>

#include "attnlab/autograd/engine.h"
#include "attnlab/autograd/gradcheck.h"
#include "attnlab/ops/ops.h"
#include "harness/assert_close.h"

namespace attnlab {
namespace {

Tensor param(const std::vector<double>& v, const Shape& s) {
  return Tensor::from_vector(v, s).set_requires_grad(true);
}

TEST(Autograd, GradientsAccumulateAcrossBackwardCalls) {
  Tensor x = param({1, 2, 3}, {3});
  for (int i = 0; i < 2; ++i) ops::mul(x, x).backward(Tensor::full({3}, 1.0, DType::F64));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{4, 8, 12}));  // 2 * (2x)
}

TEST(Autograd, ZeroingIsExplicitThroughAPresetBuffer) {
  Tensor x = param({1, 2}, {2});
  Tensor buffer = Tensor::zeros({2}, DType::F64);
  x.set_grad(buffer);
  ops::scale(x, 3.0).backward(Tensor::full({2}, 1.0, DType::F64));
  EXPECT_EQ(buffer.to_vector(), (std::vector<double>{3, 3})) << "gradient lands in the preset buffer";
  buffer.zero();
  ops::scale(x, 3.0).backward(Tensor::full({2}, 1.0, DType::F64));
  EXPECT_EQ(buffer.to_vector(), (std::vector<double>{3, 3}));
}

TEST(Autograd, DiamondGraphSumsBothPaths) {
  // y = exp(x) * exp(x): dy/dx = 2 exp(2x)
  Tensor x = param({0.5, -1.0}, {2});
  Tensor e = ops::exp(x);
  Tensor y = ops::mul(e, e);
  y.backward(Tensor::full({2}, 1.0, DType::F64));
  EXPECT_NEAR(x.grad().to_vector()[0], 2 * std::exp(1.0), 1e-12);
  EXPECT_NEAR(x.grad().to_vector()[1], 2 * std::exp(-2.0), 1e-12);
}

TEST(Autograd, NoGradGuardRecordsNothing) {
  Tensor x = param({1, 2}, {2});
  Tensor y;
  {
    autograd::NoGradGuard guard;
    y = ops::exp(x);
  }
  EXPECT_FALSE(y.requires_grad());
  EXPECT_FALSE(y.grad_fn());
  EXPECT_THROW(y.backward(Tensor::full({2}, 1.0, DType::F64)), Error);
  EXPECT_TRUE(ops::exp(x).requires_grad()) << "the guard restores grad mode";
}

TEST(Autograd, SavedActivationsAreFreedDuringBackward) {
  Tensor x = param({1, 2, 3}, {3});
  std::weak_ptr<Storage> saved;
  Tensor y;
  {
    Tensor h = ops::exp(x);  // exp saves its output; scale saves its input
    saved = h.storage();
    y = ops::scale(h, 2.0);
  }
  EXPECT_FALSE(saved.expired()) << "the graph keeps the activation alive until backward";
  y.backward(Tensor::full({3}, 1.0, DType::F64));
  EXPECT_TRUE(saved.expired()) << "backward releases saved activations";
  EXPECT_NEAR(x.grad().to_vector()[2], 2 * std::exp(3.0), 1e-12);
}

TEST(Autograd, SecondBackwardThroughFreedGraphIsAnError) {
  Tensor x = param({1, 2}, {2});
  Tensor y = ops::exp(x);
  y.backward(Tensor::full({2}, 1.0, DType::F64));
  try {
    y.backward(Tensor::full({2}, 1.0, DType::F64));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("second time"), std::string::npos) << e.what();
  }
}

TEST(Autograd, NonScalarBackwardNeedsASeed) {
  Tensor x = param({1, 2}, {2});
  EXPECT_THROW(ops::exp(x).backward(), Error);
}

TEST(GradCheck, CatchesAWrongBackward) {
  // A deliberately wrong gradient (2x instead of 3x^2 for x^3) must fail the check,
  // otherwise the harness could pass anything.
  autograd::GradCase wrong{
      "cube", "wrong backward",
      [](Rng& r) { return std::vector<Tensor>{Tensor::randn({5}, r, DType::F64).set_requires_grad(true)}; },
      [](const std::vector<Tensor>& in) {
        const Tensor& x = in[0];
        Tensor out = Tensor::empty(x.shape(), DType::F64);
        {
          autograd::NoGradGuard g;
          out.copy_from(ops::mul(ops::mul(x, x), x));
        }
        if (autograd::should_record({x})) {
          Tensor xs = x.detach();
          autograd::record("cube", {x}, out, [xs](const Tensor& g) {
            return std::vector<Tensor>{ops::mul(g, ops::scale(xs, 2.0))};
          });
        }
        return out;
      }};
  autograd::GradCheckResult r = autograd::gradcheck(wrong);
  EXPECT_FALSE(r.passed);
  EXPECT_GT(r.max_rel_error, 1e-2);
}

}  // namespace
}  // namespace attnlab
