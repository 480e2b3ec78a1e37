#include "attnlab/data/batcher.h"

#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "attnlab/core/error.h"
#include "attnlab/data/test_util.h"

namespace attnlab::data {
namespace {

using testing::TempDir;

// A token file whose token at index i is i % vocab, so a window is checkable from its start.
std::shared_ptr<const TokenFile> counting_file(const TempDir& dir, const std::string& name, int64_t n, int64_t vocab,
                                               int64_t docs = 3) {
  std::vector<int32_t> toks(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) toks[size_t(i)] = int32_t(i % vocab);
  std::vector<uint64_t> starts;
  for (int64_t d = 0; d < docs; ++d) starts.push_back(uint64_t(n * d / docs));
  write_token_file(dir / name, uint64_t(vocab), toks, starts);
  return std::make_shared<const TokenFile>(TokenFile::open(dir / name));
}

std::vector<int32_t> as_ints(const Tensor& t) {
  const int32_t* p = t.data<int32_t>();
  return std::vector<int32_t>(p, p + t.numel());
}

TEST(Batcher, WindowsAreInputsAndNextTokenTargetsInRange) {
  TempDir dir;
  for (int64_t n : {2, 3, 63, 127, 1000}) {
    for (int64_t T : {int64_t(1), n / 2, n - 1}) {
      if (T < 1) continue;
      auto train = counting_file(dir, cat("t", n, ".tok"), n, 100003, std::min<int64_t>(n, 3));
      Batcher b(train, nullptr, {5, T, 11});
      for (int64_t step : {0, 1, 2, 1000, 123456789}) {
        TokenBatch batch = b.train_batch(step);
        ASSERT_EQ(batch.inputs.shape(), (Shape{5, T}));
        ASSERT_EQ(batch.targets.shape(), (Shape{5, T}));
        auto in = as_ints(batch.inputs), tg = as_ints(batch.targets);
        for (int64_t w = 0; w < 5; ++w) {
          int64_t s = batch.starts[size_t(w)];
          ASSERT_GE(s, 0);
          ASSERT_LE(s + T, n - 1) << "the last target must lie inside the file (n " << n << ", T " << T << ")";
          for (int64_t t = 0; t < T; ++t) {
            EXPECT_EQ(in[size_t(w * T + t)], s + t);
            EXPECT_EQ(tg[size_t(w * T + t)], s + t + 1);
          }
        }
      }
    }
  }
}

TEST(Batcher, SameSeedAndStepGiveTheSameBatchAndResumeIsExact) {
  TempDir dir;
  auto train = counting_file(dir, "t.tok", 100003, 259);
  BatcherConfig cfg{8, 127, 42};
  Batcher a(train, nullptr, cfg);
  // A second batcher over a fresh mapping stands in for a resumed run.
  Batcher resumed(std::make_shared<const TokenFile>(TokenFile::open(dir / "t.tok")), nullptr, cfg);
  std::vector<std::vector<int32_t>> run;
  for (int64_t s = 0; s < 20; ++s) run.push_back(as_ints(a.train_batch(s).inputs));
  for (int64_t s = 10; s < 20; ++s) EXPECT_EQ(as_ints(resumed.train_batch(s).inputs), run[size_t(s)]) << "step " << s;
  for (int64_t s = 1; s < 20; ++s) EXPECT_NE(run[size_t(s)], run[size_t(s - 1)]) << "steps " << s - 1 << " and " << s;
  Batcher other_seed(train, nullptr, {8, 127, 43});
  EXPECT_NE(as_ints(other_seed.train_batch(0).inputs), run[0]);

  // The buffer-filling form gives the same values.
  std::vector<int32_t> in(8 * 127), tg(8 * 127);
  a.fill_train_batch(7, in.data(), tg.data());
  TokenBatch b7 = a.train_batch(7);
  EXPECT_EQ(in, as_ints(b7.inputs));
  EXPECT_EQ(tg, as_ints(b7.targets));
}

TEST(Batcher, StartsCoverEveryValidPosition) {
  TempDir dir;
  auto train = counting_file(dir, "t.tok", 10, 259, 1);
  Batcher b(train, nullptr, {4, 5, 1});  // starts 0..4
  std::set<int64_t> seen;
  for (int64_t s = 0; s < 100; ++s)
    for (int64_t w = 0; w < 4; ++w) seen.insert(b.window_start(s, w));
  EXPECT_EQ(seen, (std::set<int64_t>{0, 1, 2, 3, 4}));
}

TEST(Batcher, WindowLongerThanTheSplitIsAnError) {
  TempDir dir;
  auto train = counting_file(dir, "t.tok", 64, 259);
  auto val = counting_file(dir, "v.tok", 10, 259, 1);
  EXPECT_ERROR(Batcher(train, val, BatcherConfig{2, 64, 0}),
               "a window of T+1 = 65 tokens (T = 64) is longer than the train split's 64 tokens");
  Batcher b(train, val, {2, 63, 0});  // T+1 == N: the single window at 0
  EXPECT_EQ(b.window_start(5, 1), 0);
  EXPECT_ERROR(b.validation_windows(10, 0),
               "a validation window of T+1 = 11 tokens (T = 10) is longer than the validation split's 10 tokens");
  EXPECT_ERROR(Batcher(train, val, BatcherConfig{0, 8, 0}), "batch size B = 0");
  EXPECT_ERROR(Batcher(train, val, BatcherConfig{2, 0, 0}), "sequence length T = 0");
  auto wide = counting_file(dir, "w.tok", 64, 70000);
  EXPECT_ERROR(Batcher(train, wide, BatcherConfig{2, 8, 0}), "vocabulary sizes differ");
  Batcher no_val(train, nullptr, {2, 8, 0});
  EXPECT_ERROR(no_val.validation_windows(4, 0), "no validation token file");
}

TEST(Batcher, ValidationWindowsAreFixedNonOverlappingAndInOrder) {
  TempDir dir;
  auto train = counting_file(dir, "t.tok", 64, 100003);
  for (int64_t n : {2, 3, 63, 127, 1000}) {
    auto val = counting_file(dir, cat("v", n, ".tok"), n, 100003, 1);
    Batcher b(train, val, {2, 8, 9});
    for (int64_t T : {int64_t(1), int64_t(7), n - 1}) {
      if (T + 1 > n) continue;
      TokenBatch all = b.validation_windows(T, 0);
      const int64_t W = (n - 1) / T;
      ASSERT_EQ(all.inputs.shape(), (Shape{W, T}));
      auto in = as_ints(all.inputs), tg = as_ints(all.targets);
      for (int64_t w = 0; w < W; ++w) {
        EXPECT_EQ(all.starts[size_t(w)], w * T);
        for (int64_t t = 0; t < T; ++t) {
          EXPECT_EQ(in[size_t(w * T + t)], w * T + t) << "inputs tile the split without overlap";
          EXPECT_EQ(tg[size_t(w * T + t)], w * T + t + 1);
        }
      }
      TokenBatch capped = b.validation_windows(T, 2);
      EXPECT_EQ(capped.inputs.size(0), std::min<int64_t>(W, 2));
      EXPECT_EQ(as_ints(b.validation_windows(T, 0).inputs), in) << "the same windows every time";
    }
  }
}

TEST(Batcher, OpensAPreparedCorpusFolder) {
  TempDir dir;
  counting_file(dir, "train.tok", 500, 259);
  counting_file(dir, "val.tok", 50, 259);
  Batcher b = Batcher::open(dir.path().string(), {3, 16, 5});
  EXPECT_EQ(b.vocab_size(), 259u);
  EXPECT_EQ(b.validation_windows(16, 0).inputs.size(0), 3);
  EXPECT_ERROR(Batcher::open((dir / "missing"), {3, 16, 5}), "train.tok: cannot open");
}

}  // namespace
}  // namespace attnlab::data
