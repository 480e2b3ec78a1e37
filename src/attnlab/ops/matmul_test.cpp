// matmul and bmm against a plain triple loop in double, at odd sizes, on float32 and
// float64, with transposed and strided operands, broadcast batch dims, gradients, and
// the errors for bad shapes and dtypes.
#include <gtest/gtest.h>

#include <string>

#include "attnlab/autograd/node.h"
#include "attnlab/core/parallel.h"
#include "attnlab/core/storage.h"
#include "attnlab/ops/matmul.h"
#include "attnlab/ops/shape.h"
#include "harness/assert_close.h"

namespace attnlab::ops {
namespace {

using attnlab::testing::kOddSizes;

// ---- the reference ----

// out[batch..., i, j] = sum_p a[batch_a..., i, p] * b[batch_b..., p, j] in double, batch
// dims broadcast by index (a dim of 1 always reads index 0). Operands of any layout are
// read in logical order through to_vector().
Tensor ref_bmm(const Tensor& a, const Tensor& b) {
  std::vector<double> av = a.to_vector(), bv = b.to_vector();
  const Shape& as = a.shape();
  const Shape& bs = b.shape();
  int64_t m = as[as.size() - 2], k = as.back(), n = bs.back();
  Shape ab(as.begin(), as.end() - 2), bb(bs.begin(), bs.end() - 2);
  size_t nd = std::max(ab.size(), bb.size());
  ab.insert(ab.begin(), nd - ab.size(), 1);
  bb.insert(bb.begin(), nd - bb.size(), 1);
  Shape batch(nd);
  for (size_t d = 0; d < nd; ++d) batch[d] = std::max(ab[d], bb[d]);
  Shape out_shape = batch;
  out_shape.push_back(m);
  out_shape.push_back(n);
  std::vector<double> out(size_t(shape_numel(out_shape)), 0.0);
  for (int64_t bi = 0; bi < shape_numel(batch); ++bi) {
    int64_t rem = bi, ia = 0, ib = 0, sa = 1, sb = 1;
    for (size_t d = nd; d-- > 0;) {
      int64_t idx = rem % batch[d];
      rem /= batch[d];
      ia += (ab[d] == 1 ? 0 : idx) * sa;
      ib += (bb[d] == 1 ? 0 : idx) * sb;
      sa *= ab[d];
      sb *= bb[d];
    }
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = 0;
        for (int64_t p = 0; p < k; ++p)
          s += av[size_t((ia * m + i) * k + p)] * bv[size_t((ib * k + p) * n + j)];
        out[size_t((bi * m + i) * n + j)] = s;
      }
  }
  return Tensor::from_vector(out, out_shape);
}

// matmul's definition in terms of bmm's: a [..., K] @ b [K, N], a vector being one row.
Tensor ref_matmul(const Tensor& a, const Tensor& b) {
  Tensor a2 = a.dim() == 1 ? a.contiguous().view_raw({1, a.size(0)}) : a;
  Tensor out = ref_bmm(a2, b);
  Shape shape(a.shape().begin(), a.shape().end() - 1);
  shape.push_back(b.size(1));
  return out.view_raw(shape);
}

double tol(DType t) { return t == DType::F32 ? 2e-6 : 1e-12; }

// Storages created while running f (outputs, copies): 1 means f packed nothing.
template <class F>
size_t allocations_during(F&& f) {
  AllocatorStats before = allocator_stats();
  f();
  AllocatorStats after = allocator_stats();
  return (after.fresh_allocations + after.reused_allocations) -
         (before.fresh_allocations + before.reused_allocations);
}

template <class F>
void expect_error(F&& f, const std::string& part) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one containing '" << part << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

const DType kFloatTypes[] = {DType::F32, DType::F64};

// ---- matmul ----

TEST(Matmul, MatchesReferenceAtOddSizes) {
  Rng rng(1);
  const int64_t sizes[] = {1, 3, 63, 127};
  for (DType dt : kFloatTypes)
    for (int64_t m : sizes)
      for (int64_t k : sizes)
        for (int64_t n : sizes) {
          Tensor a = Tensor::randn({m, k}, rng, dt), b = Tensor::randn({k, n}, rng, dt);
          std::string name = cat("matmul ", dtype_name(dt), " ", m, "x", k, "x", n);
          EXPECT_CLOSE(name, ref_matmul(a, b), matmul(a, b), tol(dt));
        }
}

TEST(Matmul, LargeSizeAndLeadingDims) {
  Rng rng(2);
  for (DType dt : kFloatTypes) {
    Tensor a = Tensor::randn({2, 500, 1000}, rng, dt), b = Tensor::randn({1000, 63}, rng, dt);
    EXPECT_CLOSE(cat("matmul [2, 500, 1000] @ [1000, 63] ", dtype_name(dt)), ref_matmul(a, b),
                 matmul(a, b), tol(dt));
    Tensor x = Tensor::randn({3, 1, 127}, rng, dt), w = Tensor::randn({127, 1000}, rng, dt);
    EXPECT_CLOSE(cat("matmul [3, 1, 127] @ [127, 1000] ", dtype_name(dt)), ref_matmul(x, w),
                 matmul(x, w), tol(dt));
  }
}

TEST(Matmul, VectorTimesMatrix) {
  Rng rng(3);
  Tensor a = Tensor::randn({63}, rng), b = Tensor::randn({63, 3}, rng);
  Tensor out = matmul(a, b);
  EXPECT_EQ(out.shape(), (Shape{3}));
  EXPECT_CLOSE("vector @ matrix", ref_matmul(a, b), out, tol(DType::F32));
}

TEST(Matmul, TransposedViewsAreReadInPlace) {
  Rng rng(4);
  for (DType dt : kFloatTypes) {
    Tensor x = Tensor::randn({127, 63}, rng, dt), w = Tensor::randn({3, 127}, rng, dt);
    Tensor a = transpose(x, 0, 1), b = transpose(w, 0, 1);  // [63, 127] and [127, 3]
    Tensor out;
    EXPECT_EQ(allocations_during([&] { out = matmul(a, b); }), 1u) << "an operand was copied";
    EXPECT_CLOSE(cat("x^T @ w^T ", dtype_name(dt)), ref_matmul(a, b), out, tol(dt));
  }
}

TEST(Matmul, RowStridedSliceIsReadInPlace) {
  // The q part of a fused qkv projection: columns [C, 2C) of [N, 3C].
  Rng rng(5);
  Tensor qkv = Tensor::randn({63, 3 * 7}, rng), w = Tensor::randn({7, 5}, rng);
  Tensor q = slice(qkv, 1, 7, 14);
  Tensor out;
  EXPECT_EQ(allocations_during([&] { out = matmul(q, w); }), 1u) << "the slice was copied";
  EXPECT_CLOSE("slice @ w", ref_matmul(q, w), out, tol(DType::F32));
}

TEST(Matmul, BatchOfTransposedViewsNeedsNoCopy) {
  Rng rng(6);
  Tensor x = Tensor::randn({3, 127, 63}, rng), w = Tensor::randn({127, 5}, rng);
  Tensor a = transpose(x, 1, 2);  // [3, 63, 127], leading dims cannot fold into M in place
  Tensor out;
  EXPECT_EQ(allocations_during([&] { out = matmul(a, w); }), 1u);
  EXPECT_CLOSE("batch of transposed views @ w", ref_matmul(a, w), out, tol(DType::F32));
}

TEST(Matmul, OtherStridedOperandsArePacked) {
  Rng rng(7);
  Tensor x = Tensor::randn({5, 63, 3}, rng), w = Tensor::randn({5, 4}, rng);
  Tensor a = transpose(x, 0, 2);  // [3, 63, 5]: no unit stride in its matrices
  EXPECT_CLOSE("strided @ w", ref_matmul(a, w), matmul(a, w), tol(DType::F32));
}

TEST(Matmul, EmptyInnerDimensionGivesZeros) {
  Tensor a = Tensor::empty({3, 0}), b = Tensor::empty({0, 5});
  Tensor out = matmul(a, b);  // fresh buffers are NaN-poisoned: the zeros must be written
  EXPECT_EQ(out.shape(), (Shape{3, 5}));
  for (double v : out.to_vector()) EXPECT_EQ(v, 0.0);
  EXPECT_EQ(matmul(Tensor::empty({0, 4}), Tensor::empty({4, 2})).shape(), (Shape{0, 2}));
}

TEST(Matmul, BadShapesAndTypesAreClearErrors) {
  Tensor a = Tensor::zeros({2, 3, 4}), w = Tensor::zeros({5, 6});
  expect_error([&] { matmul(a, w); }, "matmul: inner dimensions differ: a [2, 3, 4] ends in K = 4, b [5, 6] starts with K = 5");
  expect_error([&] { matmul(a, Tensor::zeros({2, 4, 6})); }, "matmul: b must be a 2-D weight [K, N], got shape [2, 4, 6]");
  expect_error([&] { matmul(Tensor::zeros({}), w); }, "matmul: a must be [..., K]");
  expect_error([&] { matmul(a, Tensor::zeros({4, 6}, DType::F64)); }, "matmul: dtypes differ (a is float32, b is float64)");
  expect_error([&] { matmul(Tensor::zeros({2, 4}, DType::I32), Tensor::zeros({4, 6}, DType::I32)); },
               "matmul: expected a float32 or float64 tensor, got int32");
}

// ---- bmm ----

TEST(Bmm, MatchesReferenceAtOddSizes) {
  Rng rng(8);
  const int64_t ns[] = {127, 63, 3, 1, 3};  // paired with kOddSizes: 1, 3, 63, 127, 1000
  for (DType dt : kFloatTypes)
    for (size_t im = 0; im < std::size(kOddSizes); ++im)
      for (int64_t k : {int64_t(1), int64_t(63), int64_t(127)}) {
        int64_t m = kOddSizes[im], n = ns[im];
        Tensor a = Tensor::randn({3, m, k}, rng, dt), b = Tensor::randn({3, k, n}, rng, dt);
        EXPECT_CLOSE(cat("bmm ", dtype_name(dt), " 3 x ", m, "x", k, "x", n), ref_bmm(a, b),
                     bmm(a, b), tol(dt));
      }
}

TEST(Bmm, BroadcastsBatchDims) {
  Rng rng(9);
  for (DType dt : kFloatTypes) {
    Tensor a = Tensor::randn({2, 1, 63, 3}, rng, dt), b = Tensor::randn({5, 3, 127}, rng, dt);
    Tensor out = bmm(a, b);
    EXPECT_EQ(out.shape(), (Shape{2, 5, 63, 127}));
    EXPECT_CLOSE(cat("bmm broadcast ", dtype_name(dt)), ref_bmm(a, b), out, tol(dt));
    Tensor shared = Tensor::randn({63, 3}, rng, dt);  // no batch dims at all
    EXPECT_CLOSE(cat("bmm 2-D @ batch ", dtype_name(dt)), ref_bmm(shared, b), bmm(shared, b), tol(dt));
  }
}

TEST(Bmm, AttentionScoresWithTransposedKeysNeedNoCopy) {
  Rng rng(10);
  Tensor q = Tensor::randn({2, 3, 127, 63}, rng), k = Tensor::randn({2, 3, 1000, 63}, rng);
  Tensor kt = transpose(k, -1, -2);
  Tensor scores;
  EXPECT_EQ(allocations_during([&] { scores = bmm(q, kt); }), 1u) << "k^T was copied";
  EXPECT_CLOSE("q @ k^T", ref_bmm(q, kt), scores, tol(DType::F32));
}

TEST(Bmm, SameResultsWithOneThreadAndTwo) {
  // Each output matrix is one gemm, whichever thread runs it.
  Rng rng(11);
  Tensor a = Tensor::randn({4, 63, 127}, rng), b = Tensor::randn({4, 127, 63}, rng);
  int saved = num_threads();
  set_num_threads(1);
  std::vector<double> one = bmm(a, b).to_vector();
  set_num_threads(2);
  std::vector<double> two = bmm(a, b).to_vector();
  set_num_threads(saved);
  EXPECT_EQ(one, two);
}

TEST(Bmm, BadShapesAreClearErrors) {
  expect_error([] { bmm(Tensor::zeros({2, 3, 4}), Tensor::zeros({2, 5, 6})); },
               "bmm: inner dimensions differ: a [2, 3, 4] ends in K = 4, b [2, 5, 6] has K = 5");
  expect_error([] { bmm(Tensor::zeros({2, 3, 4}), Tensor::zeros({3, 4, 6})); },
               "bmm: batch dimensions [2] of a [2, 3, 4] and [3] of b [3, 4, 6] do not broadcast");
  expect_error([] { bmm(Tensor::zeros({4}), Tensor::zeros({4, 6})); },
               "bmm: a must be [..., M, K] with at least 2 dimensions, got shape [4]");
  expect_error([] { bmm(Tensor::zeros({3, 4}), Tensor::zeros({4})); },
               "bmm: b must be [..., K, N] with at least 2 dimensions, got shape [4]");
}

// ---- gradients in float32, against the reference products ----

TEST(MatmulBackward, MatchesReferenceWithBroadcastAndViews) {
  Rng rng(12);
  // a is a transposed view broadcast over dim 1; b is a plain batch.
  Tensor xa = Tensor::randn({2, 1, 127, 63}, rng).set_requires_grad(true);
  Tensor b = Tensor::randn({3, 127, 5}, rng).set_requires_grad(true);
  Tensor a = transpose(xa, -1, -2);  // [2, 1, 63, 127]
  Tensor out = bmm(a, b);            // [2, 3, 63, 5]
  Tensor g = Tensor::randn(out.shape(), rng);
  out.backward(g);
  // dA = sum over the broadcast dim of g @ b^T, then transposed back to xa's layout.
  Tensor ga_full = ref_bmm(g, transpose(b, -1, -2).detach());  // [2, 3, 63, 127]
  std::vector<double> full = ga_full.to_vector(), want_xa(size_t(xa.numel()), 0.0);
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t h = 0; h < 3; ++h)
      for (int64_t r = 0; r < 63; ++r)
        for (int64_t c = 0; c < 127; ++c)
          want_xa[size_t((i * 127 + c) * 63 + r)] += full[size_t(((i * 3 + h) * 63 + r) * 127 + c)];
  EXPECT_CLOSE("d xa", Tensor::from_vector(want_xa, xa.shape()), xa.grad(), 1e-5);
  // dB = sum over dim 0 of a^T @ g.
  Tensor gb_full = ref_bmm(transpose(a, -1, -2).detach(), g);  // [2, 3, 127, 5]
  std::vector<double> fb = gb_full.to_vector(), want_b(size_t(b.numel()), 0.0);
  for (size_t i = 0; i < fb.size(); ++i) want_b[i % want_b.size()] += fb[i];
  EXPECT_CLOSE("d b", Tensor::from_vector(want_b, b.shape()), b.grad(), 1e-5);
}

TEST(MatmulBackward, LinearLayerGradients) {
  Rng rng(13);
  Tensor x = Tensor::randn({2, 63, 127}, rng).set_requires_grad(true);
  Tensor w = Tensor::randn({127, 3}, rng).set_requires_grad(true);
  Tensor out = matmul(x, w);
  Tensor g = Tensor::randn(out.shape(), rng);
  out.backward(g);
  EXPECT_CLOSE("d x", ref_matmul(g, transpose(w, 0, 1).detach()), x.grad(), 1e-5);
  Tensor x2 = x.detach().view_raw({2 * 63, 127}), g2 = g.view_raw({2 * 63, 3});
  EXPECT_CLOSE("d w", ref_bmm(transpose(x2, 0, 1), g2), w.grad(), 1e-5);
}

TEST(MatmulBackward, OnlyRequestedGradientsAndNoRecordingUnderNoGrad) {
  Rng rng(14);
  Tensor x = Tensor::randn({5, 7}, rng);
  Tensor w = Tensor::randn({7, 3}, rng).set_requires_grad(true);
  Tensor out = matmul(x, w);
  out.backward(Tensor::full(out.shape(), 1.0));
  EXPECT_FALSE(x.grad().defined());
  EXPECT_TRUE(w.grad().defined());
  autograd::NoGradGuard no_grad;
  EXPECT_FALSE(matmul(x, w).requires_grad());
}

}  // namespace
}  // namespace attnlab::ops
