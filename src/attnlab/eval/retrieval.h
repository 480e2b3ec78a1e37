// Retrieval evaluation (specs/methods.md §5): prompts from data/tasks.h at each context
// length x needle depth, greedy decoding, scoring, accuracy table.
//
// Scoring follows the sources:
//   passkey  the first integer of the output equals the key (landmark run_test.py);
//   lines    the last integer of the output equals the line's number (LongChat);
//   topics   the output, trimmed of spaces and a final full stop and compared without
//            case, equals the topic exactly (LongChat grades by hand or with a judge that
//            accepts synonyms; a model trained on the task's format is held to the exact
//            topic instead).
// Decoding is greedy and stops at the first newline or EOS, or after max_new tokens.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "attnlab/data/tasks.h"
#include "attnlab/data/tokenizer.h"
#include "attnlab/eval/diagnostics.h"
#include "attnlab/model/lm.h"

namespace attnlab::eval {

// The first / last run of decimal digits in text, as a value; nullopt when there is none
// or it has more than 18 digits (leading zeros do not count).
std::optional<int64_t> first_integer(std::string_view text);
std::optional<int64_t> last_integer(std::string_view text);
// Lower-case, leading/trailing spaces and one trailing '.' removed.
std::string normalise_answer(std::string_view text);
// Whether `output` (the decoded completion) answers `example` under its task's rule.
bool score_output(const data::TaskExample& example, std::string_view output);

struct RetrievalOptions {
  data::TaskKind task = data::TaskKind::Passkey;
  data::TaskOptions task_options;
  std::vector<int64_t> lengths;            // prompt tokens at most
  std::vector<double> depths = {0.5};      // in [0, 1]; topics always uses 0
  int64_t trials = 10;
  uint64_t seed = 1;
  int64_t max_new = 0;                     // 0: the expected completion's tokens + 4
  bool needle_attention = false;           // also the needle weight per layer and head
  mixers::Form step_form = mixers::Form::Recurrent;
};

struct RetrievalCell {
  int64_t length = 0;
  double depth = 0;
  int64_t trials = 0, correct = 0;
  double accuracy = 0;
  double mean_prompt_tokens = 0;
  std::vector<std::string> outputs;        // first few decoded outputs, for a look
  std::vector<std::string> expected;
  AttentionDiagnostics attention;          // filled when needle_attention
};

// Trial t of cell (length, depth) uses the example seed opt.seed * 1000003 + t, so every
// length and depth sees the same keys and line contents, only sized and placed differently.
std::vector<RetrievalCell> run_retrieval(model::LanguageModel& model, const data::Tokenizer& tokenizer,
                                         const RetrievalOptions& opt);

// Greedy completion of `prompt` (at least one token), stopping after a token whose text
// contains a newline, at EOS, or after max_new tokens. Returns the decoded text.
std::string greedy_completion(model::LanguageModel& model, const data::Tokenizer& tokenizer,
                              const std::vector<int32_t>& prompt, int64_t max_new, mixers::Form step_form);

}  // namespace attnlab::eval
