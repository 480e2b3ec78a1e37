// "Did you mean" suggestions for misspelt names (config keys, tensor names).
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace attnlab::io {

// Levenshtein distance: insertions, deletions and substitutions each cost 1.
size_t edit_distance(std::string_view a, std::string_view b);

// The candidate nearest to `name` (the first one on ties), or "" when there are none.
std::string nearest_name(std::string_view name, const std::vector<std::string>& candidates);

// True when `candidate` is close enough to `name` to be worth suggesting: at most a
// third of the longer name's letters (and at least 2) differ.
bool is_plausible_typo(std::string_view name, std::string_view candidate);

}  // namespace attnlab::io
