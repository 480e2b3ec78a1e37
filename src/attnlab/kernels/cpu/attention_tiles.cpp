#include "attnlab/kernels/cpu/attention_tiles.h"

#include <atomic>
#include <cstdlib>

#include "attnlab/core/error.h"

namespace attnlab::kernels {

namespace {

bool cpu_has(KernelSet s) {
  switch (s) {
    case KernelSet::scalar:
      return true;
#if defined(__x86_64__)
    case KernelSet::avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case KernelSet::avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("fma");
#endif
    default:
      return false;
  }
}

struct Tables {
  TileOps<float> f[3];
  TileOps<double> d[3];
  Tables() {
    detail::fill_tile_ops_scalar(f[0], d[0]);
#if defined(__x86_64__)
    detail::fill_tile_ops_avx2(f[1], d[1]);
    detail::fill_tile_ops_avx512(f[2], d[2]);
#else
    f[1] = f[2] = f[0];  // never selected: kernel_set_supported is false off x86-64
    d[1] = d[2] = d[0];
#endif
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

std::string supported_list() {
  std::string out;
  for (KernelSet s : supported_kernel_sets()) {
    if (!out.empty()) out += ", ";
    out += kernel_set_name(s);
  }
  return out;
}

// From ATTNLAB_KERNELS, else the widest supported set; checked once.
KernelSet initial_set() {
  const char* env = std::getenv("ATTNLAB_KERNELS");
  if (!env || !*env) return supported_kernel_sets().front();
  for (KernelSet s : {KernelSet::avx512, KernelSet::avx2, KernelSet::scalar}) {
    if (std::string(env) == kernel_set_name(s)) {
      ATTNLAB_CHECK(kernel_set_supported(s), "ATTNLAB_KERNELS=", env,
                    ": this CPU cannot run that kernel set (it supports: ", supported_list(), ")");
      return s;
    }
  }
  throw Error(cat("ATTNLAB_KERNELS=", env, ": unknown kernel set (expected avx512, avx2 or scalar; this CPU supports: ",
                  supported_list(), ")"));
}

std::atomic<int> g_active{-1};

}  // namespace

const char* kernel_set_name(KernelSet s) {
  switch (s) {
    case KernelSet::avx512: return "avx512";
    case KernelSet::avx2: return "avx2";
    case KernelSet::scalar: return "scalar";
  }
  return "?";
}

bool kernel_set_supported(KernelSet s) { return cpu_has(s); }

std::vector<KernelSet> supported_kernel_sets() {
  std::vector<KernelSet> out;
  for (KernelSet s : {KernelSet::avx512, KernelSet::avx2, KernelSet::scalar})
    if (kernel_set_supported(s)) out.push_back(s);
  return out;
}

KernelSet active_kernel_set() {
  int a = g_active.load(std::memory_order_relaxed);
  if (a < 0) {
    a = int(initial_set());
    g_active.store(a, std::memory_order_relaxed);
  }
  return KernelSet(a);
}

void set_kernel_set(KernelSet s) {
  ATTNLAB_CHECK(kernel_set_supported(s), "kernel set ", kernel_set_name(s),
                ": not supported by this CPU (it supports: ", supported_list(), ")");
  g_active.store(int(s), std::memory_order_relaxed);
}

std::string kernel_set_info() {
  const char* env = std::getenv("ATTNLAB_KERNELS");
  return cat(kernel_set_name(active_kernel_set()), " (run-time choice of ", supported_list(), "; ATTNLAB_KERNELS",
             env && *env ? cat("=", env) : std::string(" unset"), ")");
}

template <>
const TileOps<float>& tile_ops<float>(KernelSet s) {
  return tables().f[int(s)];
}
template <>
const TileOps<double>& tile_ops<double>(KernelSet s) {
  return tables().d[int(s)];
}

}  // namespace attnlab::kernels
