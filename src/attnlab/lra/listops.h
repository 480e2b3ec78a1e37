// ListOps (Nangia & Bowman 2018) as the Long Range Arena generates it
// (google-research/long-range-arena, lra_benchmarks/data/listops.py; specs/methods.md §4):
//   operators MIN, MAX, MED (int of the median), SM (sum mod 10) over values 0-9;
//   below max_depth a node is an operator with probability 0.25, else a value (always a
//   value at max_depth); an operator takes 2..max_args arguments; a tree is kept when
//   min_length < values + 2 per operator < max_length; trees are unique.
// The source string is the generator's, with parentheses; the input pipeline drops the
// parentheses, maps "]" to "X" and splits on whitespace (listops_tokens).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "attnlab/core/rng.h"

namespace attnlab::lra {

struct ListOpsOptions {
  int64_t max_depth = 10;
  int64_t max_args = 10;
  int64_t min_length = 500;   // exclusive bounds on values + 2 per operator
  int64_t max_length = 2000;
};

struct ListOpsExample {
  std::string source;  // "( ( ( [MAX 2 ) 9 ) ] )"-style, as the LRA .tsv files hold it
  int label = 0;       // the value of the expression, 0..9
};

// `count` unique examples (unique by source) drawn from `rng`. Errors when the window
// makes trees too rare to find (after a bounded number of draws).
std::vector<ListOpsExample> generate_listops(const ListOpsOptions& opt, int64_t count, Rng& rng);

// The input pipeline: tokens of the source without "(" and ")", "]" as "X".
std::vector<std::string> listops_words(const std::string& source);
// Token ids: 0 pad, 1..10 digits 0-9, 11 [MIN, 12 [MAX, 13 [MED, 14 [SM, 15 X.
constexpr int64_t kListOpsVocab = 16;
std::vector<int32_t> listops_tokens(const std::string& source);

// An evaluator written independently of the generator: a stack machine over the words.
int evaluate_listops(const std::vector<std::string>& words);

}  // namespace attnlab::lra
