// Atomic file writes (DESIGN.md convention 8/9): a reader sees either the old file or the
// complete new one, never a partly written output. Bytes go to a temporary file in the
// same directory (so rename(2) cannot cross file systems), which is flushed, fsync'ed and
// renamed over the target; the directory is fsync'ed too so the rename survives a crash.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace attnlab::data {

class AtomicFile {
 public:
  // Creates `<path>.tmp.XXXXXX` beside `path`; the directory must exist.
  explicit AtomicFile(std::string path);
  ~AtomicFile();  // removes the temporary file unless commit() succeeded
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* bytes, size_t n);      // appends
  void write_at(uint64_t offset, const void* bytes, size_t n);  // overwrites earlier bytes
  uint64_t size() const { return size_; }       // bytes appended so far
  void commit();                                 // flush, fsync, rename, fsync directory

  const std::string& path() const { return path_; }

 private:
  std::string path_, tmp_path_;
  std::FILE* file_ = nullptr;
  uint64_t size_ = 0;
  bool committed_ = false;
};

// Writes `contents` to `path` atomically.
void write_file_atomic(const std::string& path, std::string_view contents);

}  // namespace attnlab::data
