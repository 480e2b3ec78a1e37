// Each subcommand lives in cli/cmd_<name>.cpp and adds itself to the app here.
#pragma once
#include <CLI/CLI.hpp>

namespace attnlab::cli {

void add_gradcheck_command(CLI::App& app);
void add_list_command(CLI::App& app);
void add_data_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_train_command(CLI::App& app);

}  // namespace attnlab::cli
