// Softmax -> linear-time conversion (issue 6, item 5; DiJiang's recipe, specs/mechanisms.md
// §1b): a trained softmax checkpoint becomes a DiJiang or retention model that keeps every
// parameter the two share by name and shape (embeddings, q/k/v/o projections, MLPs,
// norms, head) and initialises the new ones (the gate W_G, GroupNorm, decays) as the
// student mixer's constructor does. Fine-tuning then starts from it with
// `attnlab train CONFIG --init-from DIR`.
#pragma once
#include <string>
#include <vector>

#include "attnlab/model/params.h"
#include "attnlab/train/run_config.h"

namespace attnlab::train {

// The student's run config: the teacher's, with [model.mixer] replaced by mixer `to`
// ("dijiang" | "retention") whose heads, head dimension and rotary settings follow the
// teacher's, then `sets` ("model.mixer.decay_learnable=false", ...) applied. A teacher
// setting with no counterpart (grouped kv heads, ALiBi, a window, a RoPE scaling, KeyNorm,
// cosine attention) is one error naming it.
RunConfig student_config(const RunConfig& teacher, const std::string& to, const std::vector<std::string>& sets = {});

struct ConvertReport {
  std::string checkpoint;                // the step folder written
  std::vector<std::string> copied;       // parameters taken from the teacher
  std::vector<std::string> initialised;  // the student's new parameters
  std::vector<std::string> dropped;      // teacher tensors the student has no use for
};

// Loads the teacher, builds the student (initialised from train.seed), copies the shared
// parameters and writes the student's checkpoint into out_dir (step 0, no optimizer state).
ConvertReport convert_checkpoint(const std::string& teacher_path, const std::string& to, const std::string& out_dir,
                                 const std::vector<std::string>& sets = {});

// --init-from: overwrites every parameter in `params` with the tensor of the same name in
// the checkpoint at `path` (a step or run folder). A parameter missing from the file, a
// different shape, or a tensor in the file that is not a parameter is one error naming it.
void init_params_from(model::ParamStore& params, const std::string& path);

}  // namespace attnlab::train
