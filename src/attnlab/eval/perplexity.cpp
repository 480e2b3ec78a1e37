#include "attnlab/eval/perplexity.h"

#include <chrono>
#include <cmath>

#include "attnlab/autograd/node.h"
#include "attnlab/ops/ops.h"

namespace attnlab::eval {

namespace {

// Bytes of text each token id stands for (special tokens: 0).
std::vector<int64_t> bytes_per_token(const data::Tokenizer& tok) {
  std::vector<int64_t> out(size_t(tok.vocab_size()), 0);
  for (int32_t id = 0; id < tok.vocab_size(); ++id) {
    if (id == tok.bos_id() || id == tok.eos_id() || id == tok.pad_id()) continue;
    int32_t one[1] = {id};
    out[size_t(id)] = int64_t(tok.decode(one).size());
  }
  return out;
}

// Per-token losses of targets[begin+1 .. begin+L] given inputs[begin .. begin+L-1].
std::vector<double> window_losses(model::LanguageModel& model, const std::vector<int32_t>& toks, int64_t begin,
                                  int64_t L, mixers::Form form) {
  std::vector<int32_t> in(toks.begin() + begin, toks.begin() + begin + L);
  std::vector<int32_t> tg(toks.begin() + begin + 1, toks.begin() + begin + L + 1);
  Tensor x = Tensor::from_vector(in, {1, L});
  Tensor y = Tensor::from_vector(tg, {L});
  Tensor logits = model.forward(x, form);
  Tensor losses = ops::cross_entropy_per_token(logits.view_raw({L, logits.size(2)}), y);
  return losses.to_vector();
}

Score finish(double nats, int64_t tokens, int64_t bytes) {
  Score s;
  s.tokens = tokens;
  s.bytes = bytes;
  s.loss = tokens ? nats / double(tokens) : NAN;
  s.ppl = std::exp(s.loss);
  s.bits_per_byte = bytes ? nats / std::log(2.0) / double(bytes) : NAN;
  return s;
}

}  // namespace

std::vector<LengthResult> perplexity_sweep(model::LanguageModel& model, const std::vector<int32_t>& toks_all,
                                           const data::Tokenizer& tokenizer, const PerplexityOptions& opt) {
  autograd::NoGradGuard no_grad;
  const std::vector<int64_t> nbytes = bytes_per_token(tokenizer);
  int64_t n = std::min<int64_t>(int64_t(toks_all.size()) - 1, opt.max_tokens);
  ATTNLAB_CHECK(n >= 1, "eval: the validation text has ", toks_all.size(), " tokens, need at least 2");
  std::vector<LengthResult> results;
  for (int64_t L : opt.lengths) {
    ATTNLAB_CHECK(L > 0, "eval: length ", L, " must be positive");
    ATTNLAB_CHECK(L <= n, "eval: length ", L, " is longer than the ", n, " validation tokens scored (raise --max-tokens)");
    LengthResult r;
    r.length = L;
    auto t0 = std::chrono::steady_clock::now();
    // Non-overlapping: the same first floor(n / L) * L target tokens at every length.
    double nats = 0;
    int64_t count = 0, bytes = 0;
    for (int64_t b = 0; b + L <= n; b += L) {
      auto losses = window_losses(model, toks_all, b, L, opt.form);
      for (int64_t i = 0; i < L; ++i) {
        nats += losses[size_t(i)];
        bytes += nbytes[size_t(toks_all[size_t(b + i + 1)])];
      }
      count += L;
    }
    r.non_overlapping = finish(nats, count, bytes);
    if (opt.sliding) {
      int64_t S = opt.stride > 0 ? std::min(opt.stride, L) : std::max<int64_t>(1, L / 2);
      r.stride = S;
      nats = 0;
      count = bytes = 0;
      // Window w covers inputs [w*S, w*S + L); it scores the targets not scored before.
      int64_t scored_until = 0;  // targets [0, scored_until) done (as positions in the stream)
      for (int64_t b = 0; b + L <= n; b += S) {
        auto losses = window_losses(model, toks_all, b, L, opt.form);
        for (int64_t i = std::max<int64_t>(0, scored_until - b); i < L; ++i) {
          nats += losses[size_t(i)];
          bytes += nbytes[size_t(toks_all[size_t(b + i + 1)])];
          ++count;
        }
        scored_until = b + L;
      }
      r.sliding = finish(nats, count, bytes);
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    results.push_back(r);
  }
  return results;
}

}  // namespace attnlab::eval
