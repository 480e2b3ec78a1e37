#include "attnlab/io/nearest.h"

#include <algorithm>

namespace attnlab::io {

size_t edit_distance(std::string_view a, std::string_view b) {
  // One row of the dynamic-programming table; row[j] = distance(a[0..i), b[0..j)).
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string nearest_name(std::string_view name, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = size_t(-1);
  for (const auto& c : candidates) {
    size_t d = edit_distance(name, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return best;
}

bool is_plausible_typo(std::string_view name, std::string_view candidate) {
  size_t limit = std::max<size_t>(2, std::max(name.size(), candidate.size()) / 3);
  return edit_distance(name, candidate) <= limit;
}

}  // namespace attnlab::io
