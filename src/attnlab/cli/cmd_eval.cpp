// attnlab eval CHECKPOINT... --lengths 256,512,... [--set key=value ...] [--json FILE] [--csv FILE]
//                                                    [--plot FILE.svg|FILE.png]
// Loss, perplexity and bits per byte on the same validation text at every length, for one
// or several checkpoints (each loaded, scored and freed in turn). --json keeps its
// single-checkpoint format for one checkpoint; for several it is an object keyed by step
// folder. --csv has one row per checkpoint and length; --plot draws perplexity (sliding
// windows unless --no-sliding) against length, one line per checkpoint.
#include <cstdio>
#include <filesystem>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "attnlab/cli/commands.h"
#include "attnlab/data/token_file.h"
#include "attnlab/data/tokenizer.h"
#include "attnlab/eval/perplexity.h"
#include "attnlab/eval/plot.h"
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

namespace {

// A CSV field: quoted (with doubled quotes) only when it holds a separator, quote or newline.
std::string csv_field(const std::string& v) {
  if (v.find_first_of(",\"\n\r") == std::string::npos) return v;
  std::string o = "\"";
  for (char c : v) o += c == '"' ? std::string("\"\"") : std::string(1, c);
  return o + "\"";
}

std::string csv_num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "Perplexity and bits per byte of checkpoints at several lengths");
  struct Args {
    std::vector<std::string> checkpoints, sets;
    std::string lengths, json, csv, plot, data, form = "parallel";
    int64_t max_tokens = 16384, stride = 0;
    bool no_sliding = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("checkpoint", a->checkpoints, "Run folders or step folders (one or more)")->required();
  cmd->add_option("--lengths", a->lengths, "Comma-separated evaluation lengths, e.g. 256,512,1024")->required();
  // One value per --set, so a checkpoint after it is not taken for a second override.
  cmd->add_option("--set", a->sets, "Override a config key, e.g. --set model.mixer.position=alibi (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--json", a->json, "Also write the results as JSON to this file");
  cmd->add_option("--csv", a->csv, "Also write one CSV row per checkpoint and length to this file");
  cmd->add_option("--plot", a->plot, "Draw perplexity against length (log2 axis) to this file: .svg, or .png (rendered by rsvg-convert)");
  cmd->add_option("--data", a->data, "Corpus folder (default: the checkpoint's data.path)");
  cmd->add_option("--max-tokens", a->max_tokens, "Validation tokens scored at every length")->check(CLI::PositiveNumber);
  cmd->add_option("--stride", a->stride, "Sliding-window stride (default: length / 2)");
  cmd->add_flag("--no-sliding", a->no_sliding, "Only non-overlapping windows");
  cmd->add_option("--form", a->form, "Mixer form: ref, parallel or recurrent");
  cmd->callback([a] {
    eval::PerplexityOptions opt;
    opt.lengths = parse_int_list(a->lengths, "--lengths");
    opt.max_tokens = a->max_tokens;
    opt.stride = a->stride;
    opt.sliding = !a->no_sliding;
    opt.form = mixers::parse_form(a->form);

    nlohmann::json docs = nlohmann::json::object(), single;
    std::string csv =
        "checkpoint,length,train_seq_len,loss,ppl,bits_per_byte,sliding_loss,sliding_ppl,sliding_bits_per_byte,"
        "stride\n";
    std::vector<eval::PlotSeries> series;
    std::set<std::string> seen;
    for (size_t ci = 0; ci < a->checkpoints.size(); ++ci) {
      train::LoadedModel m = train::load_model(a->checkpoints[ci], a->sets);
      // Compared as canonical paths, so "run" and "./run/step_N" are one checkpoint too.
      ATTNLAB_CHECK(seen.insert(std::filesystem::weakly_canonical(m.dir).string()).second && !docs.contains(m.dir),
                    "eval: checkpoint '", a->checkpoints[ci], "' is ", m.dir,
                    ", which is already evaluated; give each checkpoint once");
      std::string corpus = a->data.empty() ? m.run.data.path : a->data;
      auto val = data::TokenFile::open((std::filesystem::path(corpus) / "val.tok").string());
      auto tokenizer = data::make_tokenizer(m.run.data.tokenizer);
      ATTNLAB_CHECK(int64_t(val.vocab_size()) <= m.run.model.vocab_size, corpus, "/val.tok: vocabulary ",
                    val.vocab_size(), " is larger than the model's ", m.run.model.vocab_size);
      int64_t n = std::min<int64_t>(val.size(), a->max_tokens + 1);
      for (int64_t L : opt.lengths) train::check_sequence_length(m, L, cat("eval --lengths ", L));
      auto results = eval::perplexity_sweep(*m.model, val.read(0, n), *tokenizer, opt);

      if (ci > 0) std::printf("\n");
      std::printf("checkpoint %s (trained at length %lld), %lld validation tokens\n", m.dir.c_str(),
                  (long long)m.run.train.seq_len, (long long)(n - 1));
      std::printf("%8s | %10s %9s %7s | %10s %9s %7s %7s\n", "length", "loss", "ppl", "bpb", "slide loss", "ppl",
                  "bpb", "stride");
      nlohmann::json j = nlohmann::json::array();
      eval::PlotSeries ps;
      ps.name = m.dir;
      ps.train_length = double(m.run.train.seq_len);
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
        const eval::Score& no = r.non_overlapping;
        csv += csv_field(m.dir) + "," + std::to_string(r.length) + "," + std::to_string(m.run.train.seq_len) + "," +
               csv_num(no.loss) + "," + csv_num(no.ppl) + "," + csv_num(no.bits_per_byte) + ",";
        csv += opt.sliding ? csv_num(r.sliding.loss) + "," + csv_num(r.sliding.ppl) + "," +
                                 csv_num(r.sliding.bits_per_byte) + "," + std::to_string(r.stride)
                           : std::string(",,,");
        csv += "\n";
        // Sliding windows give every scored token at least L - S tokens of context, the
        // fairer curve; without them the non-overlapping score is all there is.
        ps.lengths.push_back(double(r.length));
        ps.ppl.push_back(opt.sliding ? r.sliding.ppl : no.ppl);
      }
      nlohmann::json doc{{"checkpoint", m.dir}, {"train_seq_len", m.run.train.seq_len}, {"sets", a->sets},
                         {"form", a->form}, {"results", j}};
      if (ci == 0) single = doc;
      docs[m.dir] = std::move(doc);
      series.push_back(std::move(ps));
    }
    if (!a->json.empty()) io::write_file_atomic(a->json, (docs.size() == 1 ? single : docs).dump(2) + "\n");
    if (!a->csv.empty()) io::write_file_atomic(a->csv, csv);
    if (!a->plot.empty()) {
      eval::PlotOptions po;
      po.title = std::string("Perplexity against length (") + (opt.sliding ? "sliding windows" : "non-overlapping") +
                 ", form " + a->form + ")";
      eval::write_perplexity_svg(a->plot, series, po);
    }
  });
}

}  // namespace attnlab::cli
