#include "attnlab/data/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

#include "attnlab/core/error.h"

namespace attnlab::data {

namespace {

std::string sys_error() { return std::strerror(errno); }

void fsync_directory_of(const std::string& path) {
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = ".";
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  ATTNLAB_CHECK(fd >= 0, "cannot open directory ", dir.string(), " to sync ", path, ": ", sys_error());
  int rc = ::fsync(fd);
  int saved = errno;
  ::close(fd);
  errno = saved;
  ATTNLAB_CHECK(rc == 0, "cannot sync directory ", dir.string(), " after writing ", path, ": ", sys_error());
}

}  // namespace

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  ATTNLAB_CHECK(!path_.empty(), "cannot write a file with an empty name");
  tmp_path_ = path_ + ".tmp.XXXXXX";
  std::vector<char> name(tmp_path_.begin(), tmp_path_.end());
  name.push_back('\0');
  int fd = ::mkstemp(name.data());
  ATTNLAB_CHECK(fd >= 0, "cannot create a temporary file beside ", path_, ": ", sys_error());
  tmp_path_ = name.data();
  // mkstemp creates mode 0600; outputs are ordinary files for whoever shares the data.
  ::fchmod(fd, 0644);
  file_ = ::fdopen(fd, "w+b");
  if (!file_) {
    std::string err = sys_error();
    ::close(fd);
    ::unlink(tmp_path_.c_str());
    throw Error(cat("cannot open temporary file ", tmp_path_, ": ", err));
  }
}

AtomicFile::~AtomicFile() {
  if (file_) std::fclose(file_);
  if (!committed_) ::unlink(tmp_path_.c_str());
}

void AtomicFile::write(const void* bytes, size_t n) {
  ATTNLAB_CHECK(file_ && !committed_, "write to ", path_, " after it was committed");
  if (n == 0) return;
  ATTNLAB_CHECK(std::fwrite(bytes, 1, n, file_) == n, "cannot write ", path_, " (temporary ", tmp_path_,
                "): ", sys_error());
  size_ += n;
}

void AtomicFile::write_at(uint64_t offset, const void* bytes, size_t n) {
  ATTNLAB_CHECK(file_ && !committed_, "write to ", path_, " after it was committed");
  ATTNLAB_CHECK(offset + n <= size_, "write_at past the end of ", path_, " (offset ", offset, ", ", n,
                " bytes, size ", size_, ")");
  ATTNLAB_CHECK(std::fflush(file_) == 0, "cannot write ", path_, ": ", sys_error());
  const char* p = static_cast<const char*>(bytes);
  while (n > 0) {
    ssize_t w = ::pwrite(::fileno(file_), p, n, off_t(offset));
    if (w < 0 && errno == EINTR) continue;
    ATTNLAB_CHECK(w > 0, "cannot write ", path_, " (temporary ", tmp_path_, "): ", sys_error());
    p += w;
    n -= size_t(w);
    offset += uint64_t(w);
  }
}

void AtomicFile::commit() {
  ATTNLAB_CHECK(file_ && !committed_, "commit of ", path_, " twice");
  ATTNLAB_CHECK(std::fflush(file_) == 0, "cannot write ", path_, ": ", sys_error());
  ATTNLAB_CHECK(::fsync(::fileno(file_)) == 0, "cannot sync ", path_, ": ", sys_error());
  int rc = std::fclose(file_);
  file_ = nullptr;
  ATTNLAB_CHECK(rc == 0, "cannot close ", path_, ": ", sys_error());
  ATTNLAB_CHECK(::rename(tmp_path_.c_str(), path_.c_str()) == 0, "cannot rename ", tmp_path_, " to ", path_,
                ": ", sys_error());
  committed_ = true;
  fsync_directory_of(path_);
}

void write_file_atomic(const std::string& path, std::string_view contents) {
  AtomicFile f(path);
  f.write(contents.data(), contents.size());
  f.commit();
}

}  // namespace attnlab::data
