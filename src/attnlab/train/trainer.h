// The training loop: batches -> loss -> backward -> clip -> AdamW -> schedule, with
// periodic validation, metrics (OUT/metrics.jsonl), progress and checkpoints. It knows
// the model only through LanguageModel::loss and its flat parameter buffers.
#pragma once
#include <string>

#include "attnlab/model/lm.h"
#include "attnlab/train/run_config.h"
#include "attnlab/train/schedule.h"

namespace attnlab::train {

struct TrainOptions {
  std::string out_dir = "runs/default";
  bool resume = false;
  bool quiet = false;  // no progress output (tests)
  std::string init_from;  // a checkpoint whose parameters start a fresh run (train/convert.h); --resume wins
};

struct TrainResult {
  int64_t steps = 0;
  double final_train_loss = 0;
  double final_val_loss = 0;
  double tokens_per_second = 0;  // over the steps this invocation ran
  std::string checkpoint;        // the last step folder written
};

// The schedule the [train] keys describe.
ScheduleParams schedule_params(const TrainConfig& tc);

TrainResult run_training(RunConfig run, const TrainOptions& opt);

// Mean validation loss (nats per token) over `windows` fixed windows of `seq_len`.
double validation_loss(model::LanguageModel& model, const std::string& corpus_dir, int64_t seq_len,
                       int64_t windows, int64_t batch_size, mixers::Form form);

}  // namespace attnlab::train
