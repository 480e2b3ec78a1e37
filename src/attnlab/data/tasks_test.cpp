#include "attnlab/data/tasks.h"

#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "attnlab/data/test_util.h"
#include "attnlab/data/token_file.h"

namespace attnlab::data {
namespace {

using testing::TempDir;
using ::attnlab::testing::error_of;

const TaskKind kAll[] = {TaskKind::Passkey, TaskKind::Lines, TaskKind::Topics};

TEST(Tasks, SameSeedSameExampleOtherSeedOther) {
  ByteTokenizer tok;
  for (TaskKind k : kAll) {
    auto a = make_task_example(k, tok, 800, 0.5, 7);
    auto b = make_task_example(k, tok, 800, 0.5, 7);
    auto c = make_task_example(k, tok, 800, 0.5, 8);
    EXPECT_EQ(a.prompt(), b.prompt()) << task_kind_name(k);
    EXPECT_EQ(a.completion, b.completion);
    EXPECT_NE(a.prompt() + a.completion, c.prompt() + c.completion) << task_kind_name(k);
  }
}

TEST(Tasks, PromptIsTheLargestThatFits) {
  ByteTokenizer tok;
  TaskOptions o;
  o.header = "short";
  for (TaskKind k : kAll)
    for (int64_t L : {300, 457, 1000}) {
      auto e = make_task_example(k, tok, L, 0.3, 3, o);
      auto t = encode_task(e, tok);
      EXPECT_LE(int64_t(t.prompt.size()), L) << task_kind_name(k);
      auto bigger = make_task_example_units(k, e.units + 1, 0.3, 3, o);
      EXPECT_GT(int64_t(encode_task(bigger, tok).prompt.size()), L) << task_kind_name(k) << " L=" << L;
      // A longer prompt of the same seed has more units.
      EXPECT_GT(make_task_example(k, tok, 2 * L, 0.3, 3, o).units, e.units);
    }
}

TEST(Tasks, PasskeyFormatAndDepth) {
  ByteTokenizer tok;
  for (double depth : {0.0, 0.5, 1.0}) {
    auto e = make_task_example(TaskKind::Passkey, tok, 600, depth, 11);
    std::smatch m;
    std::string needle = e.needle;
    ASSERT_TRUE(std::regex_match(needle, m, std::regex(R"(The pass key is (\d+)\. Remember it\. (\d+) is the pass key\.)")))
        << e.needle;
    EXPECT_EQ(m[1].str(), m[2].str());
    EXPECT_EQ(m[1].str(), e.answer);
    int key = std::stoi(e.answer);
    EXPECT_GE(key, 1);
    EXPECT_LE(key, 50000);
    EXPECT_EQ(e.completion, " " + e.answer + "\n");
    EXPECT_TRUE(e.prompt().ends_with("What is the pass key? The pass key is"));
    EXPECT_NEAR(e.depth, depth, 0.5 / double(e.units) + 1e-12);
    auto t = encode_task(e, tok);
    // The needle's token range decodes to the needle.
    std::vector<int32_t> span(t.prompt.begin() + t.needle_begin, t.prompt.begin() + t.needle_end);
    EXPECT_EQ(tok.decode(span), e.needle);
  }
}

TEST(Tasks, LinesFollowLongChatFormat) {
  ByteTokenizer tok;
  auto e = make_task_example(TaskKind::Lines, tok, 1500, 0.25, 5);
  std::string p = e.prompt();
  EXPECT_TRUE(p.starts_with("Below is a record of lines I want you to remember."));
  std::regex line_re(R"(line (\d+): REGISTER_CONTENT is <(\d+)>\n)");
  auto begin = std::sregex_iterator(p.begin(), p.end(), line_re);
  int64_t count = 0;
  for (auto it = begin; it != std::sregex_iterator(); ++it, ++count) {
    EXPECT_EQ(std::stoll((*it)[1].str()), count + 1);  // LRT: lines 1..N in order
    int64_t v = std::stoll((*it)[2].str());
    EXPECT_TRUE(v >= 1 && v <= 50000) << v;
  }
  EXPECT_EQ(count, e.units);
  // The line asked for is the needle, and its number is the answer.
  std::smatch m;
  ASSERT_TRUE(std::regex_match(e.needle, m, line_re));
  EXPECT_EQ(m[2].str(), e.answer);
  EXPECT_EQ(std::stoll(m[1].str()), e.needle_unit + 1);
  EXPECT_NE(p.find("Tell me what is the <REGISTER_CONTENT> in line " + m[1].str() + "? I need the number."),
            std::string::npos);
  EXPECT_EQ(e.completion, e.answer + ">\n");
  // Adjective-noun indices are distinct.
  TaskOptions o;
  o.line_index = "words";
  auto w = make_task_example_units(TaskKind::Lines, 300, 0.5, 5, o);
  std::regex word_re(R"(\nline ([a-z]+-[a-z]+): REGISTER)");  // not the "Answer: line ..." lead
  std::set<std::string> seen;
  std::string wp = w.prompt();
  for (auto it = std::sregex_iterator(wp.begin(), wp.end(), word_re); it != std::sregex_iterator(); ++it)
    EXPECT_TRUE(seen.insert((*it)[1].str()).second) << (*it)[1].str();
  EXPECT_EQ(int64_t(seen.size()), 300);
}

TEST(Tasks, TopicsAskForTheFirstTopic) {
  ByteTokenizer tok;
  auto e = make_task_example(TaskKind::Topics, tok, 2000, 0.9, 2);
  std::string p = e.prompt();
  std::regex open_re(R"(USER: I would like to discuss the topic of ([^.]+)\.)");
  std::vector<std::string> topics;
  for (auto it = std::sregex_iterator(p.begin(), p.end(), open_re); it != std::sregex_iterator(); ++it)
    topics.push_back((*it)[1].str());
  ASSERT_EQ(int64_t(topics.size()), e.units);
  ASSERT_GE(topics.size(), 3u);
  EXPECT_EQ(topics[0], e.answer);
  EXPECT_EQ(std::set<std::string>(topics.begin(), topics.end()).size(), topics.size());  // distinct
  EXPECT_EQ(e.depth, 0.0);
  EXPECT_TRUE(p.ends_with("ASSISTANT: The first topic is"));
  EXPECT_EQ(e.completion, " " + e.answer + "\n");
}

TEST(Tasks, BadInputIsAnError) {
  ByteTokenizer tok;
  EXPECT_NE(error_of([&] { parse_task_kind("needle"); }).find("not one of passkey, lines, topics"), std::string::npos);
  EXPECT_NE(error_of([&] { make_task_example(TaskKind::Lines, tok, 50, 0.5, 1); }).find("cannot hold"),
            std::string::npos);
  EXPECT_NE(error_of([&] { make_task_example(TaskKind::Passkey, tok, 500, 1.5, 1); }).find("depth"), std::string::npos);
  TaskOptions o;
  o.header = "long";
  EXPECT_NE(error_of([&] { make_task_example(TaskKind::Lines, tok, 500, 0.5, 1, o); }).find("header"),
            std::string::npos);
}

TEST(Tasks, CorpusHoldsOneExamplePerDocument) {
  TempDir dir;
  TaskCorpusOptions o;
  o.kind = TaskKind::Lines;
  o.max_tokens = 200;
  o.min_tokens = 120;
  o.train_examples = 20;
  o.val_examples = 4;
  o.task.header = "short";
  auto r = write_task_corpus(dir / "c", o);
  auto train = TokenFile::open(dir / "c/train.tok");
  auto val = TokenFile::open(dir / "c/val.tok");
  EXPECT_EQ(train.document_count(), 20);
  EXPECT_EQ(val.document_count(), 4);
  EXPECT_EQ(train.size(), r.train_tokens);
  ByteTokenizer tok;
  for (int64_t d = 0; d < train.document_count(); ++d) {
    auto ids = train.read(train.document_start(d), train.document_end(d) - train.document_start(d));
    ASSERT_EQ(ids.back(), tok.eos_id());
    ids.pop_back();
    std::string text = tok.decode(ids);
    EXPECT_TRUE(text.starts_with("Remember the lines.\n")) << text;
    EXPECT_TRUE(std::regex_search(text, std::regex(R"(Answer: line \d+: REGISTER_CONTENT is <\d+>\n$)"))) << text;
    // The prompt (all but the completion "n>\n") lies in [min, max] tokens... or below min
    // when one more line would overshoot max.
    EXPECT_LE(int64_t(ids.size()), 200 + 8);
  }
  EXPECT_TRUE(std::filesystem::exists(dir / "c/meta.json"));
  // The same options write the same bytes.
  write_task_corpus(dir / "d", o);
  auto again = TokenFile::open(dir / "d/train.tok");
  EXPECT_EQ(again.read(0, again.size()), train.read(0, train.size()));
}

// With a BPE tokenizer: prompts are sized in its tokens, the needle's token range decodes
// to the needle, and a task corpus records the tokenizer's spec.
TEST(Tasks, SentencePieceTokenizer) {
  TempDir dir;
  std::string text;
  TaskOptions o;
  o.header = "short";
  for (uint64_t seed = 0; seed < 30; ++seed)
    for (TaskKind k : kAll) text += make_task_example_units(k, 4, 0.5, seed, o).prompt() + "\n";
  testing::write_text(dir / "tasks.txt", text);
  std::string model = train_sentencepiece({dir / "tasks.txt"}, 400, dir / "bpe");
  auto tok = make_tokenizer("spm:" + model);
  ByteTokenizer bytes;
  for (TaskKind k : kAll) {
    auto e = make_task_example(k, *tok, 300, 0.5, 99, o);
    auto t = encode_task(e, *tok);
    EXPECT_LE(int64_t(t.prompt.size()), 300);
    EXPECT_GT(int64_t(encode_task(make_task_example_units(k, e.units + 1, 0.5, 99, o), *tok).prompt.size()), 300);
    // BPE merges bytes: the same token budget holds more units than with bytes.
    EXPECT_GT(e.units, make_task_example(k, bytes, 300, 0.5, 99, o).units) << task_kind_name(k);
    std::vector<int32_t> span(t.prompt.begin() + t.needle_begin, t.prompt.begin() + t.needle_end);
    EXPECT_EQ(tok->decode(span), e.needle);
  }
  TaskCorpusOptions co;
  co.tokenizer = "spm:" + model;
  co.max_tokens = 120;
  co.train_examples = 5;
  co.val_examples = 2;
  co.task = o;
  write_task_corpus(dir / "c", co);
  EXPECT_NE(testing::read_bytes(dir / "c/meta.json").find("\"spec\": \"spm:"), std::string::npos);
  EXPECT_EQ(TokenFile::open(dir / "c/train.tok").vocab_size(), uint64_t(tok->vocab_size()));
}

}  // namespace
}  // namespace attnlab::data
