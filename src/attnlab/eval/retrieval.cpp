#include "attnlab/eval/retrieval.h"

#include <algorithm>
#include <cctype>

#include "attnlab/autograd/node.h"
#include "attnlab/core/error.h"

namespace attnlab::eval {

namespace {

struct DigitRun {
  size_t begin = 0, end = 0;
};

std::vector<DigitRun> digit_runs(std::string_view t) {
  std::vector<DigitRun> runs;
  for (size_t i = 0; i < t.size();) {
    if (!std::isdigit(static_cast<unsigned char>(t[i]))) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < t.size() && std::isdigit(static_cast<unsigned char>(t[j]))) ++j;
    runs.push_back({i, j});
    i = j;
  }
  return runs;
}

std::optional<int64_t> value_of(std::string_view t, DigitRun r) {
  while (r.begin + 1 < r.end && t[r.begin] == '0') ++r.begin;
  if (r.end - r.begin > 18) return std::nullopt;
  int64_t v = 0;
  for (size_t i = r.begin; i < r.end; ++i) v = v * 10 + (t[i] - '0');
  return v;
}

}  // namespace

std::optional<int64_t> first_integer(std::string_view text) {
  auto runs = digit_runs(text);
  return runs.empty() ? std::nullopt : value_of(text, runs.front());
}

std::optional<int64_t> last_integer(std::string_view text) {
  auto runs = digit_runs(text);
  return runs.empty() ? std::nullopt : value_of(text, runs.back());
}

std::string normalise_answer(std::string_view text) {
  size_t b = 0, e = text.size();
  while (b < e && std::isspace(static_cast<unsigned char>(text[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(text[e - 1]))) --e;
  if (e > b && text[e - 1] == '.') --e;
  while (e > b && std::isspace(static_cast<unsigned char>(text[e - 1]))) --e;
  std::string out(text.substr(b, e - b));
  for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool score_output(const data::TaskExample& example, std::string_view output) {
  switch (example.kind) {
    case data::TaskKind::Passkey: {
      auto v = first_integer(output);
      return v && std::to_string(*v) == example.answer;
    }
    case data::TaskKind::Lines: {
      auto v = last_integer(output);
      return v && std::to_string(*v) == example.answer;
    }
    case data::TaskKind::Topics: return normalise_answer(output) == normalise_answer(example.answer);
  }
  return false;
}

std::string greedy_completion(model::LanguageModel& model, const data::Tokenizer& tok,
                              const std::vector<int32_t>& prompt, int64_t max_new, mixers::Form step_form) {
  ATTNLAB_CHECK(!prompt.empty(), "retrieval: empty prompt");
  autograd::NoGradGuard no_grad;
  model::DecodeState state = model.make_state();
  const int64_t V = model.config().vocab_size;
  Tensor logits = model.forward(Tensor::from_vector(prompt, {1, int64_t(prompt.size())}), mixers::Form::Parallel, &state);
  std::vector<int32_t> out;
  for (int64_t i = 0; i < max_new; ++i) {
    const float* last = logits.data<float>() + (logits.size(1) - 1) * V;
    int32_t t = int32_t(std::max_element(last, last + V) - last);
    if (t == tok.eos_id()) break;
    out.push_back(t);
    int32_t one[1] = {t};
    if (tok.decode(one).find('\n') != std::string::npos || i + 1 == max_new) break;
    logits = model.forward(Tensor::from_vector(std::vector<int32_t>{t}, {1, 1}), step_form, &state);
  }
  return tok.decode(out);
}

std::vector<RetrievalCell> run_retrieval(model::LanguageModel& model, const data::Tokenizer& tok,
                                         const RetrievalOptions& opt) {
  ATTNLAB_CHECK(!opt.lengths.empty(), "retrieval: no lengths");
  ATTNLAB_CHECK(opt.trials >= 1, "retrieval: trials must be >= 1, got ", opt.trials);
  std::vector<double> depths = opt.task == data::TaskKind::Topics ? std::vector<double>{0.0} : opt.depths;
  ATTNLAB_CHECK(!depths.empty(), "retrieval: no depths");
  for (double d : depths) ATTNLAB_CHECK(d >= 0 && d <= 1, "retrieval: depth ", d, " must lie in [0, 1]");
  std::vector<RetrievalCell> cells;
  for (int64_t L : opt.lengths)
    for (double depth : depths) {
      RetrievalCell c;
      c.length = L;
      c.depth = depth;
      double prompt_tokens = 0;
      for (int64_t t = 0; t < opt.trials; ++t) {
        const uint64_t seed = opt.seed * 1000003ull + uint64_t(t);
        data::TaskExample ex = data::make_task_example(opt.task, tok, L, depth, seed, opt.task_options);
        data::TaskTokens tt = data::encode_task(ex, tok);
        const int64_t max_new = opt.max_new > 0 ? opt.max_new : int64_t(tt.completion.size()) + 4;
        std::string out;
        if (opt.needle_attention) {
          c.attention.set_needle(tt.needle_begin, tt.needle_end);
          mixers::ObserveAttention observe(&c.attention);
          // The prefill alone: the needle weight is read in the prompt's last row.
          autograd::NoGradGuard no_grad;
          model.forward(Tensor::from_vector(tt.prompt, {1, int64_t(tt.prompt.size())}), mixers::Form::Parallel);
        }
        out = greedy_completion(model, tok, tt.prompt, max_new, opt.step_form);
        bool ok = score_output(ex, out);
        c.correct += ok;
        ++c.trials;
        prompt_tokens += double(tt.prompt.size());
        if (c.outputs.size() < 3) {
          c.outputs.push_back(out);
          c.expected.push_back(ex.answer);
        }
      }
      c.accuracy = double(c.correct) / double(c.trials);
      c.mean_prompt_tokens = prompt_tokens / double(c.trials);
      cells.push_back(std::move(c));
    }
  return cells;
}

}  // namespace attnlab::eval
