#include "attnlab/core/tensor.h"

#include <gtest/gtest.h>

#include <cmath>

#include "attnlab/core/rng.h"
#include "harness/assert_close.h"

namespace attnlab {
namespace {

TEST(Tensor, FreshBuffersArePoisonedInTests) {
  Tensor t = Tensor::empty({3, 5});
  for (double v : t.to_vector()) EXPECT_TRUE(std::isnan(v));
  Tensor d = Tensor::empty({7}, DType::F64);
  for (double v : d.to_vector()) EXPECT_TRUE(std::isnan(v));
}

TEST(Tensor, StorageIs64ByteAligned) {
  for (int64_t n : testing::kOddSizes) {
    Tensor t = Tensor::empty({n});
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data<float>()) % 64, 0u) << n;
  }
  Tensor big = Tensor::empty({1 << 20});
  EXPECT_EQ(reinterpret_cast<uintptr_t>(big.data<float>()) % 64, 0u);
}

TEST(Tensor, ShapeAndStrides) {
  Tensor t = Tensor::zeros({2, 3, 4});
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.strides(), (Shape{12, 4, 1}));
  EXPECT_EQ(t.size(-1), 4);
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_THROW(t.size(3), Error);
}

TEST(Tensor, TransposeAndSliceAreViewsSharingStorage) {
  std::vector<float> v(12);
  for (int i = 0; i < 12; ++i) v[size_t(i)] = float(i);
  Tensor t = Tensor::from_vector(v, {3, 4});
  Tensor tt = t.transpose_raw(0, 1);
  EXPECT_TRUE(tt.same_storage(t));
  EXPECT_FALSE(tt.is_contiguous());
  EXPECT_EQ(tt.shape(), (Shape{4, 3}));
  EXPECT_EQ(tt.at({1, 2}), 9.0);  // t[2][1]
  Tensor packed = tt.contiguous();
  EXPECT_TRUE(packed.is_contiguous());
  EXPECT_EQ(packed.to_vector(), (std::vector<double>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}));
  Tensor s = t.slice_raw(1, 1, 3);
  EXPECT_TRUE(s.same_storage(t));
  EXPECT_EQ(s.to_vector(), (std::vector<double>{1, 2, 5, 6, 9, 10}));
  EXPECT_THROW(t.slice_raw(1, 2, 5), Error);
}

TEST(Tensor, ViewOfNonContiguousIsAnError) {
  Tensor t = Tensor::zeros({3, 4}).transpose_raw(0, 1);
  try {
    t.view_raw({12});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not contiguous"), std::string::npos) << e.what();
  }
}

TEST(Tensor, DtypeConversionRoundTrips) {
  Rng rng(7);
  for (int64_t n : testing::kOddSizes) {
    Tensor f = Tensor::randn({n}, rng);
    Tensor d = f.to(DType::F64);
    EXPECT_EQ(d.dtype(), DType::F64);
    EXPECT_EQ(f.to_vector(), d.to_vector());
    Tensor back = d.to(DType::F32);
    EXPECT_EQ(back.to_vector(), f.to_vector());
  }
}

TEST(Tensor, Bf16StorageRoundsToNearestEven) {
  Tensor f = Tensor::from_vector(std::vector<float>{1.0f, 1.00390625f, 1.01171875f, -3.5f}, {4});
  Tensor b = f.to(DType::BF16);
  EXPECT_EQ(b.dtype(), DType::BF16);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1.0).
  EXPECT_EQ(b.to_vector(), (std::vector<double>{1.0, 1.0, 1.015625, -3.5}));
}

TEST(Tensor, WrongDtypeAccessIsAnError) {
  Tensor t = Tensor::zeros({2});
  EXPECT_THROW(t.data<double>(), Error);
}

TEST(Tensor, ItemNeedsOneElement) {
  EXPECT_EQ(Tensor::full({1}, 2.5).item(), 2.5);
  EXPECT_THROW(Tensor::zeros({2}).item(), Error);
}

TEST(Tensor, CopyFromStridedSource) {
  Rng rng(3);
  Tensor a = Tensor::randn({63, 5}, rng, DType::F64);
  Tensor at = a.transpose_raw(0, 1);
  Tensor dst = Tensor::empty({5, 63}, DType::F32);
  dst.copy_from(at);
  for (int64_t i = 0; i < 5; ++i)
    for (int64_t j = 0; j < 63; ++j) EXPECT_EQ(dst.at({i, j}), double(float(a.at({j, i}))));
}

}  // namespace
}  // namespace attnlab
