#include "attnlab/model/generation.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "attnlab/autograd/node.h"

namespace attnlab::model {

int32_t sample_token(const float* logits, int64_t V, const SamplingParams& p, double u) {
  ATTNLAB_CHECK(p.temperature >= 0, "temperature must be >= 0, got ", p.temperature);
  ATTNLAB_CHECK(p.top_p > 0 && p.top_p <= 1, "top-p must be in (0, 1], got ", p.top_p);
  if (p.temperature == 0) return int32_t(std::max_element(logits, logits + V) - logits);
  std::vector<int32_t> order(static_cast<size_t>(V));
  std::iota(order.begin(), order.end(), 0);
  // Highest logit first; ties broken by id so the draw is deterministic.
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return logits[a] != logits[b] ? logits[a] > logits[b] : a < b;
  });
  int64_t keep = p.top_k > 0 ? std::min(p.top_k, V) : V;
  std::vector<double> prob(static_cast<size_t>(keep));
  double mx = logits[order[0]], total = 0;
  for (int64_t i = 0; i < keep; ++i) total += prob[size_t(i)] = std::exp((logits[order[size_t(i)]] - mx) / p.temperature);
  // Nucleus: cut after the smallest prefix reaching top_p of the mass.
  double mass = 0;
  int64_t cut = keep;
  for (int64_t i = 0; i < keep; ++i) {
    mass += prob[size_t(i)] / total;
    if (mass >= p.top_p) {
      cut = i + 1;
      break;
    }
  }
  double kept = 0;
  for (int64_t i = 0; i < cut; ++i) kept += prob[size_t(i)];
  double target = u * kept, acc = 0;
  for (int64_t i = 0; i < cut; ++i) {
    acc += prob[size_t(i)];
    if (target < acc) return order[size_t(i)];
  }
  return order[size_t(cut - 1)];
}

std::vector<int32_t> generate(LanguageModel& model, const std::vector<int32_t>& prompt, int64_t max_new,
                              const SamplingParams& p, const std::function<bool(int32_t)>& on_token,
                              mixers::Form step_form) {
  ATTNLAB_CHECK(!prompt.empty(), "generate: the prompt is empty (it needs at least one token)");
  autograd::NoGradGuard no_grad;
  DecodeState state = model.make_state();
  Rng rng(p.seed);
  const int64_t V = model.config().vocab_size;
  Tensor logits = model.forward(Tensor::from_vector(prompt, {1, int64_t(prompt.size())}),
                                mixers::Form::Parallel, &state);
  std::vector<int32_t> out;
  for (int64_t i = 0; i < max_new; ++i) {
    const float* last = logits.data<float>() + (logits.size(1) - 1) * V;
    int32_t tok = sample_token(last, V, p, rng.next_uniform());
    out.push_back(tok);
    if (!on_token(tok) || i + 1 == max_new) break;
    logits = model.forward(Tensor::from_vector(std::vector<int32_t>{tok}, {1, 1}), step_form, &state);
  }
  return out;
}

}  // namespace attnlab::model
