// Each subcommand lives in cli/cmd_<name>.cpp and adds itself to the app here.
#pragma once
#include <CLI/CLI.hpp>

namespace attnlab::cli {

void add_gradcheck_command(CLI::App& app);
void add_list_command(CLI::App& app);
void add_data_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_train_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_generate_command(CLI::App& app);
void add_forward_command(CLI::App& app);
void add_convert_command(CLI::App& app);
void add_lra_command(CLI::App& app);
// `bench train|decode` (cmd_bench_model.cpp) and `bench mixers|attention` (cmd_bench_mixers.cpp).
void add_bench_model_commands(CLI::App& bench);
void add_bench_mixer_commands(CLI::App& bench);
void add_task_command(CLI::App& app);
void add_diagnose_command(CLI::App& app);
void add_compare_command(CLI::App& app);

// "256,512,1024" -> {256, 512, 1024}; errors name the flag.
std::vector<int64_t> parse_int_list(const std::string& text, const char* flag);

}  // namespace attnlab::cli
