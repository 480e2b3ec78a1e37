// A sequence classifier on the LanguageModel trunk (model/lm.h): the final normed states
// [B, T, C] pooled over the valid positions (mean, max or last) and a linear head
// [classes, C] + bias. The head's parameters live in their own store beside the trunk's,
// so a trunk pretrained as a language model (self-pretraining) loads unchanged.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "attnlab/model/lm.h"

namespace attnlab::lra {

class Classifier {
 public:
  Classifier(const model::ModelConfig& cfg, int64_t classes, const std::string& pooling, uint64_t seed,
             DType dtype = DType::F32);

  model::LanguageModel& trunk() { return *trunk_; }
  model::ParamStore& head_params() { return head_; }
  int64_t classes() const { return classes_; }

  // tokens int32 [B, T] padded at the end; lengths[b] valid tokens of row b -> [B, classes].
  Tensor logits(const Tensor& tokens, const std::vector<int64_t>& lengths, mixers::Form form = mixers::Form::Parallel);
  // [B, C] pooled states (exposed for tests).
  Tensor pool(const Tensor& h, const std::vector<int64_t>& lengths) const;

 private:
  std::unique_ptr<model::LanguageModel> trunk_;
  model::ParamStore head_;
  std::shared_ptr<model::Param> w_, b_;
  int64_t classes_;
  std::string pooling_;
};

}  // namespace attnlab::lra
