#include "attnlab/ops/mask.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "harness/assert_close.h"

namespace attnlab::ops {
namespace {

using ::attnlab::testing::error_of;

constexpr double kInf = std::numeric_limits<double>::infinity();

// The definition: (i, j) of each [Tq, Tk] block is kept when
// i + offset - window < j <= i + offset (window <= 0 meaning no lower bound).
bool kept_ref(int64_t i, int64_t j, int64_t offset, int64_t window) {
  return j <= i + offset && (window <= 0 || j > i + offset - window);
}

// Masked values (or, with fill 0, the masked gradient) by the definition.
std::vector<double> mask_ref(const Tensor& x, int64_t offset, int64_t window, double fill) {
  std::vector<double> v = x.to_vector();
  int64_t Tq = x.size(-2), Tk = x.size(-1);
  for (size_t k = 0; k < v.size(); ++k) {
    int64_t i = (int64_t(k) / Tk) % Tq, j = int64_t(k) % Tk;
    if (!kept_ref(i, j, offset, window)) v[k] = fill;
  }
  return v;
}

// Exact comparison that also holds for -inf entries (compare() skips non-finite refs).
void expect_same(const std::vector<double>& want, const Tensor& got, const std::string& what) {
  std::vector<double> g = got.to_vector();
  ASSERT_EQ(want.size(), g.size()) << what;
  auto bad = std::mismatch(want.begin(), want.end(), g.begin());
  ASSERT_TRUE(bad.first == want.end()) << what << " at flat index " << (bad.first - want.begin())
                                       << ": want " << *bad.first << ", got " << *bad.second;
}

class MaskTest : public ::testing::TestWithParam<DType> {};

TEST_P(MaskTest, CausalMatchesTheDefinitionForAllOffsets) {
  DType dt = GetParam();
  Rng rng(3);
  for (int64_t Tq : {1, 3, 63, 127}) {
    for (int64_t Tk : {1, 3, 64, 127}) {
      for (int64_t offset : {int64_t(0), Tk - Tq, int64_t(-2), int64_t(5), Tk + 3}) {
        for (double fill : {-kInf, -1e4}) {
          std::string what = cat("Tq=", Tq, " Tk=", Tk, " offset ", offset, " fill ", fill, " ", dtype_name(dt));
          Tensor x = Tensor::randn({2, Tq, Tk}, rng, dt).set_requires_grad(true);
          Tensor y = causal_mask(x, offset, fill);
          expect_same(mask_ref(x, offset, 0, fill), y, "forward " + what);
          Tensor g = Tensor::randn(y.shape(), rng, dt);
          y.backward(g);
          expect_same(mask_ref(g, offset, 0, 0.0), x.grad(), "backward " + what);
        }
      }
    }
  }
}

TEST_P(MaskTest, SlidingWindowMatchesTheDefinition) {
  DType dt = GetParam();
  Rng rng(4);
  for (int64_t Tq : {1, 3, 63, 127}) {
    for (int64_t Tk : {1, 63, 1000}) {
      for (int64_t window : {1, 3, 2000}) {
        for (int64_t offset : {int64_t(0), Tk - Tq, int64_t(7)}) {
          std::string what = cat("Tq=", Tq, " Tk=", Tk, " window ", window, " offset ", offset, " ",
                                 dtype_name(dt));
          Tensor x = Tensor::randn({Tq, Tk}, rng, dt).set_requires_grad(true);
          Tensor y = sliding_window_mask(x, window, offset);
          expect_same(mask_ref(x, offset, window, -kInf), y, "forward " + what);
          Tensor g = Tensor::randn(y.shape(), rng, dt);
          y.backward(g);
          expect_same(mask_ref(g, offset, window, 0.0), x.grad(), "backward " + what);
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, MaskTest, ::testing::Values(DType::F32, DType::F64),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

TEST(Mask, DecodingBlockSeesTheWholeCacheAndItsOwnPrefix) {
  // Two queries at the end of five keys (offset 3): row 0 sees keys 0..3, row 1 all five.
  Tensor x = Tensor::full({2, 5}, 1.0, DType::F64);
  EXPECT_EQ(causal_mask(x, 3).to_vector(), (std::vector<double>{1, 1, 1, 1, -kInf, 1, 1, 1, 1, 1}));
  // A window of 2 keeps the query's own key and the one before it.
  EXPECT_EQ(sliding_window_mask(x, 2, 3).to_vector(),
            (std::vector<double>{-kInf, -kInf, 1, 1, -kInf, -kInf, -kInf, -kInf, 1, 1}));
}

TEST(Mask, WindowCoveringEverythingIsCausal) {
  Rng rng(5);
  Tensor x = Tensor::randn({3, 7, 9}, rng, DType::F32);
  expect_same(causal_mask(x, 2).to_vector(), sliding_window_mask(x, 9 + 2, 2), "window 11");
}

TEST(Mask, StridedInputAndEmptyShapes) {
  Rng rng(6);
  Tensor base = Tensor::randn({5, 3}, rng, DType::F64);
  Tensor x = base.transpose_raw(0, 1);  // [3, 5], strided
  expect_same(mask_ref(x, 2, 0, -kInf), causal_mask(x, 2), "strided");
  EXPECT_EQ(causal_mask(Tensor::zeros({2, 0, 4})).shape(), (Shape{2, 0, 4}));
  EXPECT_EQ(causal_mask(Tensor::zeros({2, 4, 0})).shape(), (Shape{2, 4, 0}));
}

TEST(Mask, BadInputsAreNamed) {
  EXPECT_EQ(error_of([] { causal_mask(Tensor::zeros({5})); }),
            "causal_mask: scores must be [..., Tq, Tk], got shape [5]");
  EXPECT_EQ(error_of([] { sliding_window_mask(Tensor::zeros({4, 4}), 0); }),
            "sliding_window_mask: window must be >= 1, got 0");
  EXPECT_EQ(error_of([] { causal_mask(Tensor::zeros({4, 4}, DType::I32)); }),
            "causal_mask: expected a float32 or float64 tensor, got int32");
}

}  // namespace
}  // namespace attnlab::ops
