// Errors a person can act on (DESIGN.md convention 9): one line saying what, where and
// what was expected. Library code throws attnlab::Error; the CLI prints e.what() and
// exits non-zero.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace attnlab {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Concatenates any streamable values into one string: cat("shape ", 3, "x", 4).
template <class... Args>
std::string cat(const Args&... args) {
  std::ostringstream s;
  (s << ... << args);
  return s.str();
}

}  // namespace attnlab

// ATTNLAB_CHECK(cond, parts...) throws attnlab::Error(cat(parts...)) when cond is false.
#define ATTNLAB_CHECK(cond, ...)                               \
  do {                                                         \
    if (!(cond)) throw ::attnlab::Error(::attnlab::cat(__VA_ARGS__)); \
  } while (0)
