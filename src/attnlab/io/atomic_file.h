// Whole-file reads and atomic writes (DESIGN.md conventions 8 and 9: never a partly
// overwritten output).
//
// An atomic write goes to `<path>.tmp.<pid>` in the target's own directory (rename is
// only atomic within one file system), is fsynced, renamed over the target, and the
// directory is fsynced so the rename itself survives a crash. On any error the
// temporary is removed, the target keeps its old contents, and attnlab::Error names the
// path and the OS reason.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace attnlab::io {

// The whole file as bytes. Missing or unreadable files give one line naming the path
// and the OS reason.
std::string read_file(const std::string& path);

// Replaces `path` with `bytes` atomically.
void write_file_atomic(const std::string& path, std::string_view bytes);

// Streams a large file (a checkpoint) to its temporary; commit() publishes it. A writer
// destroyed without commit() (an exception on the way) removes its temporary.
//   AtomicWriter w(path);  w.write(header);  w.write(data, n);  w.commit();
class AtomicWriter {
 public:
  explicit AtomicWriter(std::string path);
  ~AtomicWriter();
  AtomicWriter(const AtomicWriter&) = delete;
  AtomicWriter& operator=(const AtomicWriter&) = delete;

  void write(const void* data, size_t bytes);
  void write(std::string_view bytes) { write(bytes.data(), bytes.size()); }
  // Overwrites bytes already written (a header patched once the sizes are known).
  void write_at(uint64_t offset, const void* data, size_t bytes);
  // fsync, rename over the target, fsync the directory. The writer is closed afterwards.
  void commit();
  // Drops the temporary; the target is untouched. Safe to call more than once.
  void abort() noexcept;

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_path_; }
  uint64_t bytes_written() const { return bytes_written_; }
  bool is_open() const { return fd_ >= 0; }

 private:
  [[noreturn]] void fail(const std::string& what, int err);
  std::string path_;
  std::string temp_path_;
  int fd_ = -1;
  uint64_t bytes_written_ = 0;
};

}  // namespace attnlab::io
