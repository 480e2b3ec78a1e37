#include "attnlab/data/tokenizer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "attnlab/core/error.h"
#include "attnlab/core/rng.h"
#include "attnlab/data/test_util.h"

namespace attnlab::data {
namespace {

using testing::read_bytes;
using testing::TempDir;
using testing::write_text;

TEST(ByteTokenizer, RoundTripsAsciiAndNonAsciiUtf8) {
  ByteTokenizer tok;
  const std::string texts[] = {
      "", "a", "hello, world\n\tindented  twice",
      "h\xc3\xa9llo w\xc3\xb6rld \xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x99\x82",  // héllo wörld — 日本語 🙂
  };
  for (const std::string& s : texts) {
    std::vector<int32_t> ids = tok.encode(s);
    ASSERT_EQ(ids.size(), s.size()) << "one id per byte";
    for (size_t i = 0; i < s.size(); ++i) EXPECT_EQ(ids[i], int32_t(static_cast<unsigned char>(s[i])));
    EXPECT_EQ(tok.decode(ids), s);
  }
}

TEST(ByteTokenizer, InvalidUtf8AndEveryByteComeBackUnchanged) {
  ByteTokenizer tok;
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(char(b));
  EXPECT_EQ(tok.decode(tok.encode(all)), all);
  const std::string invalid = "ok \xff\xfe \x80 \xc3 (truncated) \xed\xa0\x80 (surrogate)";
  EXPECT_EQ(tok.decode(tok.encode(invalid)), invalid);
}

TEST(ByteTokenizer, SpecialIdsAndErrors) {
  ByteTokenizer tok;
  EXPECT_EQ(tok.vocab_size(), 259);
  EXPECT_EQ(tok.bos_id(), 256);
  EXPECT_EQ(tok.eos_id(), 257);
  EXPECT_EQ(tok.pad_id(), 258);
  EXPECT_EQ(tok.spec(), "byte");
  std::vector<int32_t> ids = {256, 'h', 'i', 257, 258};
  EXPECT_EQ(tok.decode(ids), "hi") << "special ids produce no text";
  std::vector<int32_t> bad = {'a', 259};
  EXPECT_ERROR(tok.decode(bad), "id 259 at position 1, expected 0..258");
  std::vector<int32_t> neg = {-1};
  EXPECT_ERROR(tok.decode(neg), "id -1");
}

TEST(MakeTokenizer, BuildsFromSpecsAndRejectsBadOnes) {
  EXPECT_EQ(make_tokenizer("byte")->name(), "byte");
  EXPECT_ERROR(make_tokenizer("bpe"), "tokenizer spec 'bpe': expected 'byte' or 'spm:PATH'");
  EXPECT_ERROR(make_tokenizer(""), "expected 'byte' or 'spm:PATH'");
  EXPECT_ERROR(make_tokenizer("spm:"), "missing model path");
  EXPECT_ERROR(make_tokenizer("spm:/no/such/dir/x.model"), "model file /no/such/dir/x.model does not exist");
  TempDir dir;
  write_text(dir / "garbage.model", "this is not a protobuf");
  EXPECT_ERROR(make_tokenizer("spm:" + (dir / "garbage.model")), "cannot load model " + (dir / "garbage.model"));
}

// A small corpus with a Zipf-ish word distribution, some non-ASCII words and code lines.
std::string generated_text(uint64_t seed, int lines) {
  const char* words[] = {"the", "of", "and", "a", "to", "in", "is", "attention", "token", "model",
                         "layer", "value", "key", "query", "softmax", "gradient", "caf\xc3\xa9", "na\xc3\xafve",
                         "\xce\xbb", "def", "return", "self", "x", "=", "(", ")", ":", "42", "2026"};
  const int n_words = int(sizeof(words) / sizeof(words[0]));
  Rng rng(seed);
  std::string s;
  for (int l = 0; l < lines; ++l) {
    if (l % 7 == 0) s += "    ";
    int len = 3 + int(rng.next_below(12));
    for (int w = 0; w < len; ++w) {
      double u = rng.next_uniform();
      s += words[int(u * u * n_words)];  // squaring skews towards the first words
      s += w + 1 < len ? " " : "";
    }
    s += l % 5 == 0 ? ".\n\n" : "\n";
  }
  return s;
}

TEST(SentencePiece, TrainsBpeAndRoundTripsText) {
  auto t0 = std::chrono::steady_clock::now();
  TempDir dir;
  write_text(dir / "a.txt", generated_text(1, 1500));
  write_text(dir / "b.txt", generated_text(2, 1500));
  std::string model = train_sentencepiece({dir / "a.txt", dir / "b.txt"}, 400, dir / "sub/tok");
  EXPECT_EQ(model, dir / "sub/tok.model");
  EXPECT_FALSE(read_bytes(dir / "sub/tok.vocab").empty());

  auto tok = make_tokenizer("spm:" + model);
  EXPECT_EQ(tok->name(), "sentencepiece");
  EXPECT_EQ(tok->vocab_size(), 400);
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
  EXPECT_EQ(tok->pad_id(), 3);

  // Held-out text, plus what the training text never had: tabs, runs of spaces, CR,
  // characters outside the training alphabet (byte fallback).
  const std::string texts[] = {
      generated_text(3, 40),
      "  leading spaces\ttab\r\nand\n\n\nnewlines   trailing  ",
      "unseen: \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x99\x82 Zebra #{}~",
  };
  for (const std::string& s : texts) {
    std::vector<int32_t> ids = tok->encode(s);
    for (int32_t id : ids) ASSERT_TRUE(id >= 0 && id < 400);
    EXPECT_EQ(tok->decode(ids), s);
  }
  const std::vector<int32_t> held_out = tok->encode(texts[0]);
  EXPECT_LT(held_out.size() * 2, texts[0].size()) << "BPE merges should at least halve the length of in-domain text";

  // The spec recreates an identical tokenizer.
  auto again = make_tokenizer(tok->spec());
  EXPECT_EQ(again->encode(texts[0]), held_out);
  std::vector<int32_t> bad = {400};
  EXPECT_ERROR(tok->decode(bad), "id 400 at position 0, expected 0..399");

  // Same inputs and seed, same model bytes.
  train_sentencepiece({dir / "a.txt", dir / "b.txt"}, 400, dir / "again");
  EXPECT_EQ(read_bytes(dir / "again.model"), read_bytes(model));
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(seconds, 10.0) << "keep the tokenizer test fast";
}

TEST(SentencePiece, TrainingErrorsNameTheProblem) {
  TempDir dir;
  write_text(dir / "a.txt", generated_text(1, 50));
  EXPECT_ERROR(train_sentencepiece({dir / "a.txt"}, 100, dir / "m"), "vocabulary size 100 too small");
  EXPECT_ERROR(train_sentencepiece({dir / "missing.txt"}, 400, dir / "m"), "input " + (dir / "missing.txt") + " is not a readable file");
  EXPECT_ERROR(train_sentencepiece({}, 400, dir / "m"), "no input files");
}

}  // namespace
}  // namespace attnlab::data
