// Test helpers shared by every unit test (DESIGN.md convention 13).
//   EXPECT_CLOSE("name", ref, got, tol): relative RMS error within tol, no NaN/Inf;
//   the failure message gives max abs and relative RMS error.
#pragma once
#include <gtest/gtest.h>

#include <string>

#include "attnlab/core/compare.h"
#include "attnlab/core/rng.h"
#include "attnlab/core/tensor.h"

namespace attnlab::testing {

::testing::AssertionResult assert_close(const std::string& name, const Tensor& ref,
                                        const Tensor& got, double tol);

// The message of the attnlab::Error that f() throws, or "(no error)" when it throws none:
//   EXPECT_NE(error_of([&] { op(bad); }).find("expected"), std::string::npos);
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// Sizes that are not multiples of any vector width or block size.
inline constexpr int64_t kOddSizes[] = {1, 3, 63, 127, 1000};

}  // namespace attnlab::testing

#define EXPECT_CLOSE(name, ref, got, tol) \
  EXPECT_TRUE(::attnlab::testing::assert_close(name, ref, got, tol))
#define ASSERT_CLOSE(name, ref, got, tol) \
  ASSERT_TRUE(::attnlab::testing::assert_close(name, ref, got, tol))
