// attnlab eval CHECKPOINT --lengths 256,512,... [--set key=value ...] [--json FILE]
// Loss, perplexity and bits per byte on the same validation text at every length.
#include <cstdio>
#include <filesystem>
#include <sstream>

#include <nlohmann/json.hpp>

#include "attnlab/cli/commands.h"
#include "attnlab/data/token_file.h"
#include "attnlab/data/tokenizer.h"
#include "attnlab/eval/perplexity.h"
#include "attnlab/io/atomic_file.h"
#include "attnlab/train/checkpoint.h"

namespace attnlab::cli {

std::vector<int64_t> parse_int_list(const std::string& text, const char* flag) {
  std::vector<int64_t> out;
  std::stringstream s(text);
  std::string item;
  while (std::getline(s, item, ',')) {
    try {
      size_t used = 0;
      long long v = std::stoll(item, &used);
      ATTNLAB_CHECK(used == item.size() && v > 0, "");
      out.push_back(v);
    } catch (const std::exception&) {
      throw Error(cat(flag, " '", text, "': '", item, "' is not a positive integer"));
    }
  }
  ATTNLAB_CHECK(!out.empty(), flag, " is empty");
  return out;
}

void add_eval_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "Perplexity and bits per byte of a checkpoint at several lengths");
  struct Args {
    std::string checkpoint, lengths, json, data, form = "parallel";
    std::vector<std::string> sets;
    int64_t max_tokens = 16384, stride = 0;
    bool no_sliding = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("checkpoint", a->checkpoint, "Run folder or step folder")->required();
  cmd->add_option("--lengths", a->lengths, "Comma-separated evaluation lengths, e.g. 256,512,1024")->required();
  cmd->add_option("--set", a->sets, "Override a config key, e.g. --set model.mixer.position=alibi (repeatable)");
  cmd->add_option("--json", a->json, "Also write the results as JSON to this file");
  cmd->add_option("--data", a->data, "Corpus folder (default: the checkpoint's data.path)");
  cmd->add_option("--max-tokens", a->max_tokens, "Validation tokens scored at every length")->check(CLI::PositiveNumber);
  cmd->add_option("--stride", a->stride, "Sliding-window stride (default: length / 2)");
  cmd->add_flag("--no-sliding", a->no_sliding, "Only non-overlapping windows");
  cmd->add_option("--form", a->form, "Mixer form: ref, parallel or recurrent");
  cmd->callback([a] {
    train::LoadedModel m = train::load_model(a->checkpoint, a->sets);
    std::string corpus = a->data.empty() ? m.run.data.path : a->data;
    auto val = data::TokenFile::open((std::filesystem::path(corpus) / "val.tok").string());
    auto tokenizer = data::make_tokenizer(m.run.data.tokenizer);
    ATTNLAB_CHECK(int64_t(val.vocab_size()) <= m.run.model.vocab_size, corpus, "/val.tok: vocabulary ",
                  val.vocab_size(), " is larger than the model's ", m.run.model.vocab_size);
    int64_t n = std::min<int64_t>(val.size(), a->max_tokens + 1);
    eval::PerplexityOptions opt;
    opt.lengths = parse_int_list(a->lengths, "--lengths");
    for (int64_t L : opt.lengths) train::check_sequence_length(m, L, cat("eval --lengths ", L));
    opt.max_tokens = a->max_tokens;
    opt.stride = a->stride;
    opt.sliding = !a->no_sliding;
    opt.form = mixers::parse_form(a->form);
    auto results = eval::perplexity_sweep(*m.model, val.read(0, n), *tokenizer, opt);

    std::printf("checkpoint %s (trained at length %lld), %lld validation tokens\n", m.dir.c_str(),
                (long long)m.run.train.seq_len, (long long)(n - 1));
    std::printf("%8s | %10s %9s %7s | %10s %9s %7s %7s\n", "length", "loss", "ppl", "bpb", "slide loss", "ppl",
                "bpb", "stride");
    nlohmann::json j = nlohmann::json::array();
    for (const auto& r : results) {
      std::printf("%8lld | %10.4f %9.3f %7.4f | ", (long long)r.length, r.non_overlapping.loss,
                  r.non_overlapping.ppl, r.non_overlapping.bits_per_byte);
      if (opt.sliding)
        std::printf("%10.4f %9.3f %7.4f %7lld\n", r.sliding.loss, r.sliding.ppl, r.sliding.bits_per_byte,
                    (long long)r.stride);
      else
        std::printf("%10s %9s %7s %7s\n", "-", "-", "-", "-");
      auto score = [](const eval::Score& s) {
        return nlohmann::json{{"loss", s.loss}, {"ppl", s.ppl}, {"bits_per_byte", s.bits_per_byte},
                              {"tokens", s.tokens}, {"bytes", s.bytes}};
      };
      nlohmann::json row{{"length", r.length}, {"non_overlapping", score(r.non_overlapping)}, {"seconds", r.seconds}};
      if (opt.sliding) {
        row["sliding"] = score(r.sliding);
        row["stride"] = r.stride;
      }
      j.push_back(row);
    }
    if (!a->json.empty()) {
      nlohmann::json doc{{"checkpoint", m.dir}, {"train_seq_len", m.run.train.seq_len}, {"sets", a->sets},
                         {"form", a->form}, {"results", j}};
      io::write_file_atomic(a->json, doc.dump(2) + "\n");
    }
  });
}

}  // namespace attnlab::cli
