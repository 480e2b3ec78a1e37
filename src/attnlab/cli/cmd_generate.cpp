// attnlab generate CHECKPOINT --prompt TEXT --max-new N [--temperature --top-k --top-p --seed]
// Streams tokens to stdout as they are sampled.
#include <cstdio>

#include "attnlab/cli/commands.h"
#include "attnlab/data/tokenizer.h"
#include "attnlab/model/generation.h"
#include "attnlab/train/checkpoint.h"

namespace attnlab::cli {

void add_generate_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("generate", "Sample text from a checkpoint (KV cache / recurrent state)");
  struct Args {
    std::string checkpoint, prompt;
    std::vector<std::string> sets;
    int64_t max_new = 200;
    model::SamplingParams sampling;
    bool stop_at_eos = true;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("checkpoint", a->checkpoint, "Run folder or step folder")->required();
  cmd->add_option("--prompt", a->prompt, "Text to continue")->required();
  cmd->add_option("--max-new", a->max_new, "Tokens to generate")->check(CLI::PositiveNumber);
  cmd->add_option("--temperature", a->sampling.temperature, "Sampling temperature (0: greedy)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-k", a->sampling.top_k, "Sample among the k most likely tokens (0: all)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-p", a->sampling.top_p, "Nucleus sampling mass in (0, 1]")->check(CLI::Range(1e-9, 1.0));
  cmd->add_option("--seed", a->sampling.seed, "Sampling seed");
  cmd->add_option("--set", a->sets, "Override a config key (repeatable)");
  cmd->callback([a] {
    train::LoadedModel m = train::load_model(a->checkpoint, a->sets);
    auto tok = data::make_tokenizer(m.run.data.tokenizer);
    std::vector<int32_t> prompt = tok->encode(a->prompt);
    // The last sampled token is never fed back, hence the - 1.
    train::check_sequence_length(m, int64_t(prompt.size()) + a->max_new - 1,
                                 cat("generate: the prompt (", prompt.size(), " tokens) with --max-new ", a->max_new));
    std::fputs(a->prompt.c_str(), stdout);
    std::fflush(stdout);
    model::generate(*m.model, prompt, a->max_new, a->sampling, [&](int32_t t) {
      if (t == tok->eos_id()) return false;
      std::string piece = tok->decode(std::vector<int32_t>{t});
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
      return true;
    });
    std::fputs("\n", stdout);
  });
}

}  // namespace attnlab::cli
