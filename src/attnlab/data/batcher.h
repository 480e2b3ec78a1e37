// Batches for training and evaluation, drawn from the token files of a prepared corpus.
//
// A training batch is B windows of T+1 consecutive tokens from train.tok: inputs are the
// first T, targets the last T (the next token at every position). Window b of step s
// starts at a position that is a pure function of (seed, s, b) through the counter-based
// Philox generator, so the data cursor of a run is just its step: a run resumed at step s
// sees bitwise the same batches as one that never stopped, whatever the thread count.
// Windows cross document boundaries freely; EOS tokens mark them.
//
// Validation windows are fixed: non-overlapping inputs [i*T, i*T + T) with targets shifted
// by one, in order from the start of val.tok, so every evaluation sees the same tokens.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "attnlab/core/tensor.h"
#include "attnlab/data/token_file.h"

namespace attnlab::data {

struct TokenBatch {
  Tensor inputs;                // [B, T] int32
  Tensor targets;               // [B, T] int32
  std::vector<int64_t> starts;  // first token of each window in its file
};

struct BatcherConfig {
  int64_t batch_size = 0;  // B
  int64_t seq_len = 0;     // T
  uint64_t seed = 0;
};

class Batcher {
 public:
  // `val` may be null when only training batches are wanted.
  Batcher(std::shared_ptr<const TokenFile> train, std::shared_ptr<const TokenFile> val, const BatcherConfig& config);
  // Opens DIR/train.tok and DIR/val.tok of a corpus written by `attnlab data prepare`.
  static Batcher open(const std::string& dir, const BatcherConfig& config);

  const BatcherConfig& config() const { return config_; }
  uint64_t vocab_size() const { return train_->vocab_size(); }
  const TokenFile& train_file() const { return *train_; }

  // Start of window b of step s: uniform over [0, N - T - 1], N = train tokens.
  int64_t window_start(int64_t step, int64_t b) const;
  // Fills caller-owned [B, T] buffers (a trainer's preallocated ones).
  void fill_train_batch(int64_t step, int32_t* inputs, int32_t* targets) const;
  TokenBatch train_batch(int64_t step) const;

  // min(max_windows, (N_val - 1) / T) windows of length T from the start of val.tok;
  // max_windows <= 0 means all of them.
  TokenBatch validation_windows(int64_t seq_len, int64_t max_windows) const;

 private:
  std::shared_ptr<const TokenFile> train_, val_;
  BatcherConfig config_;
};

}  // namespace attnlab::data
