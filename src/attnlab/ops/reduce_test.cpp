// sum, mean and cumsum against plain double loops, at odd sizes, in float32 and float64.
#include "attnlab/ops/reduce.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "attnlab/core/parallel.h"
#include "harness/assert_close.h"

namespace attnlab::ops {
namespace {

using ::attnlab::testing::error_of;

using testing::kOddSizes;

// The reference: every input element added, in double, into the output element its index
// maps to once the reduced dimensions are dropped (or set to 0 with keepdim).
Tensor ref_reduce(const Tensor& x, std::vector<int64_t> dims, bool keepdim, bool is_mean) {
  int64_t nd = x.dim();
  std::vector<bool> red(size_t(nd), dims.empty());
  for (int64_t d : dims) red[size_t(d < 0 ? d + nd : d)] = true;
  Shape out_shape, keep_shape;
  int64_t count = 1;
  for (int64_t d = 0; d < nd; ++d) {
    int64_t n = x.shape()[size_t(d)];
    keep_shape.push_back(red[size_t(d)] ? 1 : n);
    if (red[size_t(d)]) count *= n;
    if (!red[size_t(d)] || keepdim) out_shape.push_back(red[size_t(d)] ? 1 : n);
  }
  std::vector<double> xv = x.to_vector(), acc(size_t(shape_numel(keep_shape)), 0.0);
  Shape idx(size_t(nd), 0);
  for (double v : xv) {
    int64_t o = 0;
    for (int64_t d = 0; d < nd; ++d) o = o * keep_shape[size_t(d)] + (red[size_t(d)] ? 0 : idx[size_t(d)]);
    acc[size_t(o)] += v;
    for (int64_t d = nd - 1; d >= 0; --d) {
      if (++idx[size_t(d)] < x.shape()[size_t(d)]) break;
      idx[size_t(d)] = 0;
    }
  }
  if (is_mean)
    for (double& a : acc) a /= double(count);
  return Tensor::from_vector(acc, out_shape);
}

Tensor ref_cumsum(const Tensor& x, int64_t d, bool reverse) {
  int64_t outer = 1, inner = 1, n = x.shape()[size_t(d)];
  for (int64_t k = 0; k < d; ++k) outer *= x.shape()[size_t(k)];
  for (int64_t k = d + 1; k < x.dim(); ++k) inner *= x.shape()[size_t(k)];
  std::vector<double> v = x.to_vector(), out(v.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < inner; ++j) {
      double acc = 0;
      for (int64_t k = 0; k < n; ++k) {
        int64_t i = reverse ? n - 1 - k : k;
        size_t at = size_t((o * n + i) * inner + j);
        acc += v[at];
        out[at] = acc;
      }
    }
  return Tensor::from_vector(out, x.shape());
}

double tol(DType t) { return t == DType::F64 ? 1e-13 : 2e-7; }

// Every subset of dimensions (the empty one meaning "all"), with and without keepdim.
TEST(Sum, MatchesReferenceForEveryDimensionSubset) {
  Rng rng(1);
  for (DType dt : {DType::F32, DType::F64})
    for (const Shape& shape : {Shape{7}, Shape{3, 5}, Shape{2, 3, 4}, Shape{3, 1, 5, 2}}) {
      Tensor x = Tensor::randn(shape, rng, dt);
      int64_t nd = int64_t(shape.size());
      for (int64_t mask = 0; mask < (int64_t(1) << nd); ++mask) {
        std::vector<int64_t> dims;
        for (int64_t d = 0; d < nd; ++d)
          if (mask >> d & 1) dims.push_back(mask % 2 ? d - nd : d);  // some negative
        for (bool keepdim : {false, true}) {
          std::string name = shape_str(shape) + " dims " + shape_str(dims) + (keepdim ? " keepdim " : " ") +
                             dtype_name(dt);
          EXPECT_CLOSE("sum " + name, ref_reduce(x, dims, keepdim, false), sum(x, dims, keepdim), tol(dt));
          EXPECT_CLOSE("mean " + name, ref_reduce(x, dims, keepdim, true), mean(x, dims, keepdim), tol(dt));
        }
      }
    }
}

TEST(Sum, OddSizedRowsAndColumns) {
  Rng rng(2);
  for (DType dt : {DType::F32, DType::F64})
    for (int64_t rows : {1, 3, 127})
      for (int64_t C : kOddSizes) {
        Tensor x = Tensor::randn({rows, C}, rng, dt);
        std::string name = cat("[", rows, ", ", C, "] ", dtype_name(dt));
        EXPECT_CLOSE("sum -1 " + name, ref_reduce(x, {-1}, false, false), sum(x, {-1}), tol(dt));
        EXPECT_CLOSE("sum 0 " + name, ref_reduce(x, {0}, false, false), sum(x, {0}), tol(dt));
        EXPECT_CLOSE("mean 0 " + name, ref_reduce(x, {0}, true, true), mean(x, {0}, true), tol(dt));
        EXPECT_CLOSE("sum all " + name, ref_reduce(x, {}, false, false), sum(x), tol(dt));
      }
}

TEST(Sum, EmptyListReducesAllToZeroDimensional) {
  Tensor x = Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor s = sum(x);
  EXPECT_EQ(s.shape(), Shape{});
  EXPECT_EQ(s.item(), 21.0);
  EXPECT_EQ(sum(x, {}, true).shape(), (Shape{1, 1}));
  EXPECT_EQ(mean(x).item(), 3.5);
  EXPECT_EQ(sum(x, {0, 1}).shape(), Shape{});
}

// Naive float32 accumulation of a million values in [0, 1) is off by ~1e-4 relative; the
// result must be the float32 rounding of the exact sum.
TEST(Sum, Float32MillionElementsAccurate) {
  Rng rng(3);
  Tensor x = Tensor::uniform({1000000}, rng, 0.0, 1.0, DType::F32);
  double exact = ref_reduce(x, {}, false, false).item();
  EXPECT_EQ(sum(x).item(), double(float(exact)));
  EXPECT_NEAR(mean(x).item() / (exact / 1e6), 1.0, 1e-7);
  Tensor sq = x.view_raw({1000, 1000});
  EXPECT_CLOSE("[1000, 1000] dim 0", ref_reduce(sq, {0}, false, false), sum(sq, {0}), 1e-7);
  EXPECT_CLOSE("[1000, 1000] dim 1", ref_reduce(sq, {1}, false, false), sum(sq, {1}), 1e-7);
  Tensor col = x.view_raw({1000000, 1});
  EXPECT_EQ(sum(col, {0}).item(), double(float(exact)));
}

TEST(Sum, FullReductionIsTheSameForAnyThreadCount) {
  Rng rng(4);
  Tensor x = Tensor::randn({300001}, rng, DType::F32);
  int saved = num_threads();
  set_num_threads(1);
  double one = sum(x).item();
  set_num_threads(2);
  double two = sum(x).item();
  set_num_threads(saved);
  EXPECT_EQ(one, two);
}

TEST(Sum, StridedInput) {
  Rng rng(5);
  Tensor x = Tensor::randn({5, 63}, rng, DType::F64);
  Tensor xt = x.transpose_raw(0, 1);  // [63, 5], not contiguous
  EXPECT_CLOSE("transposed dim 0", ref_reduce(xt, {0}, false, false), sum(xt, {0}), 1e-13);
}

TEST(Sum, EmptyTensors) {
  Tensor x = Tensor::empty({0, 4}, DType::F32);
  Tensor s = sum(x, {0});
  EXPECT_EQ(s.shape(), Shape{4});
  for (double v : s.to_vector()) EXPECT_EQ(v, 0.0);
  EXPECT_EQ(sum(x, {1}).shape(), Shape{0});
  EXPECT_NE(error_of([&] { mean(x, {0}); }).find("mean: the reduced dimensions of [0, 4] hold no elements"),
            std::string::npos);
}

TEST(Sum, BadArguments) {
  Tensor x = Tensor::zeros({2, 3}, DType::F32);
  EXPECT_NE(error_of([&] { sum(x, {2}); }).find("sum: dimension 2 is out of range for a 2-dimensional tensor"),
            std::string::npos);
  EXPECT_NE(error_of([&] { mean(x, {1, -1}); }).find("mean: dimension -1 is listed twice"), std::string::npos);
  Tensor ids = Tensor::from_vector(std::vector<int32_t>{1, 2}, {2});
  EXPECT_NE(error_of([&] { sum(ids); }).find("sum: expected a float32 or float64 tensor, got int32"),
            std::string::npos);
  EXPECT_NE(error_of([&] { cumsum(x, -3); }).find("cumsum: dimension -3 is out of range"), std::string::npos);
}

// The backward broadcasts the gradient back (scaled by 1/count for mean), in float32 too.
TEST(Sum, BackwardBroadcastsTheGradient) {
  Rng rng(6);
  for (DType dt : {DType::F32, DType::F64}) {
    Tensor x = Tensor::randn({3, 4, 5}, rng, dt).set_requires_grad(true);
    Tensor g = Tensor::randn({3, 5}, rng, dt);
    sum(x, {1}).backward(g);
    std::vector<double> gv = g.to_vector(), want(60);
    for (int64_t a = 0; a < 3; ++a)
      for (int64_t b = 0; b < 4; ++b)
        for (int64_t c = 0; c < 5; ++c) want[size_t((a * 4 + b) * 5 + c)] = gv[size_t(a * 5 + c)];
    EXPECT_CLOSE("sum grad", Tensor::from_vector(want, {3, 4, 5}), x.grad(), 0);

    Tensor y = Tensor::randn({3, 4, 5}, rng, dt).set_requires_grad(true);
    mean(y, {0, 2}, true).backward(Tensor::full({1, 4, 1}, 2.0, dt));
    for (double v : y.grad().to_vector()) EXPECT_NEAR(v, 2.0 / 15.0, 1e-7);
  }
}

TEST(Cumsum, MatchesReferenceAlongEachDimension) {
  Rng rng(7);
  for (DType dt : {DType::F32, DType::F64})
    for (int64_t n : kOddSizes) {
      Tensor x = Tensor::randn({3, n, 5}, rng, dt);
      for (int64_t d : {0, 1, 2})
        for (bool rev : {false, true}) {
          std::string name = "[3, " + std::to_string(n) + ", 5] dim " + std::to_string(d) +
                             (rev ? " reverse " : " ") + dtype_name(dt);
          EXPECT_CLOSE(name, ref_cumsum(x, d, rev), cumsum(x, d, rev), tol(dt));
        }
      Tensor rows = Tensor::randn({2, n}, rng, dt);
      EXPECT_CLOSE("rows", ref_cumsum(rows, 1, false), cumsum(rows, -1), tol(dt));
    }
}

TEST(Cumsum, Float32MillionElementsAccurate) {
  Rng rng(8);
  Tensor x = Tensor::uniform({1000000}, rng, -1.0, 2.0, DType::F32);
  // Each output is the float32 rounding of an exact prefix: relative error ~6e-8.
  EXPECT_CLOSE("cumsum 1e6", ref_cumsum(x, 0, false), cumsum(x, 0), 1e-7);
  EXPECT_CLOSE("cumsum 1e6 reverse", ref_cumsum(x, 0, true), cumsum(x, 0, true), 1e-7);
}

TEST(Cumsum, BackwardIsTheReversePrefixSum) {
  Rng rng(9);
  for (DType dt : {DType::F32, DType::F64})
    for (bool rev : {false, true}) {
      Tensor x = Tensor::randn({4, 63}, rng, dt).set_requires_grad(true);
      Tensor g = Tensor::randn({4, 63}, rng, dt);
      cumsum(x, 1, rev).backward(g);
      EXPECT_CLOSE(std::string("grad ") + dtype_name(dt), ref_cumsum(g, 1, !rev), x.grad(), tol(dt));
    }
}

}  // namespace
}  // namespace attnlab::ops
