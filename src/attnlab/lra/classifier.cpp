#include "attnlab/lra/classifier.h"

#include "attnlab/ops/ops.h"
#include "attnlab/ops/pool.h"

namespace attnlab::lra {

Classifier::Classifier(const model::ModelConfig& cfg, int64_t classes, const std::string& pooling, uint64_t seed,
                       DType dtype)
    : classes_(classes), pooling_(pooling) {
  ATTNLAB_CHECK(pooling == "mean" || pooling == "max" || pooling == "last", "lra.pooling = \"", pooling,
                "\": expected mean, max or last");
  ATTNLAB_CHECK(classes >= 2, "classifier: need at least 2 classes, got ", classes);
  trunk_ = std::make_unique<model::LanguageModel>(cfg, seed, dtype);
  w_ = head_.declare("cls_head.weight", {classes, cfg.d_model}, model::Init::normal(0.02));
  b_ = head_.declare("cls_head.bias", {classes}, model::Init::zeros(), false);
  head_.allocate(seed ^ 0x9e3779b97f4a7c15ULL, dtype);
}

Tensor Classifier::pool(const Tensor& h, const std::vector<int64_t>& lengths) const {
  const int64_t B = h.size(0), T = h.size(1), C = h.size(2);
  ATTNLAB_CHECK(int64_t(lengths.size()) == B, "classifier: ", lengths.size(), " lengths for batch ", B);
  if (pooling_ == "max") return ops::max_over_time(h, lengths);
  // mean and last: a weighted sum over time, weights [B, 1, T] (1/len on valid positions,
  // or one-hot at the last valid position).
  std::vector<double> wts(static_cast<size_t>(B * T), 0.0);
  for (int64_t b = 0; b < B; ++b) {
    int64_t len = lengths[size_t(b)];
    ATTNLAB_CHECK(len >= 1 && len <= T, "classifier: length ", len, " outside [1, ", T, "]");
    if (pooling_ == "last") wts[size_t(b * T + len - 1)] = 1.0;
    else
      for (int64_t t = 0; t < len; ++t) wts[size_t(b * T + t)] = 1.0 / double(len);
  }
  Tensor w = Tensor::from_vector(wts, {B, 1, T}).to(h.dtype());
  return ops::reshape(ops::bmm(w, h), {B, C});
}

Tensor Classifier::logits(const Tensor& tokens, const std::vector<int64_t>& lengths, mixers::Form form) {
  Tensor pooled = pool(trunk_->hidden(tokens, form), lengths);
  return ops::add(ops::matmul(pooled, ops::transpose(w_->value, 0, 1)), b_->value);
}

}  // namespace attnlab::lra
