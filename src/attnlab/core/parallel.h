// One thread pool for everything (specs/machine.md #7): OpenMP runs our loops, and
// OpenBLAS is the OpenMP build, so BLAS calls share the same threads and run
// single-threaded when called inside one of our parallel regions.
//
// The count comes from set_num_threads (the CLI's --threads), else ATTNLAB_THREADS,
// else the number of cores.
#pragma once
#include <cstdint>
#include <algorithm>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace attnlab {

void set_num_threads(int n);  // n <= 0 means "default" (ATTNLAB_THREADS or the cores)
int num_threads();
// Call once at start-up: applies the default thread count to OpenMP and OpenBLAS.
void init_threads();

// Sets the thread count for a scope and restores the previous one.
class ScopedThreads {
 public:
  explicit ScopedThreads(int n) : previous_(num_threads()) { set_num_threads(n); }
  ~ScopedThreads() { set_num_threads(previous_); }
  ScopedThreads(const ScopedThreads&) = delete;
  ScopedThreads& operator=(const ScopedThreads&) = delete;

 private:
  int previous_;
};

// Calls f(begin, end) on disjoint sub-ranges of [begin, end) covering it, in parallel
// when the range holds more than `grain` items. The split is static, so which thread
// computes which item never changes results.
template <class F>
void parallel_for(int64_t begin, int64_t end, int64_t grain, F&& f) {
  int64_t n = end - begin;
  if (n <= 0) return;
#ifdef _OPENMP
  int threads = num_threads();
  if (n > grain && threads > 1 && !omp_in_parallel()) {
    int64_t chunks = std::min<int64_t>(threads, (n + grain - 1) / std::max<int64_t>(grain, 1));
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t c = 0; c < chunks; ++c) {
      int64_t b = begin + n * c / chunks, e = begin + n * (c + 1) / chunks;
      f(b, e);
    }
    return;
  }
#endif
  f(begin, end);
}

}  // namespace attnlab
