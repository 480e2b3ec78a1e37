// The caching allocator hands back the most recently freed block of a size, so a loop
// that allocates and frees one buffer keeps writing the same (cache-warm) memory.
#include <gtest/gtest.h>

#include <memory>

#include "attnlab/core/storage.h"

namespace attnlab {
namespace {

TEST(StorageCache, ReusesTheMostRecentlyFreedBlock) {
  const size_t bytes = size_t{3} << 20;  // cached size class (>= 256 KiB)
  auto a = std::make_unique<Storage>(bytes);
  auto b = std::make_unique<Storage>(bytes);
  auto c = std::make_unique<Storage>(bytes);
  void* pb = b->data();
  void* pc = c->data();
  a.reset();
  b.reset();
  c.reset();  // freed last
  size_t reused = allocator_stats().reused_allocations;
  for (int i = 0; i < 4; ++i) {
    Storage s(bytes);
    EXPECT_EQ(s.data(), pc) << "call " << i << " got another cached block";
  }
  EXPECT_EQ(allocator_stats().reused_allocations, reused + 4);
  Storage s1(bytes), s2(bytes);  // two live at once: the next most recent comes second
  EXPECT_EQ(s1.data(), pc);
  EXPECT_EQ(s2.data(), pb);
}

TEST(StorageCache, PeakCountsTheHighWaterMarkSinceTheLastReset) {
  const size_t bytes = size_t{4} << 20;  // a whole number of huge pages: no rounding
  allocator_reset_peak();
  const size_t base = allocator_stats().bytes_in_use;
  EXPECT_EQ(allocator_stats().peak_bytes_in_use, base);
  {
    Storage a(bytes), b(bytes);
  }
  {
    Storage c(bytes);
  }
  EXPECT_EQ(allocator_stats().bytes_in_use, base);
  EXPECT_EQ(allocator_stats().peak_bytes_in_use, base + 2 * bytes);
  allocator_reset_peak();
  EXPECT_EQ(allocator_stats().peak_bytes_in_use, base);
}

TEST(StorageCache, LargeBlocksFromTheCacheAreNotFresh) {
  const size_t bytes = size_t{6} << 20;
  { Storage warm(bytes); }
  size_t fresh = allocator_stats().fresh_large_allocations;
  { Storage again(bytes); }
  EXPECT_EQ(allocator_stats().fresh_large_allocations, fresh);
  Storage held(bytes);
  Storage second(bytes);  // the cache holds only one block of this size
  EXPECT_EQ(allocator_stats().fresh_large_allocations, fresh + 1);
}

}  // namespace
}  // namespace attnlab
