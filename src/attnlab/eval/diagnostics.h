// Attention diagnostics (specs/methods.md §6, mechanisms.md §5): what the attention rows of
// a model look like, per layer and head, as functions of length and position.
//
// For a query at key position p (0-based) with weights a_0..a_p over the n = p + 1 keys up
// to it (sum 1):
//   entropy        H = -sum_j a_j log a_j (nats)
//   norm_entropy   H / log n: 1 for uniform attention, 0 for one-hot (undefined at n = 1,
//                  where the row is left out of this measure)
//   span           exp(H): the number of keys a uniform row of the same entropy would cover
//   max_weight     max_j a_j
//   first_weight   a_0, the weight on the first token (the "sink")
//   sparsity       S = E|a| / sqrt(E a^2) over the n keys = 1 / sqrt(n sum a_j^2):
//                  1 for uniform, 1/sqrt(n) for one-hot (Su, "can attention concentrate?")
// and, for a retrieval prompt, the needle weight: the sum of a_j over the needle's tokens
// in the row of the prompt's last token (the query that must fetch the answer).
#pragma once
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "attnlab/mixers/mixer.h"
#include "attnlab/model/lm.h"

namespace attnlab::eval {

enum Measure { kNormEntropy, kSpan, kMaxWeight, kFirstWeight, kSparsity, kEntropy, kMeasures };
const char* measure_name(int m);  // "norm_entropy", "span", ...

struct RowStats {
  std::array<double, kMeasures> v{};
  int64_t keys = 0;
};
// Statistics of one attention row of `keys` weights (summing to 1).
RowStats attention_row_stats(const double* row, int64_t keys);

// Mean of each measure over the rows added (norm_entropy over the rows with n > 1).
struct StatSums {
  std::array<double, kMeasures> sum{};
  std::array<int64_t, kMeasures> count{};
  void add(const RowStats& s);
  void merge(const StatSums& o);
  double mean(int m) const;  // NaN without rows
};

// Position bins: bin b holds key positions p with floor(log2(p + 1)) = b, i.e. the
// queries that see [2^b, 2^(b+1)) keys.
int position_bin(int64_t p);

// Collects statistics from every attention map the model reports while it is the
// observer (mixers::ObserveAttention). One instance per condition (e.g. length).
class AttentionDiagnostics : public mixers::AttentionObserver {
 public:
  void on_attention(int64_t layer, const Tensor& weights) override;
  // The needle's key range for the next forward calls; the last query row's weight on it
  // is accumulated per layer and head. end <= begin: none.
  void set_needle(int64_t begin, int64_t end) {
    needle_begin_ = begin;
    needle_end_ = end;
  }

  int64_t layers() const { return int64_t(heads_.size()); }
  int64_t heads(int64_t layer) const { return int64_t(heads_[size_t(layer)].size()); }
  // Over all rows of (layer, head).
  const StatSums& total(int64_t layer, int64_t head) const { return heads_[size_t(layer)][size_t(head)].total; }
  // By position bin; may be shorter than the longest bin seen elsewhere.
  const std::vector<StatSums>& by_position(int64_t layer, int64_t head) const {
    return heads_[size_t(layer)][size_t(head)].bins;
  }
  // Mean needle weight (NaN without needle rows) and the uniform baseline (needle tokens /
  // keys of that row), averaged the same way.
  double needle_weight(int64_t layer, int64_t head) const;
  double needle_uniform() const { return needle_rows_ ? needle_uniform_sum_ / double(needle_rows_) : NAN; }
  bool empty() const { return heads_.empty(); }

 private:
  struct Head {
    StatSums total;
    std::vector<StatSums> bins;
    double needle_sum = 0;
    int64_t needle_rows = 0;
  };
  std::vector<std::vector<Head>> heads_;
  int64_t needle_begin_ = 0, needle_end_ = 0;
  double needle_uniform_sum_ = 0;
  int64_t needle_rows_ = 0;  // counted on layer 0, head 0
};

// Runs `windows` disjoint windows of each length from `tokens` (a validation stream) through
// the model's parallel form under an AttentionDiagnostics, one per length. An error when
// the text is too short or the mixer reports no attention weights.
struct LengthDiagnostics {
  int64_t length = 0, windows = 0;
  AttentionDiagnostics stats;
};
std::vector<LengthDiagnostics> diagnose_lengths(model::LanguageModel& model, const std::vector<int32_t>& tokens,
                                                const std::vector<int64_t>& lengths, int64_t windows);

}  // namespace attnlab::eval
