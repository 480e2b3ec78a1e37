// attnlab list: what this build holds (ops now; mixers and position schemes as they land).
#include <cstdio>

#include <nlohmann/json.hpp>

#include "attnlab/cli/commands.h"
#include "attnlab/ops/op_table.h"

namespace attnlab::cli {

void add_list_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("list", "List the registered ops");
  auto what = std::make_shared<std::string>("ops");
  auto as_json = std::make_shared<bool>(false);
  cmd->add_option("what", *what, "What to list")->check(CLI::IsMember({"ops"}));
  cmd->add_flag("--json", *as_json, "Print JSON");
  cmd->callback([what, as_json] {
    if (*as_json) {
      nlohmann::json j = nlohmann::json::array();
      for (const auto& op : ops::op_table())
        j.push_back({{"name", op.name}, {"family", op.family}, {"summary", op.summary}});
      std::printf("%s\n", j.dump(2).c_str());
      return;
    }
    for (const auto& op : ops::op_table()) std::printf("%-14s %-12s %s\n", op.name, op.family, op.summary);
  });
}

}  // namespace attnlab::cli
