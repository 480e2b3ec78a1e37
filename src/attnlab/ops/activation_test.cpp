// The MLP activations on their fast paths: gelu_tanh, silu and sigmoid (float32 through a
// vectorised exp) against their definitions written out in double with std::tanh and
// std::exp, forward and backward, at odd sizes and at inputs far in the tails; and the
// fused swiglu against the unfused composition mul(silu(gate), up) in float32 and
// float64, outputs and both gradients. Finite differences for swiglu are in the op
// table's gradcheck (gradcheck_test.cpp).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "attnlab/core/rng.h"
#include "attnlab/ops/elementwise.h"
#include "harness/assert_close.h"

namespace attnlab::ops {
namespace {

using testing::kOddSizes;

struct Definition {
  const char* name;
  std::function<Tensor(const Tensor&)> op;
  std::function<double(double)> f, df;
};

const double kC = std::sqrt(2.0 / M_PI);

std::vector<Definition> definitions() {
  auto sig = [](double x) { return 1.0 / (1.0 + std::exp(-x)); };
  return {
      {"gelu_tanh", gelu_tanh,
       [](double x) { return 0.5 * x * (1.0 + std::tanh(kC * (x + 0.044715 * x * x * x))); },
       [](double x) {
         double t = std::tanh(kC * (x + 0.044715 * x * x * x));
         return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * kC * (1 + 3 * 0.044715 * x * x);
       }},
      {"silu", silu, [sig](double x) { return x * sig(x); },
       [sig](double x) { return sig(x) * (1 + x * (1 - sig(x))); }},
      {"sigmoid", sigmoid, sig, [sig](double x) { return sig(x) * (1 - sig(x)); }},
  };
}

// Standard-normal inputs times 4, with the tails and zero written into the first slots.
Tensor inputs(int64_t n, DType dtype, uint64_t seed) {
  Rng rng(seed);
  std::vector<double> v = Tensor::randn({n}, rng, DType::F64, 4.0).to_vector();
  const double tails[] = {0.0, -100.0, 100.0, -30.0, 30.0, -1e-6, 9.5};
  for (size_t i = 0; i < std::size(tails) && i < v.size(); ++i) v[i] = tails[i];
  return Tensor::from_vector(v, {n}).to(dtype);
}

TEST(Activation, MatchesItsDefinitionInDoubleForwardAndBackward) {
  for (const auto& def : definitions()) {
    for (DType dtype : {DType::F32, DType::F64}) {
      for (int64_t n : kOddSizes) {
        Tensor x = inputs(n, dtype, uint64_t(n) + 5);
        Rng grng(uint64_t(n) + 77);
        Tensor g = Tensor::randn({n}, grng, dtype);
        Tensor xg = x.detach();
        xg.set_requires_grad(true);
        Tensor y = def.op(xg);
        y.backward(g);
        std::vector<double> xv = x.to_vector(), gv = g.to_vector();
        std::vector<double> yref(xv.size()), dref(xv.size());
        for (size_t i = 0; i < xv.size(); ++i) {
          yref[i] = def.f(xv[i]);
          dref[i] = gv[i] * def.df(xv[i]);
        }
        const double tol = dtype == DType::F32 ? 2e-6 : 1e-13;
        std::string where = std::string(def.name) + " " + dtype_name(dtype) + " n=" + std::to_string(n);
        EXPECT_CLOSE(where + " forward", Tensor::from_vector(yref, {n}), y, tol);
        EXPECT_CLOSE(where + " backward", Tensor::from_vector(dref, {n}), xg.grad(), tol);
        // Far tails (x = -100, 100): the limits, and no NaN from inf / inf.
        if (n >= 7) {
          EXPECT_NEAR(y.at({1}), 0.0, 1e-30) << where;
          EXPECT_NEAR(y.at({2}), def.name == std::string("sigmoid") ? 1.0 : 100.0, 1e-12) << where;
          EXPECT_NEAR(xg.grad().at({1}), 0.0, 1e-30) << where;
        }
      }
    }
  }
}

TEST(Swiglu, MatchesTheUnfusedCompositionWithGradients) {
  for (DType dtype : {DType::F32, DType::F64}) {
    for (Shape shape : {Shape{1}, Shape{7, 131}, Shape{2, 3, 63}}) {
      Rng rng(9);
      Tensor gate = Tensor::randn(shape, rng, dtype, 3.0), up = Tensor::randn(shape, rng, dtype);
      Tensor seed = Tensor::randn(shape, rng, dtype);
      auto run = [&](bool fused) {
        Tensor g = gate.detach(), u = up.detach();
        g.set_requires_grad(true);
        u.set_requires_grad(true);
        Tensor y = fused ? swiglu(g, u) : mul(silu(g), u);
        y.backward(seed);
        return std::vector<Tensor>{y, g.grad(), u.grad()};
      };
      std::vector<Tensor> ref = run(false), got = run(true);
      const double tol = dtype == DType::F32 ? 1e-6 : 1e-14;
      std::string where = std::string(dtype_name(dtype)) + " " + shape_str(shape);
      EXPECT_CLOSE("swiglu " + where, ref[0], got[0], tol);
      EXPECT_CLOSE("swiglu d gate " + where, ref[1], got[1], tol);
      EXPECT_CLOSE("swiglu d up " + where, ref[2], got[2], tol);
    }
  }
}

TEST(Swiglu, RejectsMismatchedInputsWithOneLine) {
  Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({3, 2});
  try {
    swiglu(a, b);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("swiglu: gate [2, 3] and up [3, 2] differ in shape"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(swiglu(a, Tensor::zeros({2, 3}, DType::F64)), Error);
}

}  // namespace
}  // namespace attnlab::ops
