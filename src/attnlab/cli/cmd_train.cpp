// attnlab train CONFIG [--set key=value ...] [--out DIR] [--resume] [--init-from CHECKPOINT]
#include <cmath>
#include <cstdio>

#include "attnlab/cli/commands.h"
#include "attnlab/train/trainer.h"

namespace attnlab::cli {

void add_train_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "Train a language model from a TOML config");
  struct Args {
    std::string config;
    std::vector<std::string> sets;
    std::string out = "runs/default";
    std::string init_from;
    bool resume = false, quiet = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("config", a->config, "Config file (TOML), e.g. configs/quickstart.toml")->required();
  cmd->add_option("--set", a->sets, "Override a config key: --set train.lr=1e-3 (repeatable)");
  cmd->add_option("--out", a->out, "Run folder: checkpoints and metrics.jsonl");
  cmd->add_flag("--resume", a->resume, "Continue from the latest checkpoint in --out");
  cmd->add_flag("--quiet", a->quiet, "No progress output");
  cmd->add_option("--init-from", a->init_from,
                  "Start a fresh run from this checkpoint's parameters (e.g. `attnlab convert`'s output); "
                  "every parameter must be there with the same shape. Ignored with --resume");
  cmd->callback([a] {
    auto run = config::parse_config_file<train::RunConfig>(a->config, a->sets);
    train::TrainResult r = train::run_training(run, {a->out, a->resume, a->quiet, a->init_from});
    std::printf("trained %lld steps: train loss %.4f, val loss %.4f (%.3f bits/token), %.0f tokens/s\n",
                (long long)r.steps, r.final_train_loss, r.final_val_loss, r.final_val_loss / std::log(2.0),
                r.tokens_per_second);
    std::printf("checkpoint: %s\n", r.checkpoint.c_str());
  });
}

}  // namespace attnlab::cli
