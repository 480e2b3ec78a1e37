#include "harness/assert_close.h"

namespace attnlab::testing {

::testing::AssertionResult assert_close(const std::string& name, const Tensor& ref,
                                        const Tensor& got, double tol) {
  CloseReport r = compare(ref, got);
  if (!r.shapes_match)
    return ::testing::AssertionFailure() << name << ": shape " << shape_str(got.shape())
                                         << ", expected " << shape_str(ref.shape());
  if (r.close(tol)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << r.describe(name) << " (tolerance " << tol << ")";
}

}  // namespace attnlab::testing
