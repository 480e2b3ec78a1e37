// Training and evaluating a classifier on an LRA task, optionally after self-pretraining
// (Amos, Berant & Gupta, "Never Train from Scratch", ICLR 2024; specs/methods.md §4):
//   1. pretrain_steps of causal next-token prediction on the task's *training inputs only*
//      (the trunk's tied LM head; padding ignored), then
//   2. steps of whole-model fine-tuning for classification (pooled states -> linear head).
// Validation accuracy is measured every eval_every steps; the best validation checkpoint
// is kept and reported on the test split. A run folder holds config.toml,
// model.safetensors (trunk + head, best on validation) and metrics.jsonl.
#pragma once
#include <string>

#include "attnlab/io/config_schema.h"
#include "attnlab/lra/classifier.h"
#include "attnlab/lra/dataset.h"
#include "attnlab/model/config.h"

namespace attnlab::lra {

struct LraConfig {
  std::string task = "listops";
  std::string data = "data/lra/listops";
  std::string pooling = "mean";
  int64_t train_examples = 0;   // 0: the whole training split
  int64_t val_examples = 0;     // 0: the whole validation split
  int64_t pretrain_steps = 0;   // self-pretraining steps (0: from scratch)
  double pretrain_lr = 1e-3;
  int64_t steps = 1000;         // fine-tuning steps
  int64_t batch_size = 32;
  double lr = 1e-3;
  double lr_floor = 1e-4;
  int64_t warmup = 50;
  double weight_decay = 0.01;
  double grad_clip = 1.0;
  int64_t eval_every = 100;
  int64_t log_every = 25;
  int64_t seed = 1;
  std::string form = "parallel";

  template <class V>
  void visit(V& v) {
    v.choice("task", task, lra_task_names(), "LRA task");
    v.field("data", data, "task folder written by `attnlab lra generate`", config::non_empty());
    v.choice("pooling", pooling, {"mean", "max", "last"}, "pooling of the final states over time");
    v.field("train_examples", train_examples, "training examples used (0: all)", config::non_negative());
    v.field("val_examples", val_examples, "validation examples used (0: all)", config::non_negative());
    v.field("pretrain_steps", pretrain_steps, "self-pretraining (causal LM on training inputs) steps; 0: none",
            config::non_negative());
    v.field("pretrain_lr", pretrain_lr, "peak learning rate of self-pretraining", config::positive());
    v.field("steps", steps, "fine-tuning (classification) steps", config::positive());
    v.field("batch_size", batch_size, "sequences per step", config::positive());
    v.field("lr", lr, "peak learning rate of fine-tuning", config::positive());
    v.field("lr_floor", lr_floor, "rate at the end of each cosine decay", config::non_negative());
    v.field("warmup", warmup, "linear warmup steps of each phase", config::non_negative());
    v.field("weight_decay", weight_decay, "AdamW decoupled weight decay", config::non_negative());
    v.field("grad_clip", grad_clip, "clip the gradient norm (0: off)", config::non_negative());
    v.field("eval_every", eval_every, "fine-tuning steps between validation passes", config::positive());
    v.field("log_every", log_every, "steps between log lines", config::positive());
    v.field("seed", seed, "seed of initialisation and batch order", config::non_negative());
    v.choice("form", form, {"ref", "parallel", "recurrent"}, "mixer form used for training and evaluation");
  }
};

struct LraRunConfig {
  model::ModelConfig model;
  LraConfig lra;

  template <class V>
  void visit(V& v) {
    v.section("model", model, "the trunk (vocab_size is set from the task)");
    v.section("lra", lra, "the task and its training");
  }
};

struct LraResult {
  double best_val_accuracy = 0;
  int64_t best_step = 0;
  double test_accuracy = 0;
  double pretrain_final_loss = 0;
  double seconds = 0;
};

// Trains as configured and writes the run folder `out_dir`; test split evaluated at the end.
LraResult train_lra(LraRunConfig cfg, const std::string& out_dir);

// Accuracy of `model` on a split (no grad).
double accuracy(Classifier& model, const TaskSplit& data, int64_t batch_size, mixers::Form form);

// Loads a run folder's config and best weights.
std::unique_ptr<Classifier> load_lra_model(const std::string& run_dir, LraRunConfig* cfg_out = nullptr);

}  // namespace attnlab::lra
