#include "attnlab/core/parallel.h"

#include <cstdlib>
#include <string>
#include <thread>

#include "attnlab/core/error.h"

extern "C" void openblas_set_num_threads(int);

namespace attnlab {
namespace {
int g_threads = 0;

int default_threads() {
  if (const char* v = std::getenv("ATTNLAB_THREADS"); v && *v) {
    char* end = nullptr;
    long n = std::strtol(v, &end, 10);
    if (*end != '\0' || n <= 0 || n > 4096)
      throw Error(cat("ATTNLAB_THREADS='", v, "': expected a positive integer"));
    return int(n);
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw ? int(hw) : 1;
}
}  // namespace

void set_num_threads(int n) {
  g_threads = n > 0 ? n : default_threads();
#ifdef _OPENMP
  omp_set_num_threads(g_threads);
#endif
  openblas_set_num_threads(g_threads);
}

int num_threads() {
  if (g_threads == 0) set_num_threads(0);
  return g_threads;
}

void init_threads() { num_threads(); }

}  // namespace attnlab
