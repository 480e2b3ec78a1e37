// Storage: one 64-byte-aligned block of bytes shared by a tensor and its views.
//
// Blocks come from a caching allocator: freed blocks are kept by size and handed out
// again, because first touch of fresh pages costs ~10 us per 4 KiB page on our machines
// (specs/machine.md #5) and a training step would otherwise fault its activations in
// again every step. Large blocks ask the kernel for transparent huge pages.
//
// In test builds (set_poison_fresh_buffers(true), or ATTNLAB_POISON=1 in the
// environment) every block handed out is filled with 0xFF bytes: NaN in every float
// type and -1 as int32, so reads of memory no kernel wrote fail loudly.
#pragma once
#include <cstddef>
#include <memory>

namespace attnlab {

class Storage {
 public:
  explicit Storage(size_t bytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() { return data_; }
  const void* data() const { return data_; }
  size_t bytes() const { return bytes_; }

 private:
  void* data_;
  size_t bytes_;
};

void set_poison_fresh_buffers(bool on);
bool poison_fresh_buffers();

struct AllocatorStats {
  size_t bytes_in_use = 0;    // handed out and not yet freed
  size_t bytes_cached = 0;    // freed, kept for reuse
  size_t fresh_allocations = 0;  // blocks obtained from the system
  size_t reused_allocations = 0;  // blocks served from the cache
  // Blocks of the cached sizes (>= 256 KiB) obtained from the system: the ones whose
  // pages fault in fresh. A steady training step adds none.
  size_t fresh_large_allocations = 0;
  size_t peak_bytes_in_use = 0;  // high-water mark of bytes_in_use since the last reset
};
AllocatorStats allocator_stats();
// Returns every cached block to the system (for example between evaluation lengths).
void allocator_release_cached();
// Starts a new high-water mark at the current bytes_in_use (benchmarks' peak memory).
void allocator_reset_peak();

}  // namespace attnlab
