// layer_norm, rms_norm and l2_normalize against double loops: forward, saved statistics, and gradients
// for x, weight and bias from the Jacobian written out, at odd sizes, float32 and float64.
#include "attnlab/ops/norm.h"

#include <gtest/gtest.h>

#include <cmath>

#include "attnlab/core/parallel.h"
#include "harness/assert_close.h"

namespace attnlab::ops {
namespace {

using ::attnlab::testing::error_of;

using testing::kOddSizes;

struct Ref {
  Tensor y, mean, rstd, dx, dw, db;
};

// The definition in double. n = (x - mean) * rstd (rms: x * rstd), y = n * w + b, and
// the gradient from dn_i/dx_k = rstd (delta_ik - 1/C - n_i n_k / C) (rms: without the
// 1/C term), summed over i with weight g_i w_i: O(C^2) per row, obviously right.
Ref ref_norm(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& g, double eps, bool rms) {
  int64_t C = x.shape().back(), rows = x.numel() / C;
  std::vector<double> xv = x.to_vector(), gv = g.to_vector();
  std::vector<double> wv = w.defined() ? w.to_vector() : std::vector<double>(size_t(C), 1.0);
  std::vector<double> bv = b.defined() ? b.to_vector() : std::vector<double>(size_t(C), 0.0);
  std::vector<double> y(xv.size()), dx(xv.size()), mean(static_cast<size_t>(rows)), rstd(static_cast<size_t>(rows));
  std::vector<double> dw(size_t(C), 0.0), db(size_t(C), 0.0), n(static_cast<size_t>(C));
  for (int64_t r = 0; r < rows; ++r) {
    const double* xr = xv.data() + r * C;
    const double* gr = gv.data() + r * C;
    double m = 0, v = 0;
    if (!rms) {
      for (int64_t j = 0; j < C; ++j) m += xr[j];
      m /= double(C);
    }
    for (int64_t j = 0; j < C; ++j) v += (xr[j] - m) * (xr[j] - m);
    double rs = 1.0 / std::sqrt(v / double(C) + eps);
    mean[size_t(r)] = m;
    rstd[size_t(r)] = rs;
    for (int64_t j = 0; j < C; ++j) {
      n[size_t(j)] = (xr[j] - m) * rs;
      y[size_t(r * C + j)] = n[size_t(j)] * wv[size_t(j)] + bv[size_t(j)];
      dw[size_t(j)] += gr[j] * n[size_t(j)];
      db[size_t(j)] += gr[j];
    }
    for (int64_t k = 0; k < C; ++k) {
      double acc = 0;
      for (int64_t i = 0; i < C; ++i) {
        double dn = (i == k ? 1.0 : 0.0) - (rms ? 0.0 : 1.0 / double(C)) - n[size_t(i)] * n[size_t(k)] / double(C);
        acc += gr[i] * wv[size_t(i)] * rs * dn;
      }
      dx[size_t(r * C + k)] = acc;
    }
  }
  return {Tensor::from_vector(y, x.shape()), Tensor::from_vector(mean, {rows}), Tensor::from_vector(rstd, {rows}),
          Tensor::from_vector(dx, x.shape()), Tensor::from_vector(dw, {C}), Tensor::from_vector(db, {C})};
}

double tol(DType t) { return t == DType::F64 ? 1e-12 : 1e-5; }

TEST(LayerNorm, ForwardAndBackwardMatchReference) {
  Rng rng(1);
  for (DType dt : {DType::F32, DType::F64})
    for (int64_t rows : {1, 5})
      for (int64_t C : kOddSizes)
        for (int params = 0; params < 3; ++params) {  // weight and bias, weight only, neither
          Tensor x = Tensor::randn({rows, C}, rng, dt, 2.0).set_requires_grad(true);
          Tensor w = params < 2 ? Tensor::uniform({C}, rng, 0.5, 1.5, dt).set_requires_grad(true) : Tensor();
          Tensor b = params < 1 ? Tensor::randn({C}, rng, dt).set_requires_grad(true) : Tensor();
          Tensor g = Tensor::randn({rows, C}, rng, dt);
          std::string name = cat("[", rows, ", ", C, "] params ", params, " ", dtype_name(dt));
          Ref ref = ref_norm(x.detach(), w, b, g, 1e-5, false);
          Tensor y = layer_norm(x, w, b, 1e-5);
          EXPECT_CLOSE("y " + name, ref.y, y, tol(dt));
          y.backward(g);
          if (C > 1) {
            EXPECT_CLOSE("dx " + name, ref.dx, x.grad(), tol(dt));
          } else {  // dx is exactly 0 (y = b whatever x); rounding noise is amplified by rstd
            for (double v : x.grad().to_vector()) EXPECT_LT(std::abs(v), 1e-3) << name;
          }
          if (w.defined()) {
            EXPECT_CLOSE("dweight " + name, ref.dw, w.grad(), tol(dt));
          }
          if (b.defined()) {
            EXPECT_CLOSE("dbias " + name, ref.db, b.grad(), tol(dt));
          }
        }
}

TEST(RmsNorm, ForwardAndBackwardMatchReference) {
  Rng rng(2);
  for (DType dt : {DType::F32, DType::F64})
    for (int64_t rows : {1, 5})
      for (int64_t C : kOddSizes)
        for (bool with_weight : {true, false}) {
          Tensor x = Tensor::randn({rows, C}, rng, dt, 2.0).set_requires_grad(true);
          Tensor w = with_weight ? Tensor::uniform({C}, rng, 0.5, 1.5, dt).set_requires_grad(true) : Tensor();
          Tensor g = Tensor::randn({rows, C}, rng, dt);
          std::string name = cat("[", rows, ", ", C, "] ", with_weight ? "weight " : "", dtype_name(dt));
          Ref ref = ref_norm(x.detach(), w, Tensor(), g, 1e-6, true);
          Tensor y = rms_norm(x, w, 1e-6);
          EXPECT_CLOSE("y " + name, ref.y, y, tol(dt));
          y.backward(g);
          if (C > 1) {
            EXPECT_CLOSE("dx " + name, ref.dx, x.grad(), tol(dt));
          }
          if (w.defined()) {
            EXPECT_CLOSE("dweight " + name, ref.dw, w.grad(), tol(dt));
          }
        }
}

TEST(LayerNorm, SavedStatisticsMatchReference) {
  Rng rng(3);
  for (DType dt : {DType::F32, DType::F64}) {
    Tensor x = Tensor::randn({2, 3, 127}, rng, dt, 3.0);
    Tensor g = Tensor::zeros({2, 3, 127}, dt);
    Ref ref = ref_norm(x, Tensor(), Tensor(), g, 1e-5, false);
    NormForward f = layer_norm_forward(x, Tensor(), Tensor(), 1e-5);
    EXPECT_CLOSE("mean", ref.mean, f.mean, tol(dt));
    EXPECT_CLOSE("rstd", ref.rstd, f.rstd, tol(dt));
    NormForward r = rms_norm_forward(x, Tensor(), 1e-5);
    EXPECT_FALSE(r.mean.defined());
    EXPECT_CLOSE("rms rstd", ref_norm(x, Tensor(), Tensor(), g, 1e-5, true).rstd, r.rstd, tol(dt));
  }
}

// float32 activations far from zero: neither the output nor the gradients may lose the
// mean to rounding (half an ulp of 1e4 is 5e-4 of a unit spread).
TEST(LayerNorm, Float32RowsFarFromZero) {
  Rng rng(4);
  for (double offset : {1e3, -1e4}) {
    std::vector<double> v = Tensor::randn({8, 127}, rng, DType::F64).to_vector();
    for (double& e : v) e = offset + e;
    Tensor x = Tensor::from_vector(v, {8, 127}).to(DType::F32).set_requires_grad(true);
    Tensor w = Tensor::uniform({127}, rng, 0.5, 1.5, DType::F32).set_requires_grad(true);
    Tensor g = Tensor::randn({8, 127}, rng, DType::F32);
    Ref ref = ref_norm(x.detach(), w, Tensor(), g, 1e-5, false);
    Tensor y = layer_norm(x, w, Tensor(), 1e-5);
    y.backward(g);
    std::string name = cat("offset ", offset);
    EXPECT_CLOSE(name + " y", ref.y, y, 1e-5);
    EXPECT_CLOSE(name + " dx", ref.dx, x.grad(), 1e-5);
    EXPECT_CLOSE(name + " dweight", ref.dw, w.grad(), 1e-5);
  }
}

// Many rows so the backward splits them across threads: the weight and bias gradients
// are bitwise the same on every run, and agree across thread counts to rounding.
TEST(LayerNorm, ParameterGradientsAreDeterministic) {
  Rng rng(5);
  Tensor x = Tensor::randn({1000, 63}, rng, DType::F32);
  Tensor w = Tensor::uniform({63}, rng, 0.5, 1.5, DType::F32);
  Tensor g = Tensor::randn({1000, 63}, rng, DType::F32);
  NormForward f = layer_norm_forward(x, w, Tensor(), 1e-5);
  NormGrads a = layer_norm_backward(g, x, w, f.mean, f.rstd, true, true);
  NormGrads b = layer_norm_backward(g, x, w, f.mean, f.rstd, true, true);
  EXPECT_EQ(a.dweight.to_vector(), b.dweight.to_vector());
  EXPECT_EQ(a.dbias.to_vector(), b.dbias.to_vector());
  int saved = num_threads();
  set_num_threads(1);
  NormGrads one = layer_norm_backward(g, x, w, f.mean, f.rstd, true, true);
  set_num_threads(saved);
  EXPECT_CLOSE("dweight 1 thread", a.dweight, one.dweight, 1e-6);
  EXPECT_CLOSE("dbias 1 thread", a.dbias, one.dbias, 1e-6);
  Ref ref = ref_norm(x, w, Tensor(), g, 1e-5, false);
  EXPECT_CLOSE("dweight", ref.dw, a.dweight, 1e-6);
  EXPECT_CLOSE("dbias", ref.db, a.dbias, 1e-6);
  EXPECT_FALSE(layer_norm_backward(g, x, w, f.mean, f.rstd, false, false).dweight.defined());
}

TEST(Norm, LeadingDimensionsAndStridedInput) {
  Rng rng(6);
  Tensor x = Tensor::randn({7, 3, 5}, rng, DType::F64);
  Tensor xt = x.transpose_raw(0, 2);  // [5, 3, 7], rows over the old first dimension
  Tensor w = Tensor::uniform({7}, rng, 0.5, 1.5, DType::F64);
  Tensor g = Tensor::zeros({5, 3, 7}, DType::F64);
  EXPECT_CLOSE("layer_norm strided", ref_norm(xt, w, Tensor(), g, 1e-5, false).y, layer_norm(xt, w, Tensor(), 1e-5),
               1e-12);
  EXPECT_CLOSE("rms_norm strided", ref_norm(xt, w, Tensor(), g, 1e-6, true).y, rms_norm(xt, w, 1e-6), 1e-12);
}

TEST(Norm, BadArguments) {
  Tensor x = Tensor::zeros({4, 5}, DType::F32);
  Tensor w5 = Tensor::zeros({5}, DType::F32);
  EXPECT_NE(error_of([&] { layer_norm(x, Tensor::zeros({6}, DType::F32), Tensor(), 1e-5); })
                .find("layer_norm: weight has shape [6], expected [5] (the last dimension of input [4, 5])"),
            std::string::npos);
  EXPECT_NE(error_of([&] { layer_norm(x, w5, Tensor::zeros({1, 5}, DType::F32), 1e-5); })
                .find("layer_norm: bias has shape [1, 5], expected [5]"),
            std::string::npos);
  EXPECT_NE(error_of([&] { rms_norm(x, Tensor::zeros({4}, DType::F32), 1e-6); })
                .find("rms_norm: weight has shape [4], expected [5]"),
            std::string::npos);
  EXPECT_NE(error_of([&] { rms_norm(x, Tensor::zeros({5}, DType::F64), 1e-6); })
                .find("rms_norm: weight is float64, the input is float32"),
            std::string::npos);
  EXPECT_NE(error_of([&] { layer_norm(Tensor::zeros({}, DType::F32), Tensor(), Tensor(), 1e-5); })
                .find("layer_norm: expected an input [..., C] with at least one dimension"),
            std::string::npos);
  EXPECT_NE(error_of([&] { layer_norm(Tensor::zeros({3, 0}, DType::F32), Tensor(), Tensor(), 1e-5); })
                .find("layer_norm: the last dimension of input [3, 0] is empty"),
            std::string::npos);
  EXPECT_NE(error_of([&] { rms_norm(x, w5, -1.0); }).find("rms_norm: eps = -1, expected a finite value >= 0"),
            std::string::npos);
  Tensor ids = Tensor::from_vector(std::vector<int32_t>{1, 2}, {1, 2});
  EXPECT_NE(error_of([&] { rms_norm(ids, Tensor(), 1e-6); }).find("rms_norm: expected a float32 or float64 tensor"),
            std::string::npos);
  NormForward f = layer_norm_forward(x, w5, Tensor(), 1e-5);
  EXPECT_NE(error_of([&] { layer_norm_backward(Tensor::zeros({4, 5}, DType::F32), x, w5, f.rstd.view_raw({2, 2}),
                                               f.rstd, true, false); })
                .find("layer_norm_backward: mean has shape [2, 2], expected [4] (one per row of [4, 5])"),
            std::string::npos);
  EXPECT_NE(error_of([&] { rms_norm_backward(Tensor::zeros({5, 4}, DType::F32), x, w5, f.rstd, true); })
                .find("rms_norm_backward: gradient [5, 4] float32 for an input [4, 5] float32"),
            std::string::npos);
}

// l2_normalize: rows against a double loop, in both float types and at odd widths, and the
// gradient against the Jacobian (I - y y^T) / ||x|| written out.
TEST(L2Normalize, MatchesDoubleLoopsForwardAndBackward) {
  for (DType dt : {DType::F32, DType::F64})
    for (int64_t C : kOddSizes) {
      Rng rng{uint64_t(C)};
      Tensor x = Tensor::randn({3, C}, rng, dt).set_requires_grad(true);
      Tensor g = Tensor::randn({3, C}, rng, dt);
      Tensor y = l2_normalize(x);
      y.backward(g);
      std::vector<double> xv = x.detach().to_vector(), gv = g.to_vector(), yw(xv.size()), dw(xv.size());
      for (int64_t r = 0; r < 3; ++r) {
        double ss = 0, gy = 0;
        for (int64_t j = 0; j < C; ++j) ss += xv[size_t(r * C + j)] * xv[size_t(r * C + j)];
        double n = std::sqrt(ss + 1e-12);
        for (int64_t j = 0; j < C; ++j) yw[size_t(r * C + j)] = xv[size_t(r * C + j)] / n;
        for (int64_t j = 0; j < C; ++j) gy += gv[size_t(r * C + j)] * yw[size_t(r * C + j)];
        for (int64_t j = 0; j < C; ++j)
          dw[size_t(r * C + j)] = (gv[size_t(r * C + j)] - yw[size_t(r * C + j)] * gy) / n;
      }
      double tol = dt == DType::F64 ? 1e-12 : 1e-5;
      EXPECT_CLOSE("y", Tensor::from_vector(yw, {3, C}), y.detach().to(DType::F64), tol);
      if (C > 1) {  // C = 1: dx is 0 up to rounding, no relative error to speak of
        EXPECT_CLOSE("dx", Tensor::from_vector(dw, {3, C}), x.grad().to(DType::F64), tol);
      }
    }
  EXPECT_NE(error_of([&] { l2_normalize(Tensor::zeros({2, 3}, DType::F32), -1.0); })
                .find("l2_normalize: eps = -1"),
            std::string::npos);
  // A zero row stays zero (eps keeps the root finite) instead of becoming NaN.
  Tensor z = l2_normalize(Tensor::zeros({1, 4}, DType::F32));
  for (double v : z.to_vector()) EXPECT_EQ(v, 0.0);
}

}  // namespace
}  // namespace attnlab::ops
