#include "attnlab/data/token_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>

#include "attnlab/core/error.h"

namespace attnlab::data {

static_assert(std::endian::native == std::endian::little,
              "token files are little-endian and read in place; a big-endian host needs byte swaps");

namespace {

constexpr size_t kFlushBytes = size_t(1) << 20;

uint32_t width_for_vocab(uint64_t vocab_size) { return vocab_size <= 65535 ? 2 : 4; }
uint64_t align8(uint64_t x) { return (x + 7) & ~uint64_t(7); }

template <class T>
void put(unsigned char* header, size_t offset, T value) { std::memcpy(header + offset, &value, sizeof(T)); }
template <class T>
T get(const unsigned char* header, size_t offset) {
  T v;
  std::memcpy(&v, header + offset, sizeof(T));
  return v;
}

}  // namespace

// ---- writing ----

TokenFileWriter::TokenFileWriter(const std::string& path, uint64_t vocab_size)
    : file_(path), vocab_size_(vocab_size), width_(width_for_vocab(vocab_size)) {
  ATTNLAB_CHECK(vocab_size >= 1 && vocab_size <= uint64_t(std::numeric_limits<int32_t>::max()),
                "token file ", path, ": vocabulary size ", vocab_size, " out of range, expected 1..",
                std::numeric_limits<int32_t>::max());
  unsigned char header[kTokenFileHeaderBytes] = {};  // rewritten by finish()
  file_.write(header, sizeof(header));
  buffer_.reserve(kFlushBytes + 4096);
}

void TokenFileWriter::add_document(std::span<const int32_t> tokens) {
  doc_starts_.push_back(token_count_);
  for (size_t i = 0; i < tokens.size(); ++i) {
    int32_t t = tokens[i];
    ATTNLAB_CHECK(t >= 0 && uint64_t(t) < vocab_size_, "token file ", file_.path(), ": document ",
                  doc_starts_.size() - 1, " has token ", t, " at position ", i, ", expected 0..",
                  vocab_size_ - 1);
    if (width_ == 2) {
      uint16_t v = uint16_t(t);
      const auto* b = reinterpret_cast<const unsigned char*>(&v);
      buffer_.insert(buffer_.end(), b, b + 2);
    } else {
      uint32_t v = uint32_t(t);
      const auto* b = reinterpret_cast<const unsigned char*>(&v);
      buffer_.insert(buffer_.end(), b, b + 4);
    }
    if (buffer_.size() >= kFlushBytes) {
      file_.write(buffer_.data(), buffer_.size());
      buffer_.clear();
    }
  }
  token_count_ += tokens.size();
}

void TokenFileWriter::finish() {
  ATTNLAB_CHECK(!doc_starts_.empty(), "token file ", file_.path(), ": no documents to write, expected at least 1");
  file_.write(buffer_.data(), buffer_.size());
  buffer_.clear();
  const uint64_t docs_offset = align8(kTokenFileHeaderBytes + token_count_ * width_);
  const unsigned char zeros[8] = {};
  file_.write(zeros, docs_offset - file_.bytes_written());
  std::vector<uint64_t> table = doc_starts_;
  table.push_back(token_count_);
  file_.write(table.data(), table.size() * sizeof(uint64_t));

  unsigned char header[kTokenFileHeaderBytes] = {};
  std::memcpy(header, kTokenFileMagic, 8);
  put<uint32_t>(header, 8, kTokenFileVersion);
  put<uint32_t>(header, 12, width_);
  put<uint64_t>(header, 16, vocab_size_);
  put<uint64_t>(header, 24, token_count_);
  put<uint64_t>(header, 32, uint64_t(doc_starts_.size()));
  put<uint64_t>(header, 40, kTokenFileHeaderBytes);
  put<uint64_t>(header, 48, docs_offset);
  file_.write_at(0, header, sizeof(header));
  file_.commit();
}

void write_token_file(const std::string& path, uint64_t vocab_size, std::span<const int32_t> tokens,
                      std::span<const uint64_t> doc_starts) {
  ATTNLAB_CHECK(!doc_starts.empty(), "token file ", path, ": no documents to write, expected at least 1");
  ATTNLAB_CHECK(doc_starts[0] == 0, "token file ", path, ": the first document starts at ", doc_starts[0],
                ", expected 0");
  TokenFileWriter w(path, vocab_size);
  for (size_t d = 0; d < doc_starts.size(); ++d) {
    uint64_t b = doc_starts[d], e = d + 1 < doc_starts.size() ? doc_starts[d + 1] : tokens.size();
    ATTNLAB_CHECK(b <= e && e <= tokens.size(), "token file ", path, ": document ", d, " spans [", b, ", ", e,
                  "), expected non-decreasing starts within the ", tokens.size(), " tokens");
    w.add_document(tokens.subspan(b, e - b));
  }
  w.finish();
}

// ---- reading ----

TokenFile TokenFile::open(const std::string& path, bool check_tokens) {
  TokenFile f;
  f.path_ = path;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ATTNLAB_CHECK(fd >= 0, "token file ", path, ": cannot open: ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    throw Error(cat("token file ", path, ": cannot stat: ", std::strerror(err)));
  }
  const uint64_t bytes = uint64_t(st.st_size);
  if (bytes < kTokenFileHeaderBytes) {
    ::close(fd);
    throw Error(cat("token file ", path, ": truncated: ", bytes, " bytes, shorter than the ",
                    kTokenFileHeaderBytes, "-byte header"));
  }
  void* m = ::mmap(nullptr, bytes, PROT_READ, MAP_PRIVATE, fd, 0);
  int map_err = errno;
  ::close(fd);  // the mapping keeps the file alive
  ATTNLAB_CHECK(m != MAP_FAILED, "token file ", path, ": cannot mmap: ", std::strerror(map_err));
  f.map_ = static_cast<const unsigned char*>(m);
  f.map_bytes_ = bytes;

  const unsigned char* h = f.map_;
  ATTNLAB_CHECK(std::memcmp(h, kTokenFileMagic, 8) == 0, "token file ", path,
                ": wrong magic, not an attnlab token file (expected \"ATNLTOK\")");
  const uint32_t version = get<uint32_t>(h, 8);
  ATTNLAB_CHECK(version == kTokenFileVersion, "token file ", path, ": version ", version,
                ", this build reads version ", kTokenFileVersion);
  f.width_ = get<uint32_t>(h, 12);
  f.vocab_size_ = get<uint64_t>(h, 16);
  f.token_count_ = get<uint64_t>(h, 24);
  f.doc_count_ = get<uint64_t>(h, 32);
  const uint64_t tokens_offset = get<uint64_t>(h, 40), docs_offset = get<uint64_t>(h, 48);
  ATTNLAB_CHECK(f.vocab_size_ >= 1 && f.vocab_size_ <= uint64_t(std::numeric_limits<int32_t>::max()),
                "token file ", path, ": vocabulary size ", f.vocab_size_, " out of range");
  ATTNLAB_CHECK(f.width_ == width_for_vocab(f.vocab_size_), "token file ", path, ": element width ", f.width_,
                " bytes, expected ", width_for_vocab(f.vocab_size_), " for vocabulary size ", f.vocab_size_);
  ATTNLAB_CHECK(f.doc_count_ >= 1, "token file ", path, ": 0 documents, expected at least 1");
  ATTNLAB_CHECK(tokens_offset == kTokenFileHeaderBytes, "token file ", path, ": tokens offset ", tokens_offset,
                ", expected ", kTokenFileHeaderBytes);
  // Bound the counts by the file size before multiplying, so a corrupt header cannot overflow.
  ATTNLAB_CHECK(f.token_count_ <= bytes / f.width_ && f.doc_count_ < bytes / 8, "token file ", path,
                ": truncated: header declares ", f.token_count_, " tokens and ", f.doc_count_,
                " documents, file has ", bytes, " bytes");
  const uint64_t expect_docs = align8(tokens_offset + f.token_count_ * f.width_);
  ATTNLAB_CHECK(docs_offset == expect_docs, "token file ", path, ": document table offset ", docs_offset,
                ", expected ", expect_docs);
  const uint64_t expect_bytes = docs_offset + (f.doc_count_ + 1) * 8;
  ATTNLAB_CHECK(bytes >= expect_bytes, "token file ", path, ": truncated: ", bytes, " bytes, header declares ",
                expect_bytes);
  ATTNLAB_CHECK(bytes == expect_bytes, "token file ", path, ": ", bytes - expect_bytes,
                " trailing bytes after the document table (expected ", expect_bytes, " bytes)");
  f.tokens_ = f.map_ + tokens_offset;
  f.docs_ = f.map_ + docs_offset;

  uint64_t prev = 0;
  for (uint64_t d = 0; d <= f.doc_count_; ++d) {
    const uint64_t s = get<uint64_t>(f.docs_, d * 8);
    ATTNLAB_CHECK(d > 0 || s == 0, "token file ", path, ": document offsets out of range: document 0 starts at ",
                  s, ", expected 0");
    ATTNLAB_CHECK(s >= prev && s <= f.token_count_, "token file ", path, ": document offsets out of range: ",
                  d < f.doc_count_ ? cat("document ", d, " starts") : std::string("the table ends"), " at ", s,
                  ", expected ", prev, "..", f.token_count_);
    prev = s;
  }
  ATTNLAB_CHECK(prev == f.token_count_, "token file ", path, ": document offsets out of range: the table ends at ",
                prev, ", expected the token count ", f.token_count_);

  if (check_tokens) {
    auto scan = [&](const auto* t) {
      for (uint64_t i = 0; i < f.token_count_; ++i)
        ATTNLAB_CHECK(uint64_t(t[i]) < f.vocab_size_, "token file ", path, ": token ", uint64_t(t[i]),
                      " at index ", i, " is outside the vocabulary of ", f.vocab_size_);
    };
    if (f.width_ == 2) scan(reinterpret_cast<const uint16_t*>(f.tokens_));
    else scan(reinterpret_cast<const uint32_t*>(f.tokens_));
  }
  return f;
}

TokenFile::TokenFile(TokenFile&& o) noexcept { *this = std::move(o); }

TokenFile& TokenFile::operator=(TokenFile&& o) noexcept {
  if (this != &o) {
    release();
    path_ = std::move(o.path_);
    map_ = o.map_;
    map_bytes_ = o.map_bytes_;
    tokens_ = o.tokens_;
    docs_ = o.docs_;
    vocab_size_ = o.vocab_size_;
    token_count_ = o.token_count_;
    doc_count_ = o.doc_count_;
    width_ = o.width_;
    o.map_ = nullptr;
    o.map_bytes_ = 0;
  }
  return *this;
}

TokenFile::~TokenFile() { release(); }

void TokenFile::release() {
  if (map_) ::munmap(const_cast<unsigned char*>(map_), map_bytes_);
  map_ = nullptr;
}

int64_t TokenFile::document_start(int64_t d) const {
  ATTNLAB_CHECK(d >= 0 && uint64_t(d) <= doc_count_, "token file ", path_, ": document ", d, " out of range, ",
                doc_count_, " documents");
  return int64_t(get<uint64_t>(docs_, size_t(d) * 8));
}

int32_t TokenFile::token(int64_t i) const {
  ATTNLAB_CHECK(i >= 0 && uint64_t(i) < token_count_, "token file ", path_, ": token index ", i,
                " out of range, ", token_count_, " tokens");
  if (width_ == 2) return int32_t(reinterpret_cast<const uint16_t*>(tokens_)[i]);
  return int32_t(reinterpret_cast<const uint32_t*>(tokens_)[i]);
}

void TokenFile::read(int64_t start, int64_t n, int32_t* out) const {
  ATTNLAB_CHECK(start >= 0 && n >= 0 && uint64_t(start) + uint64_t(n) <= token_count_, "token file ", path_,
                ": read of tokens [", start, ", ", start + n, ") out of range, ", token_count_, " tokens");
  if (width_ == 2) {
    const uint16_t* t = reinterpret_cast<const uint16_t*>(tokens_) + start;
    for (int64_t i = 0; i < n; ++i) out[i] = int32_t(t[i]);
  } else {
    const uint32_t* t = reinterpret_cast<const uint32_t*>(tokens_) + start;
    for (int64_t i = 0; i < n; ++i) out[i] = int32_t(t[i]);
  }
}

std::vector<int32_t> TokenFile::read(int64_t start, int64_t n) const {
  ATTNLAB_CHECK(n >= 0, "token file ", path_, ": read of ", n, " tokens");
  std::vector<int32_t> out(static_cast<size_t>(n));
  read(start, n, out.data());
  return out;
}

}  // namespace attnlab::data
