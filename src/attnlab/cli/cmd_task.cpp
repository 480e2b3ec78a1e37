// attnlab task show TASK [--length N] [--depth D] [--seed S] [--tokenizer SPEC] [--header H]
// attnlab task corpus TASK --out DIR --length N [--min-length M] [--examples N] ...
// attnlab task eval CHECKPOINT --task TASK --lengths 256,512 [--depths 0,0.5,1] [--trials N]
//                   [--set key=value ...] [--json F] [--csv F] [--heatmap F.svg] [--needle-attention]
// The retrieval tasks of data/tasks.h: look at a prompt, write a training corpus of the
// task's format, or measure accuracy by context length x needle depth (eval/retrieval.h).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include <nlohmann/json.hpp>

#include "attnlab/cli/commands.h"
#include "attnlab/cli/task_report.h"
#include "attnlab/data/tasks.h"
#include "attnlab/eval/chart.h"
#include "attnlab/eval/retrieval.h"
#include "attnlab/io/atomic_file.h"
#include "attnlab/train/checkpoint.h"

namespace attnlab::cli {

std::vector<double> parse_depth_list(const std::string& text) {
  std::vector<double> out;
  std::stringstream s(text);
  std::string item;
  while (std::getline(s, item, ',')) {
    try {
      size_t used = 0;
      double v = std::stod(item, &used);
      ATTNLAB_CHECK(used == item.size() && v >= 0 && v <= 1, "");
      out.push_back(v);
    } catch (const std::exception&) {
      throw Error(cat("--depths '", text, "': '", item, "' is not a number in [0, 1]"));
    }
  }
  ATTNLAB_CHECK(!out.empty(), "--depths is empty");
  return out;
}

nlohmann::json retrieval_json(const std::vector<eval::RetrievalCell>& cells, bool needle) {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& c : cells) {
    nlohmann::json j{{"length", c.length},       {"depth", c.depth},
                     {"trials", c.trials},       {"correct", c.correct},
                     {"accuracy", c.accuracy},   {"mean_prompt_tokens", c.mean_prompt_tokens},
                     {"outputs", c.outputs},     {"expected", c.expected}};
    if (needle && !c.attention.empty()) {
      nlohmann::json layers = nlohmann::json::array();
      for (int64_t l = 0; l < c.attention.layers(); ++l) {
        nlohmann::json heads = nlohmann::json::array();
        for (int64_t h = 0; h < c.attention.heads(l); ++h) heads.push_back(c.attention.needle_weight(l, h));
        layers.push_back(heads);
      }
      j["needle_weight"] = layers;
      j["needle_uniform"] = c.attention.needle_uniform();
    }
    arr.push_back(j);
  }
  return arr;
}

std::string retrieval_heatmap(const std::vector<eval::RetrievalCell>& cells, const std::string& title) {
  std::vector<int64_t> lengths;
  std::vector<double> depths;
  for (const auto& c : cells) {
    if (std::find(lengths.begin(), lengths.end(), c.length) == lengths.end()) lengths.push_back(c.length);
    if (std::find(depths.begin(), depths.end(), c.depth) == depths.end()) depths.push_back(c.depth);
  }
  std::vector<std::vector<double>> v(depths.size(), std::vector<double>(lengths.size(), NAN));
  for (const auto& c : cells)
    v[size_t(std::find(depths.begin(), depths.end(), c.depth) - depths.begin())]
     [size_t(std::find(lengths.begin(), lengths.end(), c.length) - lengths.begin())] = c.accuracy;
  std::vector<std::string> rows, cols;
  for (double d : depths) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", d);
    rows.push_back(buf);
  }
  for (int64_t L : lengths) cols.push_back(std::to_string(L));
  eval::HeatmapOptions ho;
  ho.title = title;
  ho.x_label = "context length (tokens)";
  ho.y_label = "needle depth";
  return eval::heatmap_svg(v, rows, cols, ho);
}

std::string csv_quote(const std::string& v) {
  if (v.find_first_of(",\"\n\r") == std::string::npos) return v;
  std::string o = "\"";
  for (char c : v) o += c == '"' ? std::string("\"\"") : std::string(1, c);
  return o + "\"";
}

void print_retrieval_table(const std::string& checkpoint, const std::string& task, const std::vector<std::string>& sets,
                           const std::vector<eval::RetrievalCell>& cells) {
  std::vector<int64_t> lengths;
  std::vector<double> depths;
  for (const auto& c : cells) {
    if (std::find(lengths.begin(), lengths.end(), c.length) == lengths.end()) lengths.push_back(c.length);
    if (std::find(depths.begin(), depths.end(), c.depth) == depths.end()) depths.push_back(c.depth);
  }
  std::string s;
  for (const auto& x : sets) s += " --set " + x;
  std::printf("checkpoint %s, task %s%s: accuracy (correct / trials)\n%8s", checkpoint.c_str(), task.c_str(), s.c_str(),
              "depth");
  for (int64_t L : lengths) std::printf(" | %12lld", (long long)L);
  std::printf("\n");
  for (double d : depths) {
    std::printf("%8g", d);
    for (int64_t L : lengths)
      for (const auto& c : cells)
        if (c.length == L && c.depth == d)
          std::printf(" | %5.2f %6s", c.accuracy,
                      (std::to_string(c.correct) + "/" + std::to_string(c.trials)).c_str());
    std::printf("\n");
  }
}

namespace {

data::TaskOptions task_options(const std::string& header, const std::string& index, int64_t exchanges) {
  data::TaskOptions o;
  o.header = header;
  o.line_index = index;
  o.topic_exchanges = exchanges;
  o.validate();
  return o;
}

}  // namespace

void add_task_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("task", "Retrieval tasks (passkey, lines, topics): show, write a corpus, evaluate");
  cmd->require_subcommand(1);
  struct Common {
    std::string header = "full", line_index = "number", tokenizer = "byte";
    int64_t exchanges = 2;
  };
  auto add_common = [](CLI::App* c, Common& o) {
    c->add_option("--header", o.header, "Instruction text: full, short or none");
    c->add_option("--line-index", o.line_index, "lines: number (LRT) or words (adjective-noun)");
    c->add_option("--exchanges", o.exchanges, "topics: exchanges per conversation (0: the opening sentence alone)");
  };

  // ---- show ----
  auto* show = cmd->add_subcommand("show", "Print one prompt and its completion");
  struct ShowArgs {
    Common c;
    std::string task;
    int64_t length = 256;
    double depth = 0.5;
    uint64_t seed = 1;
  };
  auto sa = std::make_shared<ShowArgs>();
  show->add_option("task", sa->task, "passkey | lines | topics")->required();
  show->add_option("--length", sa->length, "Prompt tokens at most")->check(CLI::PositiveNumber);
  show->add_option("--depth", sa->depth, "Needle depth in [0, 1]");
  show->add_option("--seed", sa->seed, "Example seed");
  show->add_option("--tokenizer", sa->c.tokenizer, "Tokenizer spec (byte | spm:PATH)");
  add_common(show, sa->c);
  show->callback([sa] {
    auto tok = data::make_tokenizer(sa->c.tokenizer);
    auto ex = data::make_task_example(data::parse_task_kind(sa->task), *tok, sa->length, sa->depth, sa->seed,
                                      task_options(sa->c.header, sa->c.line_index, sa->c.exchanges));
    auto t = data::encode_task(ex, *tok);
    std::printf("%s", ex.prompt().c_str());
    std::printf("%s", ex.completion.c_str());
    std::fprintf(stderr, "[%s: %lld prompt tokens, %lld units, needle tokens [%lld, %lld), answer '%s']\n",
                 sa->task.c_str(), (long long)t.prompt.size(), (long long)ex.units, (long long)t.needle_begin,
                 (long long)t.needle_end, ex.answer.c_str());
  });

  // ---- corpus ----
  auto* corpus = cmd->add_subcommand("corpus", "Write a training corpus of the task's format (for attnlab train)");
  struct CorpusArgs {
    Common c;
    std::string task, out;
    data::TaskCorpusOptions o;
  };
  auto ca = std::make_shared<CorpusArgs>();
  corpus->add_option("task", ca->task, "passkey | lines | topics")->required();
  corpus->add_option("--out", ca->out, "Output folder (train.tok, val.tok, meta.json)")->required();
  corpus->add_option("--length", ca->o.max_tokens, "Longest prompt in tokens")->check(CLI::PositiveNumber);
  corpus->add_option("--min-length", ca->o.min_tokens, "Shortest prompt (default: length / 2)");
  corpus->add_option("--examples", ca->o.train_examples, "Training examples")->check(CLI::PositiveNumber);
  corpus->add_option("--val-examples", ca->o.val_examples, "Validation examples")->check(CLI::PositiveNumber);
  corpus->add_option("--seed", ca->o.seed, "Seed of the examples");
  corpus->add_option("--tokenizer", ca->c.tokenizer, "Tokenizer spec (byte | spm:PATH)");
  add_common(corpus, ca->c);
  corpus->callback([ca] {
    ca->o.kind = data::parse_task_kind(ca->task);
    ca->o.tokenizer = ca->c.tokenizer;
    ca->o.task = task_options(ca->c.header, ca->c.line_index, ca->c.exchanges);
    auto r = data::write_task_corpus(ca->out, ca->o);
    std::printf("%s: %lld train tokens, %lld validation tokens, %.1f prompt tokens per example\n", ca->out.c_str(),
                (long long)r.train_tokens, (long long)r.val_tokens, r.mean_prompt_tokens);
  });

  // ---- eval ----
  auto* ev = cmd->add_subcommand("eval", "Accuracy by context length x needle depth (greedy decoding)");
  struct EvalArgs {
    Common c;
    std::string checkpoint, task = "passkey", lengths, depths = "0,0.25,0.5,0.75,1", json, csv, heatmap;
    std::vector<std::string> sets;
    int64_t trials = 10, max_new = 0;
    uint64_t seed = 1;
    bool needle = false;
  };
  auto ea = std::make_shared<EvalArgs>();
  ev->add_option("checkpoint", ea->checkpoint, "Run folder or step folder")->required();
  ev->add_option("--task", ea->task, "passkey | lines | topics");
  ev->add_option("--lengths", ea->lengths, "Comma-separated context lengths (prompt tokens at most)")->required();
  ev->add_option("--depths", ea->depths, "Comma-separated needle depths in [0, 1] (topics: ignored)");
  ev->add_option("--trials", ea->trials, "Prompts per cell")->check(CLI::PositiveNumber);
  ev->add_option("--seed", ea->seed, "Seed of the prompts");
  ev->add_option("--max-new", ea->max_new, "Tokens generated at most (default: the answer's + 4)");
  ev->add_option("--set", ea->sets, "Override a config key, e.g. --set model.mixer.alibi_scaling=ntk")
      ->allow_extra_args(false);
  ev->add_option("--json", ea->json, "Write the cells as JSON");
  ev->add_option("--csv", ea->csv, "Write one CSV row per cell");
  ev->add_option("--heatmap", ea->heatmap, "Draw accuracy (depth x length) as SVG");
  ev->add_flag("--needle-attention", ea->needle, "Also measure each head's weight on the needle");
  add_common(ev, ea->c);
  ev->callback([ea] {
    eval::RetrievalOptions ro;
    ro.task = data::parse_task_kind(ea->task);
    ro.task_options = task_options(ea->c.header, ea->c.line_index, ea->c.exchanges);
    ro.lengths = parse_int_list(ea->lengths, "--lengths");
    ro.depths = parse_depth_list(ea->depths);
    ro.trials = ea->trials;
    ro.seed = ea->seed;
    ro.max_new = ea->max_new;
    ro.needle_attention = ea->needle;
    train::LoadedModel m = train::load_model(ea->checkpoint, ea->sets);
    auto tok = data::make_tokenizer(m.run.data.tokenizer);
    for (int64_t L : ro.lengths) train::check_sequence_length(m, L + 32, cat("task eval --lengths ", L));
    auto cells = eval::run_retrieval(*m.model, *tok, ro);
    print_retrieval_table(m.dir, ea->task, ea->sets, cells);
    nlohmann::json doc{{"checkpoint", m.dir},   {"task", ea->task},     {"train_seq_len", m.run.train.seq_len},
                       {"sets", ea->sets},      {"header", ea->c.header}, {"trials", ea->trials},
                       {"seed", ea->seed},      {"cells", retrieval_json(cells, ea->needle)}};
    if (!ea->json.empty()) io::write_file_atomic(ea->json, doc.dump(2) + "\n");
    if (!ea->csv.empty()) {
      std::string csv = "checkpoint,task,sets,length,depth,trials,correct,accuracy,mean_prompt_tokens\n";
      std::string sets;
      for (const auto& s : ea->sets) sets += (sets.empty() ? "" : ";") + s;
      for (const auto& c : cells) {
        char buf[160];
        std::snprintf(buf, sizeof buf, ",%lld,%g,%lld,%lld,%.6g,%.1f\n", (long long)c.length, c.depth,
                      (long long)c.trials, (long long)c.correct, c.accuracy, c.mean_prompt_tokens);
        csv += csv_quote(m.dir) + "," + ea->task + "," + csv_quote(sets) + buf;
      }
      io::write_file_atomic(ea->csv, csv);
    }
    if (!ea->heatmap.empty())
      io::write_file_atomic(ea->heatmap, retrieval_heatmap(cells, ea->task + " accuracy: " +
                                                                      std::filesystem::path(m.dir).parent_path().filename().string()));
  });
}

}  // namespace attnlab::cli
