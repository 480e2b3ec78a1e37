#include "attnlab/ops/embedding.h"

#include <gtest/gtest.h>

#include <functional>

#include "attnlab/core/parallel.h"
#include "harness/assert_close.h"

namespace attnlab::ops {
namespace {

using ::attnlab::testing::error_of;

using testing::kOddSizes;

Tensor random_ids(Rng& rng, const Shape& shape, int64_t V) {
  std::vector<int32_t> v(size_t(shape_numel(shape)));
  for (auto& id : v) id = int32_t(rng.next_below(uint64_t(V)));
  return Tensor::from_vector(v, shape);
}

// The definition: out[n, :] = table[ids[n], :], in double.
Tensor embedding_ref(const Tensor& ids, const Tensor& table) {
  int64_t C = table.size(1);
  std::vector<double> w = table.to_vector(), id = ids.to_vector(), out;
  for (double i : id)
    for (int64_t c = 0; c < C; ++c) out.push_back(w[size_t(int64_t(i) * C + c)]);
  Shape s = ids.shape();
  s.push_back(C);
  return Tensor::from_vector(out, s);
}

// dtable[v, :] = sum over n with ids[n] = v of g[n, :], in double.
Tensor embedding_bwd_ref(const Tensor& ids, const Tensor& g, int64_t V) {
  int64_t C = g.size(-1);
  std::vector<double> gv = g.to_vector(), id = ids.to_vector(), d(size_t(V * C), 0.0);
  for (size_t n = 0; n < id.size(); ++n)
    for (int64_t c = 0; c < C; ++c) d[size_t(int64_t(id[n]) * C + c)] += gv[n * size_t(C) + size_t(c)];
  return Tensor::from_vector(d, {V, C});
}

class EmbeddingTest : public ::testing::TestWithParam<DType> {};

TEST_P(EmbeddingTest, ForwardAndBackwardMatchTheReferenceAtOddSizes) {
  DType dt = GetParam();
  Rng rng(7);
  for (int64_t V : kOddSizes) {
    for (int64_t C : {int64_t(1), int64_t(3), int64_t(127)}) {
      for (Shape ids_shape : {Shape{1}, Shape{3, 63}, Shape{1000}}) {
        std::string what = cat("V=", V, " C=", C, " ids ", shape_str(ids_shape), " ", dtype_name(dt));
        Tensor ids = random_ids(rng, ids_shape, V);
        Tensor table = Tensor::randn({V, C}, rng, dt).set_requires_grad(true);
        Tensor out = embedding(ids, table);
        // A gather copies values: it must be exact.
        ASSERT_CLOSE("forward " + what, embedding_ref(ids, table), out, 0.0);
        Tensor g = Tensor::randn(out.shape(), rng, dt);
        out.backward(g);
        EXPECT_CLOSE("dtable " + what, embedding_bwd_ref(ids, g, V), table.grad(),
                     default_tolerance(dt));
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, EmbeddingTest, ::testing::Values(DType::F32, DType::F64),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

TEST(Embedding, RepeatedIdsAccumulateAndUnusedRowsGetZero) {
  Rng rng(1);
  Tensor table = Tensor::randn({4, 2}, rng, DType::F64).set_requires_grad(true);
  Tensor ids = Tensor::from_vector(std::vector<int32_t>{1, 1, 3, 1}, {4});
  Tensor out = embedding(ids, table);
  out.backward(Tensor::from_vector(std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8}, {4, 2}));
  EXPECT_EQ(table.grad().to_vector(), (std::vector<double>{0, 0, 1 + 3 + 7, 2 + 4 + 8, 0, 0, 5, 6}));
}

TEST(Embedding, ScalarIdGivesOneRow) {
  Tensor table = Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {3, 2});
  Tensor out = embedding(Tensor::from_vector(std::vector<int32_t>{2}, {}), table);
  EXPECT_EQ(out.shape(), Shape{2});
  EXPECT_EQ(out.to_vector(), (std::vector<double>{5, 6}));
}

TEST(Embedding, NonContiguousTableIsGathered) {
  Rng rng(3);
  Tensor base = Tensor::randn({5, 7}, rng, DType::F64);
  Tensor table = base.transpose_raw(0, 1);  // [7, 5], strided
  Tensor ids = random_ids(rng, {9}, 7);
  EXPECT_CLOSE("strided table", embedding_ref(ids, table), embedding(ids, table), 0.0);
}

TEST(Embedding, BackwardIsTheSameForOneAndTwoThreads) {
  Rng rng(11);
  Tensor ids = random_ids(rng, {4000}, 37);  // many repeats per row
  Tensor w = Tensor::randn({37, 65}, rng, DType::F32);
  Tensor g = Tensor::randn({4000, 65}, rng, DType::F32);
  std::vector<std::vector<double>> grads;
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    Tensor table = w.clone().set_requires_grad(true);
    embedding(ids, table).backward(g);
    grads.push_back(table.grad().to_vector());
  }
  set_num_threads(0);
  EXPECT_EQ(grads[0], grads[1]);
}

TEST(Embedding, NoGraphWhenTheTableNeedsNoGradient) {
  Tensor table = Tensor::zeros({3, 2});
  Tensor out = embedding(Tensor::from_vector(std::vector<int32_t>{0, 2}, {2}), table);
  EXPECT_FALSE(out.requires_grad());
}

TEST(Embedding, BadIdsNameTheIdItsPositionAndV) {
  Tensor table = Tensor::zeros({10, 4});
  std::string e = error_of([&] {
    embedding(Tensor::from_vector(std::vector<int32_t>{0, 1, 2, 3, 4, 10}, {2, 3}), table);
  });
  EXPECT_EQ(e, "embedding: id 10 at position [1, 2] of ids [2, 3] is outside [0, 10) for a table of 10 rows");
  e = error_of([&] { embedding(Tensor::from_vector(std::vector<int32_t>{3, -1}, {2}), table); });
  EXPECT_EQ(e, "embedding: id -1 at position [1] of ids [2] is outside [0, 10) for a table of 10 rows");
}

TEST(Embedding, BadDtypesAndShapesAreNamed) {
  Tensor table = Tensor::zeros({10, 4});
  EXPECT_EQ(error_of([&] { embedding(Tensor::zeros({3}), table); }),
            "embedding: ids must be int32, got float32");
  EXPECT_EQ(error_of([&] { embedding(Tensor::from_vector(std::vector<int32_t>{0}, {1}), Tensor::zeros({10})); }),
            "embedding: table must be [V, C], got shape [10]");
  EXPECT_EQ(error_of([&] {
              embedding(Tensor::from_vector(std::vector<int32_t>{0}, {1}), Tensor::zeros({2, 2}, DType::I32));
            }),
            "embedding: expected a float32 or float64 tensor, got int32");
}

}  // namespace
}  // namespace attnlab::ops
