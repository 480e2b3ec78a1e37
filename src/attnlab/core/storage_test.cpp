#include "attnlab/core/storage.h"

#include <gtest/gtest.h>

#include <cmath>

#include "attnlab/core/tensor.h"

namespace attnlab {
namespace {

TEST(CachingAllocator, ReusesFreedLargeBlocks) {
  allocator_release_cached();
  const Shape big{4 << 20};  // 16 MiB of float32
  void* first = nullptr;
  {
    Tensor t = Tensor::empty(big);
    first = t.data<float>();
  }
  AllocatorStats before = allocator_stats();
  EXPECT_GE(before.bytes_cached, size_t(16) << 20);
  {
    Tensor t = Tensor::empty(big);
    EXPECT_EQ(t.data<float>(), first) << "a freed block of the same size should be reused";
  }
  AllocatorStats after = allocator_stats();
  EXPECT_EQ(after.reused_allocations, before.reused_allocations + 1);
  EXPECT_EQ(after.fresh_allocations, before.fresh_allocations);
  allocator_release_cached();
  EXPECT_EQ(allocator_stats().bytes_cached, 0u);
}

TEST(CachingAllocator, ReusedBlocksArePoisonedAgain) {
  { Tensor t = Tensor::zeros({1 << 18}); }
  Tensor again = Tensor::empty({1 << 18});
  EXPECT_TRUE(std::isnan(again.to_vector()[12345]));
}

}  // namespace
}  // namespace attnlab
