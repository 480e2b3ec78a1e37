// Synthetic long-context retrieval tasks (specs/methods.md §5), sized in tokens of any
// tokenizer, deterministic by seed:
//
//   passkey  (landmark-attention run_test.py) filler sentences with "The pass key is K.
//            Remember it. K is the pass key." at a chosen depth; K uniform in 1..50000;
//            the prompt ends "What is the pass key? The pass key is", completion " K".
//   lines    (LongChat longeval) lines "line <index>: REGISTER_CONTENT is <n>", n uniform
//            in 1..50000; the question asks for one line's number; the line asked for sits
//            at the chosen depth. The prompt ends with an answer lead that restates the
//            line ("Answer: line <index>: REGISTER_CONTENT is <", as LongChat does for
//            models without a chat template), completion "n>".
//   topics   (LongChat longeval) conversations that each open "USER: I would like to
//            discuss the topic of <topic>."; the question asks for the first topic; the
//            prompt ends "ASSISTANT: The first topic is", completion " <topic>". The depth
//            is not used (the first topic is always the one asked for).
//
// Every completion ends with "\n" (generation stops there). An example is three strings
// (before + needle + after = the prompt) so the needle's tokens are known: a prompt is
// encoded as encode(before) ++ encode(needle) ++ encode(after), and training data use the
// same split, so a BPE tokenizer sees the same ids at training and at evaluation.
//
// make_task_example picks the most units (filler sentences, lines, conversations) whose
// prompt fits in `max_tokens` tokens. The content of unit k and the key depend only on
// (seed, k), so a longer prompt of the same seed extends a shorter one.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "attnlab/data/tokenizer.h"

namespace attnlab::data {

enum class TaskKind { Passkey, Lines, Topics };
TaskKind parse_task_kind(const std::string& name);  // "passkey" | "lines" | "topics"
const char* task_kind_name(TaskKind kind);

struct TaskOptions {
  // The instruction at the top: "full" is the original text (LongChat's header, the
  // landmark task sentence); "short" a one-line version for models trained at a few
  // hundred tokens; "none" nothing.
  std::string header = "full";
  // lines: "number" (LongChat's LRT: lines 1..N) or "words" (LRT-NL: adjective-noun).
  std::string line_index = "number";
  // topics: exchanges per conversation: 0 the opening sentence alone, 1 the opening and
  // the assistant's reply, each more one question and answer.
  int64_t topic_exchanges = 2;

  void validate() const;
};

struct TaskExample {
  TaskKind kind = TaskKind::Passkey;
  std::string before, needle, after;  // the prompt, split around the fact to retrieve
  std::string completion;             // what follows the prompt in training data ("\n" last)
  std::string answer;                 // what scoring compares with (the key, number or topic)
  int64_t units = 0;                  // filler sentences, lines or conversations
  int64_t needle_unit = 0;            // which unit holds the needle (passkey: sentences before it)
  double depth = 0;                   // needle_unit / units (0 for topics)
  std::string prompt() const { return before + needle + after; }
};

struct TaskTokens {
  std::vector<int32_t> prompt, completion;
  int64_t needle_begin = 0, needle_end = 0;  // token range of the needle in prompt
};

// encode(before) ++ encode(needle) ++ encode(after), and encode(completion).
TaskTokens encode_task(const TaskExample& example, const Tokenizer& tokenizer);

// The example with the most units whose prompt has at most max_tokens tokens; depth in
// [0, 1] places the needle. An error when not even one unit fits.
TaskExample make_task_example(TaskKind kind, const Tokenizer& tokenizer, int64_t max_tokens, double depth,
                              uint64_t seed, const TaskOptions& options = {});

// The example with exactly `units` units (no sizing).
TaskExample make_task_example_units(TaskKind kind, int64_t units, double depth, uint64_t seed,
                                    const TaskOptions& options = {});

// A corpus folder that `attnlab train` reads (train.tok, val.tok, meta.json as written by
// `attnlab data prepare`): each document is one example, prompt ++ completion ++ EOS,
// with a prompt length drawn uniformly from [min_tokens, max_tokens] and a uniform depth.
struct TaskCorpusOptions {
  TaskKind kind = TaskKind::Lines;
  std::string tokenizer = "byte";
  int64_t min_tokens = 0, max_tokens = 256;  // prompt tokens; min 0: max_tokens / 2
  int64_t train_examples = 2000, val_examples = 100;
  uint64_t seed = 1;
  TaskOptions task;
};
struct TaskCorpusResult {
  int64_t train_tokens = 0, val_tokens = 0;
  double mean_prompt_tokens = 0;
};
TaskCorpusResult write_task_corpus(const std::string& out_dir, const TaskCorpusOptions& options);

}  // namespace attnlab::data
