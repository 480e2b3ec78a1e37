#include "attnlab/eval/retrieval.h"

#include <gtest/gtest.h>

#include <cmath>

#include "attnlab/mixers/softmax/softmax.h"
#include "attnlab/eval/diagnostics.h"

namespace attnlab::eval {
namespace {

// ---- scoring on hand-made outputs ----

TEST(RetrievalScore, Integers) {
  EXPECT_EQ(first_integer("The pass key is 123. Or 456"), 123);
  EXPECT_EQ(last_integer("The pass key is 123. Or 456"), 456);
  EXPECT_EQ(last_integer("00042>"), 42);
  EXPECT_EQ(first_integer("no digits here"), std::nullopt);
  EXPECT_EQ(last_integer(""), std::nullopt);
  EXPECT_EQ(last_integer("1234567890123456789012"), std::nullopt);  // too long to be a number we asked for
}

TEST(RetrievalScore, EachTaskUsesItsRule) {
  data::TaskExample lines;
  lines.kind = data::TaskKind::Lines;
  lines.answer = "38291";
  EXPECT_TRUE(score_output(lines, "38291>"));
  EXPECT_TRUE(score_output(lines, "line 3 has <12> but the answer is 38291"));  // the last integer counts
  EXPECT_FALSE(score_output(lines, "38291 then 7"));
  EXPECT_FALSE(score_output(lines, "3829"));
  EXPECT_FALSE(score_output(lines, ""));

  data::TaskExample pk;
  pk.kind = data::TaskKind::Passkey;
  pk.answer = "17";
  EXPECT_TRUE(score_output(pk, " 17. Remember it. 17 is"));
  EXPECT_TRUE(score_output(pk, " 17 and then 99"));  // the first integer counts
  EXPECT_FALSE(score_output(pk, " 99 not 17"));
  EXPECT_FALSE(score_output(pk, " 170"));

  data::TaskExample tp;
  tp.kind = data::TaskKind::Topics;
  tp.answer = "jazz music";
  EXPECT_TRUE(score_output(tp, " jazz music\n"));
  EXPECT_TRUE(score_output(tp, " Jazz Music."));
  EXPECT_FALSE(score_output(tp, " jazz"));
  EXPECT_FALSE(score_output(tp, " jazz music and chess"));
  EXPECT_EQ(normalise_answer("  The Ocean. "), "the ocean");
}

// ---- the runner on a model whose answers are known ----

model::ModelConfig tiny_config() {
  model::ModelConfig c;
  c.vocab_size = data::ByteTokenizer::kVocab;
  c.d_model = 32;
  c.n_layers = 2;
  c.mixer.name = "softmax";
  return c;
}

TEST(Retrieval, CellsCoverLengthsAndDepthsAndNeedleWeightsAreProbabilities) {
  model::LanguageModel lm(tiny_config(), 3);
  data::ByteTokenizer tok;
  RetrievalOptions o;
  o.task = data::TaskKind::Passkey;
  o.task_options.header = "short";
  o.lengths = {120, 200};
  o.depths = {0, 1};
  o.trials = 2;
  o.needle_attention = true;
  auto cells = run_retrieval(lm, tok, o);
  ASSERT_EQ(cells.size(), 4u);
  for (const auto& c : cells) {
    EXPECT_EQ(c.trials, 2);
    EXPECT_LE(c.mean_prompt_tokens, double(c.length));
    EXPECT_GE(c.accuracy, 0.0);
    EXPECT_LE(c.accuracy, 1.0);
    ASSERT_EQ(c.attention.layers(), 2);
    for (int64_t l = 0; l < 2; ++l)
      for (int64_t h = 0; h < c.attention.heads(l); ++h) {
        double w = c.attention.needle_weight(l, h);
        EXPECT_TRUE(w >= 0 && w <= 1 + 1e-9) << w;
      }
    // An untrained model attends almost uniformly: the needle gets about its share.
    EXPECT_NEAR(c.attention.needle_weight(0, 0), c.attention.needle_uniform(), 0.1);
  }
}

TEST(Retrieval, GreedyCompletionStopsAtNewline) {
  model::LanguageModel lm(tiny_config(), 5);
  data::ByteTokenizer tok;
  std::string out = greedy_completion(lm, tok, tok.encode("hello"), 6, mixers::Form::Recurrent);
  EXPECT_LE(out.size(), 6u);
  auto nl = out.find('\n');
  EXPECT_TRUE(nl == std::string::npos || nl == out.size() - 1) << out;
  // The same with the parallel form for each step.
  EXPECT_EQ(out, greedy_completion(lm, tok, tok.encode("hello"), 6, mixers::Form::Parallel));
}

}  // namespace
}  // namespace attnlab::eval
