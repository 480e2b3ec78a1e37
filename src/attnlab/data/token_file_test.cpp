#include "attnlab/data/token_file.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <vector>

#include "attnlab/core/error.h"
#include "attnlab/core/rng.h"
#include "attnlab/data/test_util.h"

namespace attnlab::data {
namespace {

namespace fs = std::filesystem;
using testing::read_bytes;
using testing::TempDir;
using testing::write_text;

struct Corpus {
  std::vector<int32_t> tokens;
  std::vector<uint64_t> starts;
};

// n_docs documents of random lengths 0..max_len (empty ones included) over [0, vocab).
Corpus random_corpus(uint64_t seed, int n_docs, int max_len, uint64_t vocab) {
  Rng rng(seed);
  Corpus c;
  for (int d = 0; d < n_docs; ++d) {
    c.starts.push_back(c.tokens.size());
    int len = int(rng.next_below(uint64_t(max_len) + 1));
    for (int i = 0; i < len; ++i) c.tokens.push_back(int32_t(rng.next_below(vocab)));
  }
  return c;
}

TEST(TokenFile, RoundTripsAtOddSizesAndBothWidths) {
  TempDir dir;
  const uint64_t vocabs[] = {259, 65535, 65536, 100003};
  const int doc_counts[] = {1, 3, 63, 127, 1000};
  for (uint64_t vocab : vocabs) {
    for (int n_docs : doc_counts) {
      Corpus c = random_corpus(vocab * 7 + uint64_t(n_docs), n_docs, n_docs == 1000 ? 40 : 301, vocab);
      // The largest id must survive the narrow encoding.
      if (!c.tokens.empty()) c.tokens.back() = int32_t(vocab - 1);
      std::string path = dir / cat("v", vocab, "_d", n_docs, ".tok");
      write_token_file(path, vocab, c.tokens, c.starts);
      TokenFile f = TokenFile::open(path);
      SCOPED_TRACE(path);
      EXPECT_EQ(f.vocab_size(), vocab);
      EXPECT_EQ(f.width(), vocab <= 65535 ? 2u : 4u);
      ASSERT_EQ(f.size(), int64_t(c.tokens.size()));
      ASSERT_EQ(f.document_count(), n_docs);
      EXPECT_EQ(f.read(0, f.size()), c.tokens);
      for (int d = 0; d < n_docs; ++d) {
        EXPECT_EQ(f.document_start(d), int64_t(c.starts[d]));
        EXPECT_EQ(f.document_end(d), d + 1 < n_docs ? int64_t(c.starts[d + 1]) : f.size());
      }
      if (f.size() > 0) {
        EXPECT_EQ(f.token(f.size() - 1), int32_t(vocab - 1));
      }
      uint64_t docs_offset = (64 + c.tokens.size() * f.width() + 7) / 8 * 8;
      EXPECT_EQ(fs::file_size(path), docs_offset + (uint64_t(n_docs) + 1) * 8);
    }
  }
}

TEST(TokenFile, StreamingWriterMatchesWholeWriter) {
  TempDir dir;
  Corpus c = random_corpus(5, 127, 63, 259);
  write_token_file(dir / "whole.tok", 259, c.tokens, c.starts);
  TokenFileWriter w(dir / "stream.tok", 259);
  for (size_t d = 0; d < c.starts.size(); ++d) {
    size_t e = d + 1 < c.starts.size() ? c.starts[d + 1] : c.tokens.size();
    w.add_document(std::span<const int32_t>(c.tokens).subspan(c.starts[d], e - c.starts[d]));
  }
  EXPECT_EQ(w.document_count(), 127u);
  w.finish();
  EXPECT_EQ(read_bytes(dir / "stream.tok"), read_bytes(dir / "whole.tok"));
}

TEST(TokenFile, ZeroDocumentsAndBadTokensAreErrors) {
  TempDir dir;
  EXPECT_ERROR({ TokenFileWriter w(dir / "empty.tok", 259); w.finish(); }, "no documents to write, expected at least 1");
  EXPECT_ERROR(write_token_file(dir / "empty2.tok", 259, {}, {}), "no documents to write");
  EXPECT_FALSE(fs::exists(dir / "empty.tok"));
  std::vector<int32_t> toks = {1, 2, 259};
  std::vector<uint64_t> starts = {0};
  EXPECT_ERROR(write_token_file(dir / "bad.tok", 259, toks, starts), "token 259 at position 2, expected 0..258");
  std::vector<int32_t> neg = {-3};
  EXPECT_ERROR(write_token_file(dir / "neg.tok", 259, neg, starts), "token -3");
  EXPECT_ERROR(TokenFileWriter(dir / "v0.tok", 0), "vocabulary size 0 out of range");
  // Nothing, not even a temporary file, is left behind by the failed writes.
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

TEST(TokenFile, AnAbandonedWriteLeavesTheOldFileIntact) {
  TempDir dir;
  std::vector<int32_t> toks = {7, 8, 9};
  std::vector<uint64_t> starts = {0, 2};
  write_token_file(dir / "a.tok", 259, toks, starts);
  std::string before = read_bytes(dir / "a.tok");
  {
    TokenFileWriter w(dir / "a.tok", 259);
    w.add_document(toks);
  }  // destroyed without finish()
  EXPECT_EQ(read_bytes(dir / "a.tok"), before);
  int entries = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator(dir.path())) entries++;
  EXPECT_EQ(entries, 1) << "the temporary file must be removed";
}

// A valid file with 3 documents to corrupt in the tests below.
std::string valid_file(const TempDir& dir) {
  std::vector<int32_t> toks = {1, 2, 3, 4, 5, 6, 7};
  std::vector<uint64_t> starts = {0, 3, 5};
  write_token_file(dir / "good.tok", 259, toks, starts);
  return read_bytes(dir / "good.tok");
}

template <class T>
void poke(std::string& bytes, size_t offset, T value) { std::memcpy(bytes.data() + offset, &value, sizeof(T)); }

TEST(TokenFile, CorruptFilesGiveOneClearErrorNamingTheFile) {
  TempDir dir;
  const std::string good = valid_file(dir);
  // Header (64) + 7 tokens * 2 bytes = 78, padded to 80; then 4 offsets of 8 bytes.
  ASSERT_EQ(good.size(), 80u + 4 * 8);
  auto open_corrupt = [&](const std::string& name, const std::string& bytes) {
    std::string path = dir / name;
    write_text(path, bytes);
    return testing::error_of([&] { TokenFile::open(path); });
  };
  auto expect = [&](const std::string& name, const std::string& bytes, const std::string& what) {
    std::string msg = open_corrupt(name, bytes);
    EXPECT_NE(msg.find("token file " + (dir / name) + ": "), std::string::npos) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << "error was '" << msg << "', expected '" << what << "'";
  };

  expect("empty.tok", "", "truncated: 0 bytes, shorter than the 64-byte header");
  expect("short.tok", good.substr(0, 10), "truncated: 10 bytes");
  expect("header_only.tok", good.substr(0, 64), "truncated");
  expect("cut_table.tok", good.substr(0, good.size() - 1), "truncated: 111 bytes, header declares 112");
  expect("cut_tokens.tok", good.substr(0, 70), "truncated");
  expect("trailing.tok", good + "xx", "2 trailing bytes");

  std::string s = good;
  s[0] = 'X';
  expect("magic.tok", s, "wrong magic");
  s = good;
  poke<uint32_t>(s, 8, 2);
  expect("version.tok", s, "version 2, this build reads version 1");
  s = good;
  poke<uint32_t>(s, 12, 4);
  expect("width.tok", s, "element width 4 bytes, expected 2");
  s = good;
  poke<uint64_t>(s, 32, 0);
  expect("nodocs.tok", s, "0 documents, expected at least 1");
  s = good;
  poke<uint64_t>(s, 24, uint64_t(1) << 40);
  expect("huge.tok", s, "truncated: header declares 1099511627776 tokens");

  const size_t table = 80;
  s = good;
  poke<uint64_t>(s, table + 8 * 1, 99);  // document 1 starts past the end
  expect("offset_big.tok", s, "document offsets out of range: document 1 starts at 99, expected 0..7");
  s = good;
  poke<uint64_t>(s, table + 8 * 2, 2);  // document 2 starts before document 1
  expect("offset_order.tok", s, "document offsets out of range: document 2 starts at 2, expected 3..7");
  s = good;
  poke<uint64_t>(s, table, 1);
  expect("offset_first.tok", s, "document offsets out of range: document 0 starts at 1, expected 0");
  s = good;
  poke<uint64_t>(s, table + 8 * 3, 6);
  expect("offset_end.tok", s, "the table ends at 6, expected the token count 7");

  s = good;
  poke<uint16_t>(s, 64 + 2 * 4, 300);
  expect("token.tok", s, "token 300 at index 4 is outside the vocabulary of 259");
  EXPECT_EQ(TokenFile::open(dir / "token.tok", /*check_tokens=*/false).token(4), 300)
      << "check_tokens=false skips only the token scan";

  EXPECT_ERROR(TokenFile::open(dir / "missing.tok"), "token file " + (dir / "missing.tok") + ": cannot open");
}

TEST(TokenFile, ReadsOutsideTheFileAreErrors) {
  TempDir dir;
  valid_file(dir);
  TokenFile f = TokenFile::open(dir / "good.tok");
  EXPECT_ERROR(f.read(5, 3), "read of tokens [5, 8) out of range, 7 tokens");
  EXPECT_ERROR(f.token(7), "token index 7 out of range");
  EXPECT_ERROR(f.document_start(4), "document 4 out of range, 3 documents");
  EXPECT_EQ(f.read(5, 2), (std::vector<int32_t>{6, 7}));
  TokenFile moved = std::move(f);
  EXPECT_EQ(moved.token(0), 1);
}

}  // namespace
}  // namespace attnlab::data
