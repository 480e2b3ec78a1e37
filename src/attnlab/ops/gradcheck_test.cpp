// The registry-walking gradient check: one test per case, and a test that every op in
// the table has at least one case (so nothing can opt out).
#include <gtest/gtest.h>

#include <set>

#include "attnlab/ops/gradcases.h"
#include "attnlab/ops/op_table.h"

namespace attnlab::ops {
namespace {

TEST(OpTable, EveryOpHasAGradientCaseAndEveryCaseNamesAnOp) {
  std::set<std::string> with_case;
  for (const auto& c : all_gradcases()) {
    EXPECT_NE(find_op(c.op), nullptr) << "case '" << c.label << "' names unknown op " << c.op;
    with_case.insert(c.op);
  }
  for (const auto& op : op_table()) EXPECT_TRUE(with_case.count(op.name)) << op.name << " has no gradcheck case";
}

TEST(OpTable, NamesAreUnique) {
  std::set<std::string> names;
  for (const auto& op : op_table()) EXPECT_TRUE(names.insert(op.name).second) << op.name;
}

class GradCheck : public ::testing::TestWithParam<size_t> {};

TEST_P(GradCheck, MatchesFiniteDifferences) {
  static const std::vector<autograd::GradCase> cases = all_gradcases();
  const auto& c = cases[GetParam()];
  autograd::GradCheckResult r = autograd::gradcheck(c);
  EXPECT_TRUE(r.passed) << c.op << " (" << c.label << "): " << r.detail << " max rel err " << r.max_rel_error;
  EXPECT_LT(r.max_rel_error, 1e-6) << c.op << " (" << c.label << ")";
}

INSTANTIATE_TEST_SUITE_P(AllOps, GradCheck, ::testing::Range<size_t>(0, all_gradcases().size()),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           static const auto cases = all_gradcases();
                           std::string name = cases[info.param].op + "_" + std::to_string(info.param);
                           return name;
                         });

}  // namespace
}  // namespace attnlab::ops
