#include "attnlab/data/corpus.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "attnlab/core/error.h"
#include "attnlab/data/test_util.h"
#include "attnlab/data/token_file.h"
#include "attnlab/data/tokenizer.h"

namespace attnlab::data {
namespace {

namespace fs = std::filesystem;
using testing::read_bytes;
using testing::TempDir;
using testing::write_text;

TEST(CorpusFiles, WalksFoldersSortsFiltersAndDeduplicates) {
  TempDir dir;
  write_text(dir / "c/b.txt", "b");
  write_text(dir / "c/a.txt", "aa");
  write_text(dir / "c/sub/deep/z.txt", "z");
  write_text(dir / "c/skip.md", "md");
  write_text(dir / "single.md", "single");
  std::vector<CorpusFile> files = list_corpus_files({dir / "c", dir / "single.md", dir / "c/a.txt"}, "*.txt");
  std::vector<std::string> keys, paths;
  for (const auto& f : files) keys.push_back(f.key), paths.push_back(f.path);
  // a.txt named twice is one document; single.md is kept although the pattern does not match it.
  EXPECT_EQ(keys, (std::vector<std::string>{"a.txt", "b.txt", "sub/deep/z.txt", "single.md"}));
  EXPECT_TRUE(std::is_sorted(paths.begin(), paths.end()));
  EXPECT_EQ(files[0].bytes, 2u);

  auto by_path = list_corpus_files({dir / "c"}, "sub/*/*.txt");
  ASSERT_EQ(by_path.size(), 1u);
  EXPECT_EQ(by_path[0].key, "sub/deep/z.txt");
  EXPECT_EQ(list_corpus_files({dir / "c"}).size(), 4u) << "no pattern: every file";

  EXPECT_ERROR(list_corpus_files({dir / "nope"}), "corpus: input " + (dir / "nope") + " does not exist");
  EXPECT_ERROR(list_corpus_files({}), "no inputs given");
}

std::vector<std::string> make_keys(int n) {
  std::vector<std::string> keys;
  for (int i = 0; i < n; ++i) keys.push_back("doc/" + std::to_string(i) + ".txt");
  return keys;
}

TEST(CorpusSplit, IsDeterministicAndFollowsTheFraction) {
  auto keys = make_keys(2000);
  auto a = split_validation(keys, 7, 0.05), b = split_validation(keys, 7, 0.05), c = split_validation(keys, 8, 0.05);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c) << "the seed changes the split";
  int n_val = int(std::count(a.begin(), a.end(), true));
  EXPECT_GT(n_val, 60);  // expectation 100, sd ~10
  EXPECT_LT(n_val, 140);
  // A document's side depends on its key only, not on which other documents exist.
  std::vector<std::string> half(keys.begin(), keys.begin() + 1000);
  auto h = split_validation(half, 7, 0.05);
  for (size_t i = 0; i < half.size(); ++i) EXPECT_EQ(h[i], a[i]);
}

TEST(CorpusSplit, EachSideGetsAtLeastOneDocument) {
  for (int n : {2, 3, 10}) {
    for (double f : {1e-12, 0.5, 1.0 - 1e-12}) {
      auto v = split_validation(make_keys(n), 1, f);
      int n_val = int(std::count(v.begin(), v.end(), true));
      EXPECT_GE(n_val, 1) << n << " docs, fraction " << f;
      EXPECT_LE(n_val, n - 1) << n << " docs, fraction " << f;
    }
  }
  EXPECT_ERROR(split_validation(make_keys(1), 1, 0.5), "1 document(s), the split is by document and needs at least 2");
  EXPECT_ERROR(split_validation(make_keys(5), 1, 0.0), "validation fraction 0, expected a value in (0, 1)");
  EXPECT_ERROR(split_validation(make_keys(5), 1, 1.0), "validation fraction 1");
}

// A corpus of n documents with distinct contents, some non-ASCII, plus one empty file.
std::vector<std::string> write_corpus(const TempDir& dir, int n) {
  std::vector<std::string> texts;
  for (int i = 0; i < n; ++i) {
    std::string t = "document " + std::to_string(i) + "\n" + std::string(size_t(i % 13), 'x') + " caf\xc3\xa9\n";
    write_text(dir / ("corpus/" + std::string(i % 3 == 0 ? "sub/" : "") + "d" + std::to_string(i) + ".txt"), t);
    texts.push_back(t);
  }
  write_text(dir / "corpus/empty.txt", "");
  return texts;
}

TEST(CorpusPrepare, SplitIsDisjointCoversEveryDocumentAndRoundTrips) {
  TempDir dir;
  const int n = 41;
  std::vector<std::string> texts = write_corpus(dir, n);
  PrepareOptions opt;
  opt.inputs = {dir / "corpus"};
  opt.out_dir = dir / "out";
  opt.val_fraction = 0.2;
  opt.seed = 3;
  PrepareResult r = prepare_corpus(opt);
  EXPECT_EQ(r.train.documents + r.val.documents, n);
  EXPECT_GE(r.val.documents, 1);
  EXPECT_GE(r.train.documents, 1);
  EXPECT_EQ(r.empty_files, 1);

  nlohmann::json meta = nlohmann::json::parse(read_bytes(dir / "out/meta.json"));
  EXPECT_EQ(meta["tokenizer"]["spec"], "byte");
  EXPECT_EQ(meta["split"]["seed"], 3);
  ASSERT_EQ(meta["documents"].size(), size_t(n));

  // Decode every document of both files and match it to exactly one source text.
  ByteTokenizer tok;
  std::multiset<std::string> decoded;
  std::set<std::string> train_keys, val_keys;
  for (const auto& d : meta["documents"]) (d["split"] == "val" ? val_keys : train_keys).insert(d["key"].get<std::string>());
  for (const char* name : {"train.tok", "val.tok"}) {
    TokenFile f = TokenFile::open(dir / ("out/" + std::string(name)));
    EXPECT_EQ(f.vocab_size(), 259u);
    EXPECT_EQ(f.document_count(), name[0] == 't' ? r.train.documents : r.val.documents);
    EXPECT_EQ(f.size(), name[0] == 't' ? r.train.tokens : r.val.tokens);
    for (int64_t d = 0; d < f.document_count(); ++d) {
      auto ids = f.read(f.document_start(d), f.document_end(d) - f.document_start(d));
      ASSERT_FALSE(ids.empty());
      EXPECT_EQ(ids.back(), ByteTokenizer::kEos) << "EOS after each document";
      ids.pop_back();
      decoded.insert(tok.decode(ids));
    }
  }
  EXPECT_EQ(decoded, std::multiset<std::string>(texts.begin(), texts.end()));
  for (const auto& k : val_keys) EXPECT_EQ(train_keys.count(k), 0u) << k << " is on both sides";
  EXPECT_EQ(train_keys.size() + val_keys.size(), size_t(n));
  EXPECT_EQ(r.train.tokens + r.val.tokens, r.train.bytes + r.val.bytes + n) << "byte tokens plus one EOS each";

  // The same command again produces the same bytes.
  std::string train1 = read_bytes(dir / "out/train.tok"), val1 = read_bytes(dir / "out/val.tok");
  std::string meta1 = read_bytes(dir / "out/meta.json");
  prepare_corpus(opt);
  EXPECT_EQ(read_bytes(dir / "out/train.tok"), train1);
  EXPECT_EQ(read_bytes(dir / "out/val.tok"), val1);
  EXPECT_EQ(read_bytes(dir / "out/meta.json"), meta1);
}

TEST(CorpusPrepare, EmptyCorporaAndBadOptionsAreErrorsNamingTheInputs) {
  TempDir dir;
  fs::create_directories(dir / "nothing");
  PrepareOptions opt;
  opt.out_dir = dir / "out";
  opt.inputs = {dir / "nothing"};
  EXPECT_ERROR(prepare_corpus(opt), "empty corpus: no files found in inputs " + (dir / "nothing"));
  write_text(dir / "blank/a.txt", "");
  write_text(dir / "blank/b.txt", "");
  opt.inputs = {dir / "blank"};
  EXPECT_ERROR(prepare_corpus(opt), "empty corpus: all 2 files in inputs " + (dir / "blank") + " are empty");
  write_text(dir / "one/a.txt", "just one");
  opt.inputs = {dir / "one"};
  EXPECT_ERROR(prepare_corpus(opt), "1 non-empty document in inputs " + (dir / "one"));
  opt.inputs = {dir / "blank"};
  opt.pattern = "*.md";
  EXPECT_ERROR(prepare_corpus(opt), "no files found in inputs " + (dir / "blank") + " (pattern *.md)");
  opt.pattern = "";
  write_text(dir / "two/a.txt", "a");
  write_text(dir / "two/b.txt", "b");
  opt.inputs = {dir / "two"};
  opt.tokenizer = "wordpiece";
  EXPECT_ERROR(prepare_corpus(opt), "tokenizer spec 'wordpiece'");
  opt.tokenizer = "byte";
  opt.val_fraction = 1.5;
  EXPECT_ERROR(prepare_corpus(opt), "--val-fraction 1.5, expected a value in (0, 1)");
  EXPECT_FALSE(fs::exists(dir / "out/meta.json"));
}

}  // namespace
}  // namespace attnlab::data
