// A training run's configuration: the whole TOML file ([model], [data], [train]).
// Written beside every checkpoint as config.toml, so evaluation and generation rebuild
// the model exactly as it was trained.
#pragma once
#include <string>
#include <vector>

#include "attnlab/io/config_schema.h"
#include "attnlab/model/config.h"

namespace attnlab::train {

struct DataConfig {
  std::string path = "data/python-docs";  // a folder made by `attnlab data prepare`
  std::string tokenizer = "";             // filled from the corpus's meta.json when training starts

  template <class V>
  void visit(V& v) {
    v.field("path", path, "prepared corpus folder (train.tok, val.tok, meta.json)", config::non_empty());
    v.field("tokenizer", tokenizer, "tokenizer spec (byte | spm:PATH); empty: from the corpus");
  }
};

struct TrainConfig {
  int64_t seq_len = 256;
  int64_t batch_size = 16;
  int64_t grad_accum = 1;
  int64_t steps = 1000;
  double lr = 3e-3;
  double lr_floor = 3e-4;
  std::string schedule = "cosine";
  int64_t warmup = 50;
  double decay_fraction = 0.2;
  std::string decay_shape = "linear";
  std::vector<int64_t> decay_checkpoints;
  std::string loss = "ce";
  std::string emo_mode = "ce-equal";
  std::string emo_head = "self";
  int64_t diagnostics_every = 0;
  double weight_decay = 0.1;
  bool decay_all = false;
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double grad_clip = 1.0;
  int64_t eval_every = 200;
  int64_t eval_windows = 32;
  int64_t log_every = 10;
  int64_t checkpoint_every = 500;
  int64_t keep_checkpoints = 2;
  int64_t seed = 1234;
  std::string form = "parallel";

  template <class V>
  void visit(V& v) {
    v.field("seq_len", seq_len, "training window T", config::positive());
    v.field("batch_size", batch_size, "windows per micro-batch B", config::positive());
    v.field("grad_accum", grad_accum, "micro-batches per optimizer step", config::positive());
    v.field("steps", steps, "optimizer steps", config::positive());
    v.field("lr", lr, "peak learning rate", config::positive());
    v.field("lr_floor", lr_floor, "rate at the end of a decay", config::non_negative());
    v.choice("schedule", schedule, {"constant", "cosine", "wsd", "wsd-s"},
             "learning-rate schedule (docs/TRAINING.md)");
    v.field("warmup", warmup, "linear warmup steps", config::non_negative());
    v.field("decay_fraction", decay_fraction,
            "wsd: share of the run spent decaying; wsd-s: share of each cycle (between checkpoints)",
            config::in_range(0, 1));
    v.choice("decay_shape", decay_shape, {"linear", "cosine", "1-sqrt", "exponential", "inverse-proportional"},
             "wsd, wsd-s: decay shape (exponential and inverse-proportional need lr_floor > 0)");
    v.field("decay_checkpoints", decay_checkpoints,
            "wsd-s: steps (increasing, at most steps) before which the rate decays to lr_floor; each saves "
            "a kept checkpoint OUT/decayed_NNNNNN, then the rate returns to lr");
    v.choice("loss", loss, {"ce", "emo"}, "training loss: cross-entropy, or EMO combined with it");
    v.choice("emo_mode", emo_mode, {"ce-equal", "emo-emphasised"},
             "emo: 1/2[CE + sg(CE/DEMD) DEMD] (value = CE) or DEMD + sg(DEMD/CE) CE");
    v.field("emo_head", emo_head,
            "emo: cost embedding: 'self' (the model's own head, detached, each step) or a checkpoint whose "
            "head (or tied embedding) is frozen", config::non_empty());
    v.field("diagnostics_every", diagnostics_every,
            "update diagnostics (cosines, W, update/weight ratios) in metrics.jsonl every N steps (0: off)",
            config::non_negative());
    v.field("weight_decay", weight_decay, "AdamW decoupled weight decay", config::non_negative());
    v.field("decay_all", decay_all, "also decay norms and embeddings");
    v.field("beta1", beta1, "AdamW beta1", config::in_half_open(0, 1));
    v.field("beta2", beta2, "AdamW beta2", config::in_half_open(0, 1));
    v.field("eps", eps, "AdamW epsilon", config::positive());
    v.field("grad_clip", grad_clip, "clip the global gradient norm to this (0: off)", config::non_negative());
    v.field("eval_every", eval_every, "validation every N steps (0: only at the end)", config::non_negative());
    v.field("eval_windows", eval_windows, "validation windows of seq_len tokens", config::positive());
    v.field("log_every", log_every, "a metrics line every N steps", config::positive());
    v.field("checkpoint_every", checkpoint_every, "a checkpoint every N steps (0: only at the end)",
            config::non_negative());
    v.field("keep_checkpoints", keep_checkpoints, "checkpoints kept on disk", config::positive());
    v.field("seed", seed, "seed of initialisation and data order", config::non_negative());
    v.choice("form", form, {"ref", "parallel", "recurrent"}, "mixer form used for training");
    v.check(warmup <= steps, "warmup", "must be at most train.steps");
    v.check(lr_floor <= lr, "lr_floor", "must be at most train.lr");
  }
};

struct RunConfig {
  model::ModelConfig model;
  DataConfig data;
  TrainConfig train;

  template <class V>
  void visit(V& v) {
    v.section("model", model, "the language model");
    v.section("data", data, "the training corpus");
    v.section("train", train, "optimisation");
    v.check(model.max_seq_len == 0 || train.seq_len <= model.max_seq_len, "train.seq_len",
            "must be at most model.max_seq_len");
  }
};

// Fills what the model cannot know on its own from the training settings: a softmax
// mixer's rope_original_length = 0 becomes train.seq_len (RoPE scalings need it). The
// trainer calls it so checkpoints record the value; load_model calls it so checkpoints
// written before the key existed still evaluate with --set model.mixer.rope_scaling=...
void fill_trained_length(RunConfig& run);

}  // namespace attnlab::train
