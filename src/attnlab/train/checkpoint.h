// Checkpoints (DESIGN.md convention 8). A run folder holds one folder per saved step and
// a `latest` file naming the newest:
//
//   OUT/step_000500/model.safetensors     parameters, PyTorch-style names
//   OUT/step_000500/config.toml           the run's whole configuration
//   OUT/step_000500/train_state.safetensors  AdamW moments; step, seed, data cursor in metadata
//   OUT/latest                            "step_000500"
//   OUT/decayed_000400/...                 wsd-s: a decayed checkpoint per budget, kept
//
// A step folder is written under a temporary name and renamed into place, and `latest`
// is replaced atomically afterwards, so a crash at any moment leaves the previous
// checkpoint intact and `latest` pointing at a complete one.
#pragma once
#include <memory>
#include <string>

#include "attnlab/model/lm.h"
#include "attnlab/train/adamw.h"
#include "attnlab/train/run_config.h"

namespace attnlab::train {

struct TrainState {
  int64_t step = 0;  // optimizer steps completed; also the data cursor (batches are a function of it)
  Tensor adam_m, adam_v;
  int64_t adam_t = 0;
};

// Writes OUT/<prefix>_NNNNNN and updates OUT/latest; keeps the newest `keep` step_ folders.
// Folders of another prefix (wsd-s writes "decayed", one per budget) are never pruned.
std::string save_checkpoint(const std::string& out_dir, const RunConfig& run, const model::LanguageModel& model,
                            const AdamW* optimizer, int64_t step, int64_t keep,
                            const std::string& prefix = "step");

// A checkpoint path may be a step folder or a run folder (its `latest` is used).
std::string resolve_checkpoint(const std::string& path);

struct LoadedModel {
  RunConfig run;
  std::unique_ptr<model::LanguageModel> model;
  std::string dir;  // the step folder it came from
};

// Rebuilds the model from config.toml (with `sets` applied on top, e.g. a RoPE scaling
// for evaluation) and loads its parameters. Tensors that do not match the config in
// name or shape are one-line errors naming the file and the tensor.
LoadedModel load_model(const std::string& path, const std::vector<std::string>& sets = {});

// Refuses, before any work, a sequence of `tokens` longer than the checkpoint's
// model.max_seq_len: one line naming `what` asked for it and the config that sets the limit.
void check_sequence_length(const LoadedModel& m, int64_t tokens, const std::string& what);

// The optimizer state of a step folder.
TrainState load_train_state(const std::string& step_dir);

}  // namespace attnlab::train
