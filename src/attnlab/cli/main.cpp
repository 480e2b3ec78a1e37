// attnlab: the command-line entry point. Errors from the library arrive as
// attnlab::Error and are printed as one line with a non-zero exit.
#include <cstdio>
#include <exception>

#include "attnlab/cli/commands.h"
#include "attnlab/core/error.h"
#include "attnlab/core/parallel.h"
#include "attnlab/kernels/cpu/attention_tiles.h"
#include "attnlab/kernels/cpu/build_info.h"

int main(int argc, char** argv) {
  CLI::App app{"attnlab: train, evaluate and decode small language models with swappable token mixers"};
  app.set_version_flag("--version", [] {
    return std::string("attnlab ") + ATTNLAB_VERSION + "\n" + attnlab::kernels::cpu::runtime_info();
  });
  app.require_subcommand(1);
  int threads = 0;
  app.add_option("--threads", threads, "Worker threads (default: ATTNLAB_THREADS, else all cores)")
      ->check(CLI::NonNegativeNumber);
  app.parse_complete_callback([&] {
    attnlab::set_num_threads(threads);
    attnlab::kernels::active_kernel_set();  // a bad ATTNLAB_KERNELS fails here, before any work
  });

  attnlab::cli::add_gradcheck_command(app);
  attnlab::cli::add_list_command(app);
  attnlab::cli::add_data_command(app);
  attnlab::cli::add_bench_command(app);
  attnlab::cli::add_train_command(app);
  attnlab::cli::add_eval_command(app);
  attnlab::cli::add_generate_command(app);
  attnlab::cli::add_forward_command(app);
  attnlab::cli::add_convert_command(app);
  attnlab::cli::add_lra_command(app);
  attnlab::cli::add_task_command(app);
  attnlab::cli::add_diagnose_command(app);
  attnlab::cli::add_compare_command(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const attnlab::Error& e) {
    std::fprintf(stderr, "attnlab: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "attnlab: internal error: %s\n", e.what());
    return 2;
  }
  return 0;
}
