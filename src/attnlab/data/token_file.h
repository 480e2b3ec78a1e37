// Token files (.tok): a tokenised corpus split, read back with mmap so a training run
// touches only the pages its batches use and any number of processes share one copy.
//
// Format, version 1. Every integer is little-endian.
//
//   offset  size        field
//   0       8           magic "ATNLTOK\0"
//   8       4           version (1)
//   12      4           element width in bytes: 2 (uint16) when vocab_size <= 65535, else 4 (uint32)
//   16      8           vocab_size: every token is < vocab_size
//   24      8           N: token count
//   32      8           D: document count (>= 1)
//   40      8           tokens_offset: byte offset of the tokens (64)
//   48      8           docs_offset: byte offset of the document table
//                       (tokens_offset + N * width, rounded up to a multiple of 8)
//   56      8           reserved, 0
//   64      N * width   the tokens, documents back to back (each ends with the tokenizer's EOS
//                       when written by `attnlab data prepare`)
//   docs    (D+1) * 8   uint64 start of each document (a token index), then N;
//                       starts[0] = 0 and starts are non-decreasing
//
// The file is exactly docs_offset + (D+1) * 8 bytes. The document table comes last so a
// writer can stream documents without knowing their count in advance.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "attnlab/io/atomic_file.h"

namespace attnlab::data {

inline constexpr char kTokenFileMagic[8] = {'A', 'T', 'N', 'L', 'T', 'O', 'K', '\0'};
inline constexpr uint32_t kTokenFileVersion = 1;
inline constexpr uint64_t kTokenFileHeaderBytes = 64;

// Streams documents into a token file; nothing appears at `path` until finish().
class TokenFileWriter {
 public:
  TokenFileWriter(const std::string& path, uint64_t vocab_size);
  // Appends one document; every id must lie in [0, vocab_size).
  void add_document(std::span<const int32_t> tokens);
  // Writes the document table and header and renames into place. Zero documents is an error.
  void finish();

  uint64_t token_count() const { return token_count_; }
  uint64_t document_count() const { return doc_starts_.size(); }

 private:
  io::AtomicWriter file_;
  uint64_t vocab_size_;
  uint32_t width_;
  uint64_t token_count_ = 0;
  std::vector<uint64_t> doc_starts_;
  std::vector<unsigned char> buffer_;
};

// Writes a whole token file from one token array and the start of each document.
void write_token_file(const std::string& path, uint64_t vocab_size, std::span<const int32_t> tokens,
                      std::span<const uint64_t> doc_starts);

// A read-only memory map of a token file, validated when opened: size, magic, version,
// width, document table and (unless check_tokens is false) every token < vocab_size.
class TokenFile {
 public:
  static TokenFile open(const std::string& path, bool check_tokens = true);
  TokenFile(TokenFile&& other) noexcept;
  TokenFile& operator=(TokenFile&& other) noexcept;
  TokenFile(const TokenFile&) = delete;
  TokenFile& operator=(const TokenFile&) = delete;
  ~TokenFile();

  const std::string& path() const { return path_; }
  uint64_t vocab_size() const { return vocab_size_; }
  uint32_t width() const { return width_; }
  int64_t size() const { return int64_t(token_count_); }  // tokens
  int64_t document_count() const { return int64_t(doc_count_); }
  // Token range [start, end) of document d.
  int64_t document_start(int64_t d) const;
  int64_t document_end(int64_t d) const { return document_start(d + 1); }

  int32_t token(int64_t i) const;
  // Copies tokens [start, start + n) into out as int32.
  void read(int64_t start, int64_t n, int32_t* out) const;
  std::vector<int32_t> read(int64_t start, int64_t n) const;

 private:
  TokenFile() = default;
  void release();

  std::string path_;
  const unsigned char* map_ = nullptr;
  size_t map_bytes_ = 0;
  const unsigned char* tokens_ = nullptr;
  const unsigned char* docs_ = nullptr;
  uint64_t vocab_size_ = 0, token_count_ = 0, doc_count_ = 0;
  uint32_t width_ = 0;
};

}  // namespace attnlab::data
