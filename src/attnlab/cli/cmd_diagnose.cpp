// attnlab diagnose CHECKPOINT --lengths 128,256,512 [--windows N] [--data DIR] [--set k=v ...]
//                  [--task passkey|lines|topics --depths ... --trials N] [--json F] [--csv F]
//                  [--plot-dir DIR]
// Attention diagnostics (eval/diagnostics.h) per layer and head on validation text at each
// length, by position bin; with --task, also each head's weight on the planted needle.
#include <cstdio>
#include <filesystem>

#include "attnlab/cli/commands.h"
#include "attnlab/cli/task_report.h"
#include "attnlab/data/token_file.h"
#include "attnlab/eval/chart.h"
#include "attnlab/io/atomic_file.h"
#include "attnlab/train/checkpoint.h"

namespace attnlab::cli {

namespace {
const int kShown[] = {eval::kNormEntropy, eval::kSpan, eval::kMaxWeight, eval::kFirstWeight, eval::kSparsity};
}

nlohmann::json diagnostics_json(const std::vector<eval::LengthDiagnostics>& diags) {
  auto measures = [](const eval::StatSums& s) {
    nlohmann::json j = nlohmann::json::object();
    for (int m = 0; m < eval::kMeasures; ++m) {
      double v = s.mean(m);
      j[eval::measure_name(m)] = std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
    }
    return j;
  };
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& d : diags) {
    nlohmann::json heads = nlohmann::json::array();
    for (int64_t l = 0; l < d.stats.layers(); ++l)
      for (int64_t h = 0; h < d.stats.heads(l); ++h) {
        nlohmann::json j{{"layer", l}, {"head", h}, {"all", measures(d.stats.total(l, h))}};
        nlohmann::json bins = nlohmann::json::array();
        const auto& bp = d.stats.by_position(l, h);
        for (size_t b = 0; b < bp.size(); ++b) {
          auto m = measures(bp[b]);
          m["first_position"] = (int64_t(1) << b) - 1;
          m["last_position"] = std::min<int64_t>((int64_t(1) << (b + 1)) - 2, d.length - 1);
          bins.push_back(m);
        }
        j["by_position"] = bins;
        heads.push_back(j);
      }
    arr.push_back({{"length", d.length}, {"windows", d.windows}, {"heads", heads}});
  }
  return arr;
}

std::vector<std::pair<std::string, std::string>> diagnostic_charts(const std::vector<eval::LengthDiagnostics>& diags,
                                                                   const std::string& label) {
  std::vector<std::pair<std::string, std::string>> out;
  if (diags.empty()) return out;
  const auto& longest = diags.back();
  for (int m : kShown) {
    // Against position at the longest length: one line per layer (mean over heads).
    std::vector<eval::LineSeries> by_pos;
    for (int64_t l = 0; l < longest.stats.layers(); ++l) {
      eval::LineSeries s;
      s.name = "layer " + std::to_string(l);
      size_t bins = 0;
      for (int64_t h = 0; h < longest.stats.heads(l); ++h) bins = std::max(bins, longest.stats.by_position(l, h).size());
      for (size_t b = 0; b < bins; ++b) {
        eval::StatSums sum;
        for (int64_t h = 0; h < longest.stats.heads(l); ++h)
          if (b < longest.stats.by_position(l, h).size()) sum.merge(longest.stats.by_position(l, h)[b]);
        s.x.push_back(double(int64_t(1) << b));  // keys seen by the bin's first query
        s.y.push_back(sum.mean(m));
      }
      by_pos.push_back(s);
    }
    eval::LineChartOptions o;
    o.title = label + std::string(": ") + eval::measure_name(m) + " by position (length " +
              std::to_string(longest.length) + ")";
    o.x_label = "keys visible to the query (position + 1)";
    o.y_label = eval::measure_name(m);
    o.x_log = true;
    o.y_log = m == eval::kSpan;
    if (m != eval::kSpan) {  // shares in [0, 1]: keep the whole range in view
      o.y_include_lo = 0;
      o.y_include_hi = 1;
    }
    out.emplace_back(std::string(eval::measure_name(m)) + "_by_position.svg", eval::line_chart_svg(by_pos, o));
    if (diags.size() < 2) continue;
    // Against length: the mean over all rows, one line per layer.
    std::vector<eval::LineSeries> by_len;
    for (int64_t l = 0; l < longest.stats.layers(); ++l) {
      eval::LineSeries s;
      s.name = "layer " + std::to_string(l);
      for (const auto& d : diags) {
        eval::StatSums sum;
        for (int64_t h = 0; l < d.stats.layers() && h < d.stats.heads(l); ++h) sum.merge(d.stats.total(l, h));
        s.x.push_back(double(d.length));
        s.y.push_back(sum.mean(m));
      }
      by_len.push_back(s);
    }
    o.title = label + std::string(": ") + eval::measure_name(m) + " by length";
    o.x_label = "length (tokens)";
    out.emplace_back(std::string(eval::measure_name(m)) + "_by_length.svg", eval::line_chart_svg(by_len, o));
  }
  return out;
}

void add_diagnose_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("diagnose", "Attention entropy, span, sink, sparsity per layer and head");
  struct Args {
    std::string checkpoint, lengths, data, task, depths = "0,0.5,1", json, csv, plot_dir, header = "full";
    std::vector<std::string> sets;
    int64_t windows = 4, trials = 4;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("checkpoint", a->checkpoint, "Run folder or step folder")->required();
  cmd->add_option("--lengths", a->lengths, "Comma-separated lengths")->required();
  cmd->add_option("--windows", a->windows, "Validation windows per length")->check(CLI::PositiveNumber);
  cmd->add_option("--data", a->data, "Corpus folder (default: the checkpoint's data.path)");
  cmd->add_option("--set", a->sets, "Override a config key (repeatable)")->allow_extra_args(false);
  cmd->add_option("--task", a->task, "Also the needle weight on this retrieval task (passkey | lines | topics)");
  cmd->add_option("--depths", a->depths, "Needle depths for --task");
  cmd->add_option("--header", a->header, "Instruction text of --task's prompts: full, short or none");
  cmd->add_option("--trials", a->trials, "Prompts per length and depth for --task")->check(CLI::PositiveNumber);
  cmd->add_option("--json", a->json, "Write everything as JSON");
  cmd->add_option("--csv", a->csv, "Write one row per length, layer, head and position bin");
  cmd->add_option("--plot-dir", a->plot_dir, "Write SVG curves (each measure by position and by length)");
  cmd->callback([a] {
    auto lengths = parse_int_list(a->lengths, "--lengths");
    train::LoadedModel m = train::load_model(a->checkpoint, a->sets);
    for (int64_t L : lengths) train::check_sequence_length(m, L + 32, cat("diagnose --lengths ", L));
    std::string corpus = a->data.empty() ? m.run.data.path : a->data;
    auto val = data::TokenFile::open((std::filesystem::path(corpus) / "val.tok").string());
    int64_t need = std::min<int64_t>(val.size(), lengths.back() * a->windows);
    int64_t maxlen = 0;
    for (int64_t L : lengths) maxlen = std::max(maxlen, L);
    need = std::min<int64_t>(val.size(), std::max(need, maxlen * a->windows));
    auto diags = eval::diagnose_lengths(*m.model, val.read(0, need), lengths, a->windows);

    std::printf("checkpoint %s: attention diagnostics (means over query rows)\n", m.dir.c_str());
    std::printf("%7s %5s %4s | %8s %8s %8s %8s %8s\n", "length", "layer", "head", "H/log n", "span", "max", "first",
                "sparsity");
    std::string csv = "checkpoint,length,layer,head,first_position,last_position";
    for (int mm = 0; mm < eval::kMeasures; ++mm) csv += std::string(",") + eval::measure_name(mm);
    csv += "\n";
    for (const auto& d : diags)
      for (int64_t l = 0; l < d.stats.layers(); ++l)
        for (int64_t h = 0; h < d.stats.heads(l); ++h) {
          const auto& t = d.stats.total(l, h);
          std::printf("%7lld %5lld %4lld | %8.4f %8.2f %8.4f %8.4f %8.4f\n", (long long)d.length, (long long)l,
                      (long long)h, t.mean(eval::kNormEntropy), t.mean(eval::kSpan), t.mean(eval::kMaxWeight),
                      t.mean(eval::kFirstWeight), t.mean(eval::kSparsity));
          auto row = [&](const eval::StatSums& s, int64_t p0, int64_t p1) {
            csv += csv_quote(m.dir) + "," + std::to_string(d.length) + "," + std::to_string(l) + "," +
                   std::to_string(h) + "," + std::to_string(p0) + "," + std::to_string(p1);
            for (int mm = 0; mm < eval::kMeasures; ++mm) {
              char buf[32];
              std::snprintf(buf, sizeof buf, ",%.6g", s.mean(mm));
              csv += buf;
            }
            csv += "\n";
          };
          row(t, 0, d.length - 1);
          const auto& bp = d.stats.by_position(l, h);
          for (size_t b = 0; b < bp.size(); ++b)
            row(bp[b], (int64_t(1) << b) - 1, std::min<int64_t>((int64_t(1) << (b + 1)) - 2, d.length - 1));
        }
    nlohmann::json doc{{"checkpoint", m.dir}, {"sets", a->sets}, {"lengths", diagnostics_json(diags)}};

    if (!a->task.empty()) {
      eval::RetrievalOptions ro;
      ro.task = data::parse_task_kind(a->task);
      ro.task_options.header = a->header;
      ro.lengths = lengths;
      ro.depths = parse_depth_list(a->depths);
      ro.trials = a->trials;
      ro.needle_attention = true;
      auto tok = data::make_tokenizer(m.run.data.tokenizer);
      auto cells = eval::run_retrieval(*m.model, *tok, ro);
      std::printf("\nweight of the last prompt token on the needle (%s), per layer and head; uniform = share of keys\n",
                  a->task.c_str());
      for (const auto& c : cells) {
        std::printf("length %5lld depth %-4g acc %4.2f uniform %.4f |", (long long)c.length, c.depth, c.accuracy,
                    c.attention.needle_uniform());
        for (int64_t l = 0; l < c.attention.layers(); ++l) {
          std::printf(" L%lld:", (long long)l);
          for (int64_t h = 0; h < c.attention.heads(l); ++h) std::printf(" %.3f", c.attention.needle_weight(l, h));
        }
        std::printf("\n");
      }
      doc["needle"] = {{"task", a->task}, {"cells", retrieval_json(cells, true)}};
    }
    if (!a->json.empty()) io::write_file_atomic(a->json, doc.dump(2) + "\n");
    if (!a->csv.empty()) io::write_file_atomic(a->csv, csv);
    if (!a->plot_dir.empty()) {
      std::filesystem::create_directories(a->plot_dir);
      for (const auto& [name, svg] : diagnostic_charts(diags, std::filesystem::path(m.dir).parent_path().filename().string()))
        io::write_file_atomic((std::filesystem::path(a->plot_dir) / name).string(), svg);
    }
  });
}

}  // namespace attnlab::cli
