#include "attnlab/ops/conv.h"

#include <gtest/gtest.h>

#include <cstring>
#include <functional>

#include "attnlab/core/parallel.h"
#include "attnlab/ops/shape.h"
#include "harness/assert_close.h"

namespace attnlab::ops {
namespace {

using ::attnlab::testing::error_of;

using attnlab::testing::assert_close;

// ---- the reference: the definition, one multiply-add at a time, in double ----
struct ConvRef {
  std::vector<double> y, gx, gw, gb;
};

ConvRef conv1d_ref(const std::vector<double>& x, const std::vector<double>& w, const std::vector<double>* bias,
                   const std::vector<double>& gy, int64_t B, int64_t C_in, int64_t T, int64_t C_out, int64_t K,
                   const ConvOptions& o) {
  int64_t cin_g = C_in / o.groups, cout_g = C_out / o.groups;
  int64_t T_out = T + o.padding_left + o.padding_right - o.dilation * (K - 1);
  ConvRef r;
  r.y.assign(size_t(B * C_out * T_out), 0.0);
  r.gx.assign(x.size(), 0.0);
  r.gw.assign(w.size(), 0.0);
  r.gb.assign(size_t(C_out), 0.0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t oc = 0; oc < C_out; ++oc)
      for (int64_t t = 0; t < T_out; ++t) {
        size_t yi = size_t((b * C_out + oc) * T_out + t);
        double s = bias ? (*bias)[size_t(oc)] : 0.0, g = gy[yi];
        r.gb[size_t(oc)] += g;
        for (int64_t c = 0; c < cin_g; ++c)
          for (int64_t k = 0; k < K; ++k) {
            int64_t src = t + k * o.dilation - o.padding_left;
            if (src < 0 || src >= T) continue;  // zero padding
            size_t xi = size_t((b * C_in + (oc / cout_g) * cin_g + c) * T + src);
            size_t wi = size_t((oc * cin_g + c) * K + k);
            s += w[wi] * x[xi];
            r.gx[xi] += g * w[wi];
            r.gw[wi] += g * x[xi];
          }
        r.y[yi] = s;
      }
  return r;
}

void check_result(const std::string& name, const std::vector<double>& ref, const Tensor& got, double tol) {
  ASSERT_TRUE(got.defined()) << name << " was not computed";
  ASSERT_EQ(int64_t(ref.size()), got.numel()) << name;
  // (Empty tensors are compared by size: from_vector of an empty vector trips UBSan.)
  if (!ref.empty()) {
    EXPECT_CLOSE(name, Tensor::from_vector(ref, got.shape()), got, tol);
  }
}

struct Combo {
  int64_t B, C_in, C_out, T, K;
  ConvOptions opt;
  bool bias;
};

std::string describe(const Combo& c) {
  return cat("B=", c.B, " C_in=", c.C_in, " C_out=", c.C_out, " T=", c.T, " K=", c.K, " pad=(",
             c.opt.padding_left, ",", c.opt.padding_right, ") dil=", c.opt.dilation, " groups=",
             c.opt.groups, c.bias ? " bias" : " no bias");
}

// Forward and every gradient against the reference, on the same (rounded) inputs.
void check_combo(const Combo& c, DType dt, uint64_t seed) {
  SCOPED_TRACE(describe(c) + " " + dtype_name(dt));
  Rng rng(seed);
  Tensor x = Tensor::randn({c.B, c.C_in, c.T}, rng, dt).set_requires_grad(true);
  Tensor w = Tensor::randn({c.C_out, c.C_in / c.opt.groups, c.K}, rng, dt).set_requires_grad(true);
  Tensor b = c.bias ? Tensor::randn({c.C_out}, rng, dt).set_requires_grad(true) : Tensor();
  Tensor y = conv1d(x, w, b, c.opt);
  Tensor gy = Tensor::randn(y.shape(), rng, dt);
  y.backward(gy);
  std::vector<double> bv = c.bias ? b.to_vector() : std::vector<double>();
  ConvRef r = conv1d_ref(x.to_vector(), w.to_vector(), c.bias ? &bv : nullptr, gy.to_vector(), c.B, c.C_in,
                         c.T, c.C_out, c.K, c.opt);
  // float32 bias and weight gradients are long sums that partly cancel: the default tolerance.
  double tol = dt == DType::F64 ? 1e-12 : default_tolerance(dt);
  check_result("y", r.y, y, tol);
  check_result("dx", r.gx, x.grad(), tol);
  check_result("dweight", r.gw, w.grad(), tol);
  if (c.bias) {
    check_result("dbias", r.gb, b.grad(), tol);
  }
}

// Every combination of padding mode, dilation, grouping, kernel size, bias and odd
// length, where the output is not empty.
void check_all_combos(DType dt) {
  const int64_t C_in = 4;
  int checked = 0;
  uint64_t seed = 1;
  for (int64_t T : attnlab::testing::kOddSizes)
    for (int64_t K : {1, 3, 4})
      for (int64_t dil : {1, 2})
        for (int64_t groups : {int64_t(1), int64_t(2), C_in})
          for (int pad_mode = 0; pad_mode < 4; ++pad_mode)
            for (bool bias : {false, true}) {
              ConvOptions o;
              if (pad_mode == 1) o = ConvOptions::same(K, dil, groups);
              else if (pad_mode == 2) o = ConvOptions::causal(K, dil, groups);
              else o = {pad_mode == 3 ? 2 : 0, pad_mode == 3 ? 1 : 0, dil, groups};
              o.dilation = dil, o.groups = groups;
              if (T + o.padding_left + o.padding_right - dil * (K - 1) < 1) continue;
              // Group widths (in, out): (4, 3), (2, 1), and depthwise (1, 1) or (1, 2).
              int64_t C_out = groups == 1 ? 3 : groups == 2 ? 2 : bias ? C_in : 2 * C_in;
              check_combo({2, C_in, C_out, T, K, o, bias}, dt, seed++);
              ++checked;
            }
  EXPECT_GT(checked, 400);
}

TEST(Conv1d, MatchesReferenceForEveryOptionFloat64) { check_all_combos(DType::F64); }
TEST(Conv1d, MatchesReferenceForEveryOptionFloat32) { check_all_combos(DType::F32); }

TEST(Conv1d, WideChannelsAndLongKernel) {
  // Many input channels per group (long weight dot products) and a kernel longer than T.
  for (DType dt : {DType::F32, DType::F64}) {
    check_combo({3, 24, 5, 127, 3, ConvOptions::same(3), true}, dt, 7);
    check_combo({1, 6, 4, 3, 7, {4, 3, 1, 2}, true}, dt, 8);
    check_combo({2, 768 / 8, 768 / 8, 1000, 4, ConvOptions::causal_depthwise(4, 96), true}, dt, 9);
    // Kernels longer than 8 take the generic row (one pass per tap).
    check_combo({2, 3, 4, 63, 11, ConvOptions::same(11, 2), true}, dt, 10);
    check_combo({1, 4, 4, 127, 9, {9, 0, 1, 4}, false}, dt, 11);
    check_combo({1, 2, 2, 5, 12, {7, 4, 1, 1}, true}, dt, 12);
    // An empty input whose padding alone makes the output: y is the bias.
    check_combo({1, 2, 3, 0, 2, {2, 1, 1, 1}, true}, dt, 13);
    // No input channels (y is the bias) and no output channels (dx is zero).
    check_combo({2, 0, 3, 5, 2, {}, true}, dt, 14);
    check_combo({2, 3, 0, 5, 2, {}, false}, dt, 15);
  }
}

TEST(Conv1d, SameAndCausalKeepTheLength) {
  for (int64_t K = 1; K <= 6; ++K)
    for (int64_t dil = 1; dil <= 3; ++dil) {
      ConvOptions s = ConvOptions::same(K, dil), c = ConvOptions::causal(K, dil);
      EXPECT_EQ(s.padding_left + s.padding_right, dil * (K - 1));
      EXPECT_GE(s.padding_right, s.padding_left);  // PyTorch puts the odd zero on the right
      EXPECT_LE(s.padding_right - s.padding_left, 1);
      EXPECT_EQ(c.padding_left, dil * (K - 1));
      EXPECT_EQ(c.padding_right, 0);
      Rng rng(K * 10 + dil);
      Tensor x = Tensor::randn({1, 2, 9}, rng), w = Tensor::randn({2, 2, K}, rng);
      EXPECT_EQ(conv1d(x, w, Tensor(), s).shape(), (Shape{1, 2, 9}));
      EXPECT_EQ(conv1d(x, w, Tensor(), c).shape(), (Shape{1, 2, 9}));
    }
  ConvOptions d = ConvOptions::causal_depthwise(4, 768);
  EXPECT_EQ(d.groups, 768);
  EXPECT_EQ(d.padding_left, 3);
}

TEST(Conv1d, CausalOutputIgnoresTheFuture) {
  Rng rng(3);
  const int64_t T = 63, t0 = 40;
  Tensor x = Tensor::randn({2, 4, T}, rng, DType::F64), w = Tensor::randn({4, 1, 4}, rng, DType::F64);
  ConvOptions o = ConvOptions::causal(4, 2, 4);
  std::vector<double> before = conv1d(x, w, Tensor(), o).to_vector();
  x.data<double>()[1 * 4 * T + 2 * T + t0] += 5.0;  // change x[1, 2, t0]
  std::vector<double> after = conv1d(x, w, Tensor(), o).to_vector();
  for (int64_t t = 0; t < T; ++t) {
    size_t i = size_t(1 * 4 * T + 2 * T + t);
    if (t < t0) {
      EXPECT_EQ(before[i], after[i]) << "t = " << t;
    } else if (t == t0) {
      EXPECT_NE(before[i], after[i]);
    }
  }
}

TEST(Conv1d, StridedInputMatchesContiguous) {
  Rng rng(5);
  Tensor xt = Tensor::randn({2, 63, 6}, rng);  // [B, T, C], as a mixer holds it
  Tensor x = xt.transpose_raw(1, 2);           // [B, C, T] view
  Tensor w = Tensor::randn({6, 1, 4}, rng), b = Tensor::randn({6}, rng);
  ConvOptions o = ConvOptions::causal_depthwise(4, 6);
  EXPECT_CLOSE("strided", conv1d(x.contiguous(), w, b, o), conv1d(x, w, b, o), 0.0);
}

TEST(Conv1d, BitwiseSameForAnyThreadCount) {
  int saved = num_threads();
  auto run = [](int threads) {
    set_num_threads(threads);
    Rng rng(11);
    std::vector<std::vector<double>> out;
    for (int64_t groups : {int64_t(1), int64_t(64)}) {
      Tensor x = Tensor::randn({3, 64, 257}, rng).set_requires_grad(true);
      Tensor w = Tensor::randn({64, 64 / groups, 4}, rng).set_requires_grad(true);
      Tensor b = Tensor::randn({64}, rng).set_requires_grad(true);
      Tensor y = conv1d(x, w, b, ConvOptions::causal(4, 1, groups));
      y.backward(Tensor::randn(y.shape(), rng));
      for (const Tensor& t : {y, x.grad(), w.grad(), b.grad()}) out.push_back(t.to_vector());
    }
    return out;
  };
  auto one = run(1), two = run(2);
  set_num_threads(saved);
  ASSERT_EQ(one.size(), two.size());
  for (size_t i = 0; i < one.size(); ++i)
    EXPECT_EQ(0, std::memcmp(one[i].data(), two[i].data(), one[i].size() * sizeof(double))) << "tensor " << i;
}

TEST(Conv1d, OnlyRequestedGradients) {
  Rng rng(2);
  Tensor x = Tensor::randn({1, 2, 5}, rng).set_requires_grad(true);
  Tensor w = Tensor::randn({2, 2, 3}, rng), b = Tensor::randn({2}, rng);
  conv1d(x, w, b, ConvOptions::same(3)).backward(Tensor::full({1, 2, 5}, 1.0));
  EXPECT_TRUE(x.grad().defined());
  EXPECT_FALSE(w.grad().defined());
  EXPECT_FALSE(b.grad().defined());
}

TEST(Conv1d, BadInputsGiveOneClearError) {
  Rng rng(1);
  Tensor x = Tensor::randn({2, 4, 9}, rng), w = Tensor::randn({6, 2, 3}, rng), b = Tensor::randn({6}, rng);
  ConvOptions g2{1, 1, 1, 2};
  struct Bad {
    std::function<void()> f;
    const char* expect;
  };
  const Bad bad[] = {
      {[&] { conv1d(Tensor::randn({4, 9}, rng), w, b, g2); }, "x must be [B, C_in, T], got [4, 9]"},
      {[&] { conv1d(x, Tensor::randn({6, 6}, rng), b, g2); }, "weight must be [C_out, C_in/groups, K]"},
      {[&] { conv1d(x, w, b, {}); }, "does not fit x [2, 4, 9] with groups = 1"},
      {[&] { conv1d(x, w, b, {0, 0, 1, 3}); }, "groups = 3 must divide C_in = 4 and C_out = 6"},
      {[&] { conv1d(x, Tensor::randn({6, 2, 0}, rng), b, g2); }, "K >= 1"},
      {[&] { conv1d(x, w, Tensor::randn({5}, rng), g2); }, "bias must be [C_out] = [6], got [5]"},
      {[&] { conv1d(x, w.to(DType::F64), b, g2); }, "weight is float64, x is float32"},
      {[&] { conv1d(x, w, b.to(DType::F64), g2); }, "bias is float64, x is float32"},
      {[&] { conv1d(Tensor::zeros({2, 4, 9}, DType::I32), w, b, g2); }, "expected a float32 or float64 x, got int32"},
      {[&] { conv1d(x, w, b, {0, 0, 5, 2}); }, "= -1 must be >= 1"},
      {[&] { conv1d(x, w, b, {-1, 0, 1, 2}); }, "padding must be >= 0"},
      {[&] { conv1d(x, w, b, {0, 0, 0, 2}); }, "dilation must be >= 1"},
      {[&] { conv1d(x, w, b, {0, 0, 1, 0}); }, "groups must be >= 1"},
      {[&] { ConvOptions::causal(0); }, "kernel 0"},
  };
  for (const Bad& c : bad) {
    std::string msg = error_of(c.f);
    EXPECT_NE(msg.find(c.expect), std::string::npos) << "got: " << msg << "\nexpected to contain: " << c.expect;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace attnlab::ops
