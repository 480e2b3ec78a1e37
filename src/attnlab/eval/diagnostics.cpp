#include "attnlab/eval/diagnostics.h"

#include <cmath>

#include "attnlab/autograd/node.h"
#include "attnlab/core/error.h"

namespace attnlab::eval {

const char* measure_name(int m) {
  static const char* const names[kMeasures] = {"norm_entropy", "span",     "max_weight",
                                               "first_weight", "sparsity", "entropy"};
  return m >= 0 && m < kMeasures ? names[m] : "?";
}

RowStats attention_row_stats(const double* row, int64_t keys) {
  ATTNLAB_CHECK(keys >= 1, "diagnostics: a row needs at least one key, got ", keys);
  RowStats s;
  s.keys = keys;
  double h = 0, sq = 0, mx = 0;
  for (int64_t j = 0; j < keys; ++j) {
    double a = row[j];
    if (a > 0) h -= a * std::log(a);
    sq += a * a;
    mx = std::max(mx, a);
  }
  s.v[kEntropy] = h;
  s.v[kNormEntropy] = keys > 1 ? h / std::log(double(keys)) : NAN;
  s.v[kSpan] = std::exp(h);
  s.v[kMaxWeight] = mx;
  s.v[kFirstWeight] = row[0];
  // E|a| = 1/n (the weights are non-negative and sum to 1); sqrt(E a^2) = sqrt(sum a^2 / n).
  s.v[kSparsity] = sq > 0 ? 1.0 / std::sqrt(double(keys) * sq) : NAN;
  return s;
}

void StatSums::add(const RowStats& s) {
  for (int m = 0; m < kMeasures; ++m)
    if (std::isfinite(s.v[size_t(m)])) {
      sum[size_t(m)] += s.v[size_t(m)];
      ++count[size_t(m)];
    }
}

void StatSums::merge(const StatSums& o) {
  for (int m = 0; m < kMeasures; ++m) {
    sum[size_t(m)] += o.sum[size_t(m)];
    count[size_t(m)] += o.count[size_t(m)];
  }
}

double StatSums::mean(int m) const { return count[size_t(m)] ? sum[size_t(m)] / double(count[size_t(m)]) : NAN; }

int position_bin(int64_t p) {
  ATTNLAB_CHECK(p >= 0, "diagnostics: position ", p, " is negative");
  int b = 0;
  while ((p + 1) >> (b + 1)) ++b;
  return b;
}

void AttentionDiagnostics::on_attention(int64_t layer, const Tensor& weights) {
  ATTNLAB_CHECK(weights.dim() == 4 && weights.dtype() == DType::F64,
                "diagnostics: expected float64 attention weights [B, H, Tq, Tk], got ", shape_str(weights.shape()));
  const int64_t B = weights.size(0), H = weights.size(1), Tq = weights.size(2), Tk = weights.size(3);
  ATTNLAB_CHECK(layer >= 0 && Tq <= Tk, "diagnostics: bad attention map for layer ", layer);
  Tensor w = weights.contiguous();
  const double* W = w.data<double>();
  if (int64_t(heads_.size()) <= layer) heads_.resize(size_t(layer + 1));
  auto& hs = heads_[size_t(layer)];
  if (int64_t(hs.size()) < H) hs.resize(size_t(H));
  const int64_t offset = Tk - Tq;
  const bool needle = needle_end_ > needle_begin_ && needle_end_ <= Tk;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      Head& head = hs[size_t(h)];
      for (int64_t i = 0; i < Tq; ++i) {
        const int64_t p = offset + i;
        const double* row = W + ((b * H + h) * Tq + i) * Tk;
        RowStats s = attention_row_stats(row, p + 1);
        head.total.add(s);
        int bin = position_bin(p);
        if (int64_t(head.bins.size()) <= bin) head.bins.resize(size_t(bin + 1));
        head.bins[size_t(bin)].add(s);
        if (needle && i == Tq - 1) {
          double sum = 0;
          for (int64_t j = needle_begin_; j < needle_end_ && j <= p; ++j) sum += row[j];
          head.needle_sum += sum;
          ++head.needle_rows;
          if (layer == 0 && h == 0) {
            needle_uniform_sum_ += double(std::min(needle_end_, p + 1) - needle_begin_) / double(p + 1);
            ++needle_rows_;
          }
        }
      }
    }
}

double AttentionDiagnostics::needle_weight(int64_t layer, int64_t head) const {
  const Head& h = heads_[size_t(layer)][size_t(head)];
  return h.needle_rows ? h.needle_sum / double(h.needle_rows) : NAN;
}

std::vector<LengthDiagnostics> diagnose_lengths(model::LanguageModel& model, const std::vector<int32_t>& tokens,
                                                const std::vector<int64_t>& lengths, int64_t windows) {
  ATTNLAB_CHECK(windows >= 1, "diagnose: windows must be >= 1, got ", windows);
  autograd::NoGradGuard no_grad;
  std::vector<LengthDiagnostics> out;
  for (int64_t L : lengths) {
    ATTNLAB_CHECK(L >= 2, "diagnose: length ", L, " must be at least 2");
    const int64_t w = std::min<int64_t>(windows, int64_t(tokens.size()) / L);
    ATTNLAB_CHECK(w >= 1, "diagnose: length ", L, " is longer than the ", tokens.size(), " tokens of text");
    LengthDiagnostics d;
    d.length = L;
    d.windows = w;
    for (int64_t i = 0; i < w; ++i) {
      std::vector<int32_t> win(tokens.begin() + i * L, tokens.begin() + (i + 1) * L);
      mixers::ObserveAttention observe(&d.stats);
      model.forward(Tensor::from_vector(win, {1, L}), mixers::Form::Parallel);
    }
    ATTNLAB_CHECK(!d.stats.empty(), "diagnose: the mixer '", model.config().mixer.name,
                  "' reports no attention weights (only mixers with explicit attention maps can be diagnosed)");
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace attnlab::eval
