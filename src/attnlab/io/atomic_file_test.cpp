#include "attnlab/io/atomic_file.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>

#include "attnlab/core/error.h"
#include "harness/assert_close.h"
#include "harness/temp_dir.h"

namespace attnlab::io {
namespace {

using ::attnlab::testing::error_of;

using attnlab::testing::read_plain;
using attnlab::testing::TempDir;
using attnlab::testing::write_plain;

// Bytes 0..255 repeating with a stride, so offsets and zero bytes both matter.
std::string pattern(size_t n, unsigned seed = 7) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = char((i * 131 + seed) & 0xFF);
  return s;
}

TEST(AtomicFile, WriteThenReadAtOddSizes) {
  TempDir dir;
  for (size_t n : {size_t(0), size_t(1), size_t(3), size_t(63), size_t(127), size_t(1000),
                   size_t((1 << 20) + 3)}) {
    std::string path = dir.file("f" + std::to_string(n) + ".bin");
    std::string bytes = pattern(n);
    write_file_atomic(path, bytes);
    EXPECT_EQ(read_plain(path), bytes) << n;
    EXPECT_EQ(read_file(path), bytes) << n;
  }
  // Only the targets remain: every temporary was renamed away.
  for (const auto& name : dir.list()) EXPECT_EQ(name.find(".tmp."), std::string::npos) << name;
}

TEST(AtomicFile, OverwritesExistingFile) {
  TempDir dir;
  std::string path = dir.file("out.bin");
  write_plain(path, pattern(5000, 1));
  write_file_atomic(path, "short");
  EXPECT_EQ(read_plain(path), "short");
  EXPECT_EQ(dir.list(), std::vector<std::string>{"out.bin"});
}

TEST(AtomicFile, RelativePathInCurrentDirectory) {
  TempDir dir;
  auto old = std::filesystem::current_path();
  std::filesystem::current_path(dir.path());
  write_file_atomic("plain_name.txt", "abc");  // the directory to fsync is "."
  std::filesystem::current_path(old);
  EXPECT_EQ(read_plain(dir.file("plain_name.txt")), "abc");
}

TEST(AtomicWriter, StreamsManyPiecesAndCountsBytes) {
  TempDir dir;
  std::string path = dir.file("stream.bin");
  std::string expect;
  AtomicWriter w(path);
  EXPECT_EQ(w.temp_path(), path + ".tmp." + std::to_string(::getpid()));
  EXPECT_TRUE(std::filesystem::exists(w.temp_path()));
  EXPECT_FALSE(std::filesystem::exists(path));  // nothing published before commit
  for (size_t n : {1, 3, 63, 127, 1000, 0, 4097}) {
    std::string piece = pattern(n, unsigned(n));
    w.write(piece);
    expect += piece;
  }
  EXPECT_EQ(w.bytes_written(), expect.size());
  w.commit();
  EXPECT_FALSE(w.is_open());
  EXPECT_EQ(read_plain(path), expect);
  EXPECT_EQ(dir.list(), std::vector<std::string>{"stream.bin"});
}

TEST(AtomicWriter, DestroyedWithoutCommitLeavesTargetUntouched) {
  TempDir dir;
  std::string path = dir.file("keep.bin");
  std::string old = pattern(777, 3);
  write_plain(path, old);
  {
    AtomicWriter w(path);
    w.write(pattern(100));
  }
  EXPECT_EQ(read_plain(path), old);
  EXPECT_EQ(dir.list(), std::vector<std::string>{"keep.bin"});
}

TEST(AtomicWriter, ExceptionMidWriteRemovesTemporary) {
  TempDir dir;
  std::string path = dir.file("ckpt.bin");
  write_plain(path, "old");
  EXPECT_THROW(
      {
        AtomicWriter w(path);
        w.write(pattern(1000));
        throw std::runtime_error("simulated failure while serialising");
      },
      std::runtime_error);
  EXPECT_EQ(read_plain(path), "old");
  EXPECT_EQ(dir.list(), std::vector<std::string>{"ckpt.bin"});
}

TEST(AtomicWriter, AbortThenUseIsAnError) {
  TempDir dir;
  std::string path = dir.file("a.bin");
  AtomicWriter w(path);
  w.write("x");
  w.abort();
  w.abort();  // twice is harmless
  EXPECT_TRUE(dir.list().empty());
  std::string e = error_of([&] { w.write("y"); });
  EXPECT_NE(e.find(path), std::string::npos) << e;
  EXPECT_NE(e.find("already closed"), std::string::npos) << e;
  e = error_of([&] { w.commit(); });
  EXPECT_NE(e.find("already closed"), std::string::npos) << e;
}

TEST(AtomicWriter, CommitTwiceIsAnError) {
  TempDir dir;
  std::string path = dir.file("b.bin");
  AtomicWriter w(path);
  w.write("data");
  w.commit();
  std::string e = error_of([&] { w.commit(); });
  EXPECT_NE(e.find("already closed"), std::string::npos) << e;
  EXPECT_EQ(read_plain(path), "data");
}

TEST(AtomicFileErrors, MissingDirectoryNamesPathAndReason) {
  TempDir dir;
  std::string path = dir.file("no/such/dir/out.bin");
  std::string e = error_of([&] { write_file_atomic(path, "abc"); });
  EXPECT_NE(e.find("cannot write '" + path + "'"), std::string::npos) << e;
  EXPECT_NE(e.find(".tmp."), std::string::npos) << e;
  EXPECT_NE(e.find("No such file or directory"), std::string::npos) << e;
  EXPECT_TRUE(dir.list().empty());
}

TEST(AtomicFileErrors, TargetIsADirectoryFailsAtRenameAndCleansUp) {
  TempDir dir;
  std::string path = dir.file("sub");
  std::filesystem::create_directory(path);
  write_plain(path + "/inside.txt", "x");
  std::string e = error_of([&] { write_file_atomic(path, "abc"); });
  EXPECT_NE(e.find("cannot write '" + path + "'"), std::string::npos) << e;
  EXPECT_NE(e.find("rename"), std::string::npos) << e;
  EXPECT_NE(e.find("Is a directory"), std::string::npos) << e;
  EXPECT_EQ(dir.list(), std::vector<std::string>{"sub"});
  EXPECT_EQ(read_plain(path + "/inside.txt"), "x");
}

TEST(AtomicFileErrors, EmptyPath) {
  std::string e = error_of([] { write_file_atomic("", "abc"); });
  EXPECT_NE(e.find("empty output path"), std::string::npos) << e;
}

// A write that fails part-way (here: the file-size limit, EFBIG) removes the temporary
// and keeps the old target. Run in a child so the limit cannot touch the test's own files.
TEST(AtomicFileErrors, FailedWriteRemovesTemporaryAndKeepsTarget) {
  TempDir dir;
  std::string path = dir.file("big.bin");
  write_plain(path, "previous contents");
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim {4096, 4096};
    ::setrlimit(RLIMIT_FSIZE, &lim);
    int code = 1;
    try {
      write_file_atomic(path, pattern(10000));
      code = 2;  // should not succeed
    } catch (const Error& e) {
      std::string m = e.what();
      bool ok = m.find("cannot write '" + path + "'") != std::string::npos &&
                m.find("File too large") != std::string::npos &&
                m.find("after 4096 bytes") != std::string::npos;
      code = ok ? 0 : 3;
      if (!ok) std::fprintf(stderr, "unexpected message: %s\n", m.c_str());
    }
    ::_exit(code);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(read_plain(path), "previous contents");
  EXPECT_EQ(dir.list(), std::vector<std::string>{"big.bin"});
}

TEST(ReadFileErrors, MissingFile) {
  TempDir dir;
  std::string path = dir.file("absent.toml");
  std::string e = error_of([&] { read_file(path); });
  EXPECT_NE(e.find("cannot open '" + path + "' for reading"), std::string::npos) << e;
  EXPECT_NE(e.find("No such file or directory"), std::string::npos) << e;
}

TEST(ReadFileErrors, DirectoryIsUnreadable) {
  TempDir dir;
  std::string e = error_of([&] { read_file(dir.path()); });
  EXPECT_NE(e.find("cannot read '" + dir.path() + "'"), std::string::npos) << e;
  EXPECT_NE(e.find("Is a directory"), std::string::npos) << e;
}

}  // namespace
}  // namespace attnlab::io
