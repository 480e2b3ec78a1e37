#include "attnlab/io/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "attnlab/core/error.h"

namespace attnlab::io {

namespace {

std::string os_reason(int err) { return std::strerror(err); }

// The directory that holds `path`, for the fsync that makes a rename durable.
std::string parent_dir(const std::string& path) {
  std::string parent = std::filesystem::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

}  // namespace

std::string read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ATTNLAB_CHECK(fd >= 0, "cannot open '", path, "' for reading: ", os_reason(errno));
  std::string out;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) out.reserve(size_t(st.st_size));
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      throw Error(cat("cannot read '", path, "': ", os_reason(err)));
    }
    if (n == 0) break;
    out.append(buf, size_t(n));
  }
  ::close(fd);
  return out;
}

void write_file_atomic(const std::string& path, std::string_view bytes) {
  AtomicWriter w(path);
  w.write(bytes);
  w.commit();
}

AtomicWriter::AtomicWriter(std::string path) : path_(std::move(path)) {
  ATTNLAB_CHECK(!path_.empty(), "atomic write: empty output path");
  temp_path_ = path_ + ".tmp." + std::to_string(::getpid());
  fd_ = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ATTNLAB_CHECK(fd_ >= 0, "cannot write '", path_, "': cannot create temporary '", temp_path_,
                "': ", os_reason(errno));
}

AtomicWriter::~AtomicWriter() { abort(); }

void AtomicWriter::abort() noexcept {
  if (fd_ < 0) return;
  ::close(fd_);
  fd_ = -1;
  ::unlink(temp_path_.c_str());
}

void AtomicWriter::fail(const std::string& what, int err) {
  abort();
  throw Error(cat("cannot write '", path_, "': ", what, ": ", os_reason(err)));
}

void AtomicWriter::write(const void* data, size_t bytes) {
  ATTNLAB_CHECK(fd_ >= 0, "cannot write '", path_, "': the writer is already closed");
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    // Linux moves at most ~2 GiB per write(); larger requests come back partial.
    ssize_t n = ::write(fd_, p, bytes);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(cat("write to '", temp_path_, "' failed after ", bytes_written_, " bytes"), errno);
    p += n;
    bytes -= size_t(n);
    bytes_written_ += uint64_t(n);
  }
}

void AtomicWriter::write_at(uint64_t offset, const void* data, size_t bytes) {
  ATTNLAB_CHECK(fd_ >= 0, "cannot write '", path_, "': the writer is already closed");
  ATTNLAB_CHECK(offset + bytes <= bytes_written_, "write_at into '", temp_path_, "': bytes [", offset, ", ",
                offset + bytes, ") were not written yet (", bytes_written_, " so far)");
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    ssize_t n = ::pwrite(fd_, p, bytes, off_t(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(cat("write to '", temp_path_, "' at offset ", offset, " failed"), errno);
    p += n;
    bytes -= size_t(n);
    offset += uint64_t(n);
  }
}

void AtomicWriter::commit() {
  ATTNLAB_CHECK(fd_ >= 0, "cannot write '", path_, "': the writer is already closed");
  if (::fsync(fd_) != 0) fail(cat("fsync of '", temp_path_, "' failed"), errno);
  int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(temp_path_.c_str());
    throw Error(cat("cannot write '", path_, "': close of '", temp_path_, "' failed: ", os_reason(err)));
  }
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    int err = errno;
    ::unlink(temp_path_.c_str());
    throw Error(cat("cannot write '", path_, "': rename from '", temp_path_, "' failed: ",
                    os_reason(err)));
  }
  std::string dir = parent_dir(path_);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ATTNLAB_CHECK(dfd >= 0, "wrote '", path_, "' but cannot open its directory '", dir,
                "' to make the rename durable: ", os_reason(errno));
  int rc = ::fsync(dfd);
  int err = errno;
  ::close(dfd);
  // Some file systems cannot fsync a directory (EINVAL); the rename is then as durable as
  // that file system makes it.
  ATTNLAB_CHECK(rc == 0 || err == EINVAL, "wrote '", path_, "' but fsync of its directory '", dir,
                "' failed: ", os_reason(err));
}

}  // namespace attnlab::io
