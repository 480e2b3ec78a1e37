#include "attnlab/position/alibi.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "attnlab/core/error.h"

namespace attnlab::position {

namespace {
std::vector<double> power_of_two_slopes(int64_t n) {
  std::vector<double> s(static_cast<size_t>(n));
  for (int64_t h = 1; h <= n; ++h) s[size_t(h - 1)] = std::pow(2.0, -8.0 * double(h) / double(n));
  return s;
}
}  // namespace

std::vector<double> alibi_slopes(int64_t heads) {
  ATTNLAB_CHECK(heads > 0, "alibi: need at least one head, got ", heads);
  int64_t p = 1;
  while (p * 2 <= heads) p *= 2;
  std::vector<double> slopes = power_of_two_slopes(p);
  if (p == heads) return slopes;
  std::vector<double> extra = power_of_two_slopes(2 * p);
  for (size_t i = 0; int64_t(slopes.size()) < heads; i += 2) slopes.push_back(extra[i]);
  return slopes;
}

AlibiScaling parse_alibi_scaling(const std::string& name) {
  if (name == "none") return AlibiScaling::None;
  if (name == "interpolate") return AlibiScaling::Interpolate;
  if (name == "ntk") return AlibiScaling::Ntk;
  throw Error(cat("alibi: unknown scaling '", name, "' (known: none, interpolate, ntk)"));
}

std::vector<double> alibi_scaled_slopes(int64_t heads, AlibiScaling scaling, double factor) {
  ATTNLAB_CHECK(factor >= 1.0, "alibi: the scaling factor must be >= 1, got ", factor);
  std::vector<double> s = alibi_slopes(heads);
  if (scaling == AlibiScaling::None || factor == 1.0) return s;
  if (scaling == AlibiScaling::Interpolate) {
    for (double& m : s) m /= factor;
    return s;
  }
  if (heads == 1) return s;  // one head: a^(0/0) has no meaning; nothing to spread
  std::vector<size_t> order(s.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return s[x] > s[y]; });
  std::vector<double> out = s;
  for (size_t rank = 0; rank < order.size(); ++rank)
    out[order[rank]] = s[order[rank]] / std::pow(factor, double(rank) / double(heads - 1));
  return out;
}

double alibi_dynamic_factor(int64_t length, int64_t original_length, double a0) {
  ATTNLAB_CHECK(original_length > 0, "alibi: dynamic scaling needs the training length, got ",
                original_length);
  return std::max(1.0, a0 * double(length) / double(original_length));
}

}  // namespace attnlab::position
