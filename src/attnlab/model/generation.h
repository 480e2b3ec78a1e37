// Sampling from a language model with a decode state (KV cache or recurrent state):
// the prompt is run once in the parallel form (prefill), then one token at a time.
#pragma once
#include <functional>
#include <vector>

#include "attnlab/core/rng.h"
#include "attnlab/model/lm.h"

namespace attnlab::model {

struct SamplingParams {
  double temperature = 0.8;  // 0: greedy
  int64_t top_k = 0;         // 0: no limit
  double top_p = 1.0;        // nucleus: smallest set of tokens with probability >= top_p
  uint64_t seed = 0;
};

// Draws one token id from logits [V] with `u` uniform in [0, 1).
int32_t sample_token(const float* logits, int64_t V, const SamplingParams& p, double u);

// Generates up to `max_new` tokens after `prompt` (which must not be empty), calling
// `on_token` with each as it comes; stops early when `on_token` returns false.
std::vector<int32_t> generate(LanguageModel& model, const std::vector<int32_t>& prompt, int64_t max_new,
                              const SamplingParams& p, const std::function<bool(int32_t)>& on_token,
                              mixers::Form step_form = mixers::Form::Recurrent);

}  // namespace attnlab::model
