// Helpers shared by the data module's tests (header only; not part of the library).
#pragma once
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include "harness/assert_close.h"

namespace attnlab::data::testing {

using ::attnlab::testing::error_of;

// A fresh folder under the system temp directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = "attnlab_" + std::to_string(::getpid()) + "_" +
                       (info ? std::string(info->test_suite_name()) + "_" + info->name() : std::string("test"));
    path_ = std::filesystem::temp_directory_path() / name;
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return (path_ / rel).string(); }

 private:
  std::filesystem::path path_;
};

inline void write_text(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::binary);
  out << text;
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace attnlab::data::testing

// Expects `statement` to throw attnlab::Error with a message containing `substring`.
#define EXPECT_ERROR(statement, substring)                                                        \
  do {                                                                                            \
    std::string attnlab_msg_ = ::attnlab::data::testing::error_of([&] { statement; });            \
    EXPECT_NE(attnlab_msg_.find(substring), std::string::npos)                                    \
        << "error was '" << attnlab_msg_ << "', expected it to contain '" << (substring) << "'"; \
  } while (0)
