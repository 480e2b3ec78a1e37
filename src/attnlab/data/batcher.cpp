#include "attnlab/data/batcher.h"

#include <filesystem>
#include <vector>

#include "attnlab/core/error.h"
#include "attnlab/core/rng.h"

namespace attnlab::data {

namespace {

constexpr uint64_t kBatchStream = 0x4241544348ull;  // "BATCH": keeps this use of the seed apart

// Copies window [start, start + T] as inputs (first T) and targets (last T).
void copy_window(const TokenFile& f, int64_t start, int64_t T, int32_t* inputs, int32_t* targets) {
  f.read(start, T, inputs);
  // Targets overlap inputs in all but the last token; copying beats a second decode of the map.
  for (int64_t t = 0; t + 1 < T; ++t) targets[t] = inputs[t + 1];
  targets[T - 1] = f.token(start + T);
}

}  // namespace

Batcher::Batcher(std::shared_ptr<const TokenFile> train, std::shared_ptr<const TokenFile> val,
                 const BatcherConfig& config)
    : train_(std::move(train)), val_(std::move(val)), config_(config) {
  ATTNLAB_CHECK(train_, "batcher: no train token file");
  ATTNLAB_CHECK(config_.batch_size >= 1, "batcher: batch size B = ", config_.batch_size, ", expected >= 1");
  // Window b is folded into the low 24 bits of Philox's stream word.
  ATTNLAB_CHECK(config_.batch_size < (int64_t(1) << 24), "batcher: batch size B = ", config_.batch_size,
                ", expected < 2^24");
  ATTNLAB_CHECK(config_.seq_len >= 1, "batcher: sequence length T = ", config_.seq_len, ", expected >= 1");
  ATTNLAB_CHECK(config_.seq_len + 1 <= train_->size(), "batcher: a window of T+1 = ", config_.seq_len + 1,
                " tokens (T = ", config_.seq_len, ") is longer than the train split's ", train_->size(),
                " tokens (", train_->path(), ")");
  if (val_)
    ATTNLAB_CHECK(val_->vocab_size() == train_->vocab_size(), "batcher: vocabulary sizes differ: ",
                  train_->path(), " has ", train_->vocab_size(), ", ", val_->path(), " has ", val_->vocab_size());
}

Batcher Batcher::open(const std::string& dir, const BatcherConfig& config) {
  namespace fs = std::filesystem;
  auto train = std::make_shared<TokenFile>(TokenFile::open((fs::path(dir) / "train.tok").string()));
  auto val = std::make_shared<TokenFile>(TokenFile::open((fs::path(dir) / "val.tok").string()));
  return Batcher(std::move(train), std::move(val), config);
}

int64_t Batcher::window_start(int64_t step, int64_t b) const {
  ATTNLAB_CHECK(step >= 0, "batcher: step ", step, ", expected >= 0");
  ATTNLAB_CHECK(b >= 0 && b < config_.batch_size, "batcher: window ", b, " out of range, B = ", config_.batch_size);
  const uint64_t choices = uint64_t(train_->size() - config_.seq_len);  // starts 0 .. N-T-1
  auto r = philox4x32(config_.seed, (kBatchStream << 24) ^ uint64_t(b), uint64_t(step));
  const uint64_t x = (uint64_t(r[0]) << 32) | r[1];
  // Multiply-shift maps 64 random bits onto [0, choices); the bias is below choices / 2^64.
  return int64_t((unsigned __int128)x * choices >> 64);
}

void Batcher::fill_train_batch(int64_t step, int32_t* inputs, int32_t* targets) const {
  const int64_t T = config_.seq_len;
  for (int64_t b = 0; b < config_.batch_size; ++b)
    copy_window(*train_, window_start(step, b), T, inputs + b * T, targets + b * T);
}

TokenBatch Batcher::train_batch(int64_t step) const {
  const int64_t B = config_.batch_size, T = config_.seq_len;
  TokenBatch out{Tensor::empty({B, T}, DType::I32), Tensor::empty({B, T}, DType::I32), {}};
  fill_train_batch(step, out.inputs.data<int32_t>(), out.targets.data<int32_t>());
  for (int64_t b = 0; b < B; ++b) out.starts.push_back(window_start(step, b));
  return out;
}

TokenBatch Batcher::validation_windows(int64_t T, int64_t max_windows) const {
  ATTNLAB_CHECK(val_, "batcher: validation windows requested but no validation token file was given");
  ATTNLAB_CHECK(T >= 1, "batcher: validation length T = ", T, ", expected >= 1");
  const int64_t N = val_->size();
  ATTNLAB_CHECK(T + 1 <= N, "batcher: a validation window of T+1 = ", T + 1, " tokens (T = ", T,
                ") is longer than the validation split's ", N, " tokens (", val_->path(), ")");
  int64_t W = (N - 1) / T;
  if (max_windows > 0) W = std::min(W, max_windows);
  TokenBatch out{Tensor::empty({W, T}, DType::I32), Tensor::empty({W, T}, DType::I32), {}};
  int32_t* in = out.inputs.data<int32_t>();
  int32_t* tg = out.targets.data<int32_t>();
  for (int64_t w = 0; w < W; ++w) {
    copy_window(*val_, w * T, T, in + w * T, tg + w * T);
    out.starts.push_back(w * T);
  }
  return out;
}

}  // namespace attnlab::data
