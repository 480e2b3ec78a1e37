// Perplexity against length (specs/methods.md §5): the same validation text scored at
// every evaluation length L, two ways:
//   non-overlapping  disjoint windows of L tokens, every token scored (early tokens of a
//                    window see little context, which flatters long windows);
//   sliding          windows of L tokens advanced by a stride S, scoring only the last S
//                    tokens of each (the first window scores all), so every scored token
//                    sees at least L - S tokens of context.
// Reported per length: mean loss in nats per token, perplexity exp(loss), and bits per
// byte (total nats / ln 2 / bytes of the scored tokens' text).
#pragma once
#include <string>
#include <vector>

#include "attnlab/data/tokenizer.h"
#include "attnlab/model/lm.h"

namespace attnlab::eval {

struct Score {
  double loss = 0;   // nats per token
  double ppl = 0;
  double bits_per_byte = 0;
  int64_t tokens = 0;
  int64_t bytes = 0;
};

struct LengthResult {
  int64_t length = 0;
  Score non_overlapping, sliding;
  int64_t stride = 0;
  double seconds = 0;
};

struct PerplexityOptions {
  std::vector<int64_t> lengths;
  int64_t max_tokens = 16384;  // scored text: the first max_tokens + 1 validation tokens
  int64_t stride = 0;          // 0: L / 2
  bool sliding = true;
  mixers::Form form = mixers::Form::Parallel;
};

// `val_tokens` is the validation token stream; `tokenizer` converts tokens to bytes.
std::vector<LengthResult> perplexity_sweep(model::LanguageModel& model, const std::vector<int32_t>& val_tokens,
                                           const data::Tokenizer& tokenizer, const PerplexityOptions& opt);

}  // namespace attnlab::eval
