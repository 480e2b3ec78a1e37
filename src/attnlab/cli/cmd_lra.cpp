// attnlab lra generate | train | eval: the Long Range Arena tasks that can be generated
// offline (ListOps, Pathfinder), a classifier on the model trunk, self-pretraining.
// docs/LRA.md.
#include <cstdio>

#include "attnlab/cli/commands.h"
#include "attnlab/lra/lra_train.h"

namespace attnlab::cli {

namespace {

void add_generate(CLI::App& lra) {
  auto* cmd = lra.add_subcommand("generate", "Write a task's train/val/test splits into a folder");
  auto g = std::make_shared<lra::GenerateOptions>();
  auto out = std::make_shared<std::string>();
  auto turn = std::make_shared<double>(-1);
  cmd->add_option("--task", g->task, "listops | pathfinder32 | pathfinder128")->required();
  cmd->add_option("--out", *out, "Output folder")->required();
  cmd->add_option("--train", g->train, "Training examples (LRA: 96000 ListOps)")->capture_default_str();
  cmd->add_option("--val", g->val, "Validation examples")->capture_default_str();
  cmd->add_option("--test", g->test, "Test examples")->capture_default_str();
  cmd->add_option("--seed", g->seed, "Seed (the same seed writes the same files)")->capture_default_str();
  cmd->add_option("--min-length", g->listops.min_length, "ListOps: keep trees longer than this")->capture_default_str();
  cmd->add_option("--max-length", g->listops.max_length, "ListOps: keep trees shorter than this")->capture_default_str();
  cmd->add_option("--max-depth", g->listops.max_depth, "ListOps: maximum depth")->capture_default_str();
  cmd->add_option("--max-args", g->listops.max_args, "ListOps: maximum arguments per operator")->capture_default_str();
  cmd->add_option("--contour-length", g->pathfinder.contour_length, "Pathfinder: paddles per target contour");
  cmd->add_option("--distractors", g->pathfinder.distractor_contours, "Pathfinder: distractor contours");
  cmd->add_option("--max-turn", *turn, "Pathfinder: largest turn between paddles, degrees");
  cmd->callback([g, out, turn] {
    lra::GenerateOptions o = *g;
    if (o.task == "pathfinder32" || o.task == "pathfinder128") {
      lra::PathfinderOptions base = o.task == "pathfinder32" ? lra::PathfinderOptions::lra32()
                                                               : lra::PathfinderOptions::lra128();
      base.contour_length = g->pathfinder.contour_length;
      if (o.task == "pathfinder128" && g->pathfinder.distractor_contours == lra::PathfinderOptions{}.distractor_contours)
        base.distractor_contours = lra::PathfinderOptions::lra128().distractor_contours;
      else
        base.distractor_contours = g->pathfinder.distractor_contours;
      if (*turn >= 0) base.max_turn_deg = *turn;
      o.pathfinder = base;
    }
    lra::generate_task(o, *out);
    std::printf("wrote %s: %lld train, %lld val, %lld test examples of %s\n", out->c_str(), (long long)o.train,
                (long long)o.val, (long long)o.test, o.task.c_str());
  });
}

void add_train(CLI::App& lra) {
  auto* cmd = lra.add_subcommand("train", "Train a classifier on a task (optionally self-pretrained first)");
  auto config = std::make_shared<std::string>();
  auto sets = std::make_shared<std::vector<std::string>>();
  auto out = std::make_shared<std::string>("runs/lra");
  cmd->add_option("config", *config, "Config file (TOML) with [model] and [lra]; omit for the defaults");
  cmd->add_option("--set", *sets, "Override a key: --set lra.pretrain_steps=200 (repeatable)");
  cmd->add_option("--out", *out, "Run folder: config.toml, model.safetensors, metrics.jsonl");
  cmd->callback([config, sets, out] {
    auto cfg = config->empty() ? config::parse_config_text<lra::LraRunConfig>("", "--set", *sets)
                               : config::parse_config_file<lra::LraRunConfig>(*config, *sets);
    lra::LraResult r = lra::train_lra(cfg, *out);
    std::printf("best val_acc %.4f at step %lld; test_acc %.4f; %.0f s\n", r.best_val_accuracy,
                (long long)r.best_step, r.test_accuracy, r.seconds);
  });
}

void add_eval(CLI::App& lra) {
  auto* cmd = lra.add_subcommand("eval", "Accuracy of a trained run on a split");
  auto run = std::make_shared<std::string>();
  auto split = std::make_shared<std::string>("test");
  auto data = std::make_shared<std::string>();
  cmd->add_option("run", *run, "Run folder written by `attnlab lra train`")->required();
  cmd->add_option("--split", *split, "train | val | test")->capture_default_str();
  cmd->add_option("--data", *data, "Task folder (default: the run's lra.data)");
  cmd->callback([run, split, data] {
    lra::LraRunConfig cfg;
    auto model = lra::load_lra_model(*run, &cfg);
    auto ds = lra::read_split(data->empty() ? cfg.lra.data : *data, cfg.lra.task, *split);
    double acc = lra::accuracy(*model, ds, cfg.lra.batch_size, mixers::parse_form(cfg.lra.form));
    std::printf("%s %s accuracy %.4f (%zu examples)\n", cfg.lra.task.c_str(), split->c_str(), acc, ds.examples.size());
  });
}

}  // namespace

void add_lra_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("lra", "Long Range Arena tasks: generate, train (with self-pretraining), eval");
  cmd->require_subcommand(1);
  add_generate(*cmd);
  add_train(*cmd);
  add_eval(*cmd);
}

}  // namespace attnlab::cli
