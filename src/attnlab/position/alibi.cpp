#include "attnlab/position/alibi.h"

#include <cmath>

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

}  // namespace attnlab::position
