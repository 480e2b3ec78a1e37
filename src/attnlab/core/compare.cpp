#include "attnlab/core/compare.h"

#include <cmath>
#include <cstdio>

namespace attnlab {

CloseReport compare(const Tensor& ref, const Tensor& got) {
  CloseReport r;
  if (ref.shape() != got.shape()) {
    r.shapes_match = false;
    return r;
  }
  std::vector<double> a = ref.to_vector(), b = got.to_vector();
  double diff2 = 0, ref2 = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(b[i]) && std::isfinite(a[i])) {
      r.nonfinite++;
      continue;
    }
    if (!std::isfinite(a[i])) continue;
    double d = std::abs(a[i] - b[i]);
    r.max_abs = std::max(r.max_abs, d);
    diff2 += d * d;
    ref2 += a[i] * a[i];
  }
  r.rel_rms = std::sqrt(diff2) / std::max(std::sqrt(ref2), 1e-300);
  if (diff2 == 0) r.rel_rms = 0;
  return r;
}

std::string CloseReport::describe(const std::string& name) const {
  if (!shapes_match) return name + ": shapes differ";
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s: max abs err %.3e, rel rms err %.3e, non-finite %lld",
                name.c_str(), max_abs, rel_rms, (long long)nonfinite);
  return buf;
}

double default_tolerance(DType t) {
  switch (t) {
    case DType::F64: return 1e-10;
    case DType::F32: return 2e-5;
    case DType::BF16: return 1e-2;
    default: return 0;
  }
}

}  // namespace attnlab
