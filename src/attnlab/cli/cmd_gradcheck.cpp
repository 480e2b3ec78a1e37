// attnlab gradcheck: runs the float64 finite-difference check of every registered op
// (or those named with --op) and prints one line per case.
#include <cstdio>
#include <string>
#include <vector>

#include "attnlab/cli/commands.h"
#include "attnlab/core/error.h"
#include "attnlab/ops/gradcases.h"
#include "attnlab/ops/op_table.h"

namespace attnlab::cli {

void add_gradcheck_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("gradcheck", "Check every op's gradient against central finite differences in float64");
  auto ops = std::make_shared<std::vector<std::string>>();
  auto seed = std::make_shared<uint64_t>(1234);
  cmd->add_option("--op", *ops, "Only these ops (default: all)");
  cmd->add_option("--seed", *seed, "Seed of the random inputs");
  cmd->callback([ops, seed] {
    for (const std::string& name : *ops)
      ATTNLAB_CHECK(ops::find_op(name), "gradcheck --op ", name, ": no such op (see `attnlab list ops`)");
    std::vector<autograd::GradCase> cases = ops::all_gradcases();
    int failed = 0, ran = 0;
    for (const auto& c : cases) {
      if (!ops->empty() && std::find(ops->begin(), ops->end(), c.op) == ops->end()) continue;
      autograd::GradCheckResult r = autograd::gradcheck(c, *seed);
      ran++;
      if (!r.passed) failed++;
      std::printf("%-4s %-14s %-44s rel err %.2e%s%s\n", r.passed ? "ok" : "FAIL", c.op.c_str(),
                  c.label.c_str(), r.max_rel_error, r.detail.empty() ? "" : "  ", r.detail.c_str());
    }
    // An op in the table with no case is a failure: nothing may opt out.
    for (const auto& op : ops::op_table()) {
      if (!ops->empty() && std::find(ops->begin(), ops->end(), op.name) == ops->end()) continue;
      bool has_case = false;
      for (const auto& c : cases) has_case |= c.op == op.name;
      if (!has_case) {
        failed++;
        std::printf("FAIL %-14s has no gradient-check case\n", op.name);
      }
    }
    std::printf("%d passed, %d failed\n", ran - failed, failed);
    if (failed) throw Error(cat("gradcheck: ", failed, " case(s) failed"));
  });
}

}  // namespace attnlab::cli
