// attnlab compare RUN_OR_CHECKPOINT... --out DIR [--lengths ...] [--task passkey] [--depths ...]
//                 [--trials N] [--windows N] [--max-tokens N] [--no-retrieval] [--no-diagnostics]
// One page that puts runs side by side: DIR/index.html (self-contained: inline SVG, no
// JavaScript, no network), DIR/README.md (the same content, figures as DIR/figures/*.svg),
// and DIR/summary.json. Sections: configs (differing keys first), training curves (every
// numeric key of metrics.jsonl against step), perplexity against length, retrieval
// accuracy heatmaps, attention diagnostics against length and position.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "attnlab/cli/commands.h"
#include "attnlab/cli/task_report.h"
#include "attnlab/data/token_file.h"
#include "attnlab/eval/chart.h"
#include "attnlab/eval/perplexity.h"
#include "attnlab/eval/plot.h"
#include "attnlab/io/atomic_file.h"
#include "attnlab/train/checkpoint.h"

namespace attnlab::cli {

namespace fs = std::filesystem;

namespace {

// config.toml (as config::to_toml writes it) flattened to "section.key" -> "value".
std::map<std::string, std::string> flatten_toml(const std::string& text) {
  std::map<std::string, std::string> out;
  std::string section, line;
  std::istringstream in(text);
  while (std::getline(in, line)) {
    auto b = line.find_first_not_of(" \t");
    if (b == std::string::npos || line[b] == '#') continue;
    line = line.substr(b);
    if (line[0] == '[') {
      section = line.substr(1, line.find(']') - 1);
      continue;
    }
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string key = line.substr(0, eq), value = line.substr(eq + 1);
    while (!key.empty() && key.back() == ' ') key.pop_back();
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    out[section.empty() ? key : section + "." + key] = value;
  }
  return out;
}

// metrics.jsonl: key -> (step, value) for every numeric key but "step".
std::map<std::string, std::vector<std::pair<double, double>>> read_metrics(const std::string& path) {
  std::map<std::string, std::vector<std::pair<double, double>>> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("step") || !j["step"].is_number()) continue;
    double step = j["step"].get<double>();
    for (auto it = j.begin(); it != j.end(); ++it)
      if (it.key() != "step" && it.value().is_number()) out[it.key()].push_back({step, it.value().get<double>()});
  }
  return out;
}

std::string html_escape(const std::string& s) { return eval::xml_escape(s); }
std::string md_escape(const std::string& s) {
  std::string o;
  for (char c : s) o += c == '|' ? std::string("\\|") : std::string(1, c);
  return o;
}

// The SVG without its XML declaration, for inlining in HTML.
std::string inline_svg(const std::string& svg) {
  auto p = svg.find("<svg");
  return p == std::string::npos ? svg : svg.substr(p);
}

struct Page {
  std::string html, md;
  std::string dir;
  int figures = 0;
  void heading(const std::string& h, int level = 2) {
    html += "<h" + std::to_string(level) + ">" + html_escape(h) + "</h" + std::to_string(level) + ">\n";
    md += std::string(size_t(level), '#') + " " + h + "\n\n";
  }
  void para(const std::string& p) {
    html += "<p>" + html_escape(p) + "</p>\n";
    md += p + "\n\n";
  }
  void figure(const std::string& name, const std::string& svg) {
    std::string file = "figures/" + name;
    io::write_file_atomic((fs::path(dir) / file).string(), svg);
    html += "<figure>" + inline_svg(svg) + "</figure>\n";
    md += "![" + name + "](" + file + ")\n\n";
    ++figures;
  }
  void table(const std::vector<std::string>& head, const std::vector<std::vector<std::string>>& rows,
             const std::vector<bool>& highlight = {}) {
    html += "<table>\n<tr>";
    md += "|";
    for (const auto& h : head) {
      html += "<th>" + html_escape(h) + "</th>";
      md += " " + md_escape(h) + " |";
    }
    html += "</tr>\n";
    md += "\n|";
    for (size_t i = 0; i < head.size(); ++i) md += "---|";
    md += "\n";
    for (size_t r = 0; r < rows.size(); ++r) {
      bool hl = r < highlight.size() && highlight[r];
      html += hl ? "<tr class=\"diff\">" : "<tr>";
      md += "|";
      for (const auto& c : rows[r]) {
        html += "<td>" + html_escape(c) + "</td>";
        md += hl ? " **" : " ";
        md += md_escape(c);
        md += hl ? "** |" : " |";
      }
      html += "</tr>\n";
      md += "\n";
    }
    html += "</table>\n";
    md += "\n";
  }
};


}  // namespace

void add_compare_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("compare", "An HTML page (and Markdown twin) comparing runs side by side");
  struct Args {
    std::vector<std::string> runs, sets;
    std::string out, lengths, task = "passkey", depths = "0,0.5,1", data;
    int64_t trials = 4, windows = 2, max_tokens = 8192;
    bool no_retrieval = false, no_diagnostics = false, no_perplexity = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("runs", a->runs, "Run folders or step folders")->required();
  cmd->add_option("--out", a->out, "Output folder (index.html, README.md, figures/)")->required();
  cmd->add_option("--lengths", a->lengths, "Evaluation lengths (default: each run's training length x 1/2, 1, 2, 4)");
  cmd->add_option("--task", a->task, "Retrieval task for the heatmaps (passkey | lines | topics)");
  cmd->add_option("--depths", a->depths, "Needle depths");
  cmd->add_option("--trials", a->trials, "Prompts per retrieval cell")->check(CLI::PositiveNumber);
  cmd->add_option("--windows", a->windows, "Validation windows per length for diagnostics")->check(CLI::PositiveNumber);
  cmd->add_option("--max-tokens", a->max_tokens, "Validation tokens for perplexity")->check(CLI::PositiveNumber);
  cmd->add_option("--data", a->data, "Corpus folder for perplexity and diagnostics (default: each run's)");
  cmd->add_option("--set", a->sets, "Override a config key in every run (repeatable)")->allow_extra_args(false);
  cmd->add_flag("--no-perplexity", a->no_perplexity, "Skip perplexity against length");
  cmd->add_flag("--no-retrieval", a->no_retrieval, "Skip the retrieval heatmaps");
  cmd->add_flag("--no-diagnostics", a->no_diagnostics, "Skip the attention diagnostics");
  cmd->callback([a] {
    fs::create_directories(fs::path(a->out) / "figures");
    struct Run {
      std::string name, step_dir, run_dir;
      std::map<std::string, std::string> config;
      std::map<std::string, std::vector<std::pair<double, double>>> metrics;
      std::vector<eval::LengthResult> ppl;
      std::vector<eval::RetrievalCell> retrieval;
      std::vector<eval::LengthDiagnostics> diags;
      int64_t train_len = 0;
      std::string note;
    };
    std::vector<Run> runs;
    std::set<std::string> names;
    for (const auto& r : a->runs) {
      Run run;
      run.step_dir = train::resolve_checkpoint(r);
      run.run_dir = fs::path(run.step_dir).parent_path().string();
      run.name = fs::path(run.run_dir).filename().string();
      for (int k = 2; !names.insert(run.name).second; ++k) run.name = fs::path(run.run_dir).filename().string() + "#" + std::to_string(k);
      run.config = flatten_toml(io::read_file((fs::path(run.step_dir) / "config.toml").string()));
      run.metrics = read_metrics((fs::path(run.run_dir) / "metrics.jsonl").string());
      runs.push_back(std::move(run));
    }
    nlohmann::json summary = nlohmann::json::object();
    for (auto& run : runs) {
      train::LoadedModel m = train::load_model(run.step_dir, a->sets);
      run.train_len = m.run.train.seq_len;
      std::vector<int64_t> lengths;
      if (!a->lengths.empty()) lengths = parse_int_list(a->lengths, "--lengths");
      else
        for (int64_t f : {1, 2, 4, 8}) lengths.push_back(std::max<int64_t>(2, run.train_len * f / 2));
      auto tok = data::make_tokenizer(m.run.data.tokenizer);
      std::string corpus = a->data.empty() ? m.run.data.path : a->data;
      std::fprintf(stderr, "compare: %s\n", run.step_dir.c_str());
      std::vector<int32_t> val;
      try {
        auto f = data::TokenFile::open((fs::path(corpus) / "val.tok").string());
        val = f.read(0, std::min<int64_t>(f.size(), std::max<int64_t>(a->max_tokens + 1, lengths.back() * a->windows)));
      } catch (const Error& e) {
        run.note = std::string("no validation text: ") + e.what();
      }
      nlohmann::json js{{"step_dir", run.step_dir}, {"train_seq_len", run.train_len}};
      if (!a->no_perplexity && !val.empty()) {
        eval::PerplexityOptions po;
        for (int64_t L : lengths)
          if (L < int64_t(val.size()) && L < std::min<int64_t>(int64_t(val.size()), a->max_tokens)) po.lengths.push_back(L);
        po.max_tokens = a->max_tokens;
        if (!po.lengths.empty()) run.ppl = eval::perplexity_sweep(*m.model, val, *tok, po);
        for (const auto& p : run.ppl) js["perplexity"].push_back({{"length", p.length}, {"ppl", p.sliding.ppl}});
      }
      if (!a->no_retrieval) {
        eval::RetrievalOptions ro;
        ro.task = data::parse_task_kind(a->task);
        ro.task_options.header = "short";
        // Lengths too short for one prompt of the task are left out (the others still run).
        for (int64_t L : lengths) {
          try {
            data::make_task_example(ro.task, *tok, L, 0.5, 1, ro.task_options);
            ro.lengths.push_back(L);
          } catch (const Error&) {
          }
        }
        ro.depths = parse_depth_list(a->depths);
        ro.trials = a->trials;
        try {
          ATTNLAB_CHECK(!ro.lengths.empty(), "every length is too short for a ", a->task, " prompt");
          run.retrieval = eval::run_retrieval(*m.model, *tok, ro);
          js["retrieval"] = retrieval_json(run.retrieval, false);
        } catch (const Error& e) {
          run.note += std::string(run.note.empty() ? "" : "; ") + "retrieval: " + e.what();
        }
      }
      if (!a->no_diagnostics && !val.empty()) {
        try {
          run.diags = eval::diagnose_lengths(*m.model, val, lengths, a->windows);
          js["diagnostics"] = diagnostics_json(run.diags);
        } catch (const Error& e) {
          run.note += std::string(run.note.empty() ? "" : "; ") + "diagnostics: " + e.what();
        }
      }
      summary[run.name] = js;
    }

    Page page;
    page.dir = a->out;
    page.html = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>attnlab compare</title>\n"
                "<style>body{font-family:sans-serif;margin:24px;max-width:1200px}table{border-collapse:collapse;"
                "margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left}"
                "tr.diff td{background:#fff3cd}figure{margin:12px 0}</style>\n</head>\n<body>\n";
    page.heading("attnlab compare: " + std::to_string(runs.size()) + " runs", 1);
    {
      std::vector<std::string> head = {"run", "checkpoint"};
      std::vector<std::vector<std::string>> rows;
      for (const auto& r : runs) rows.push_back({r.name, r.step_dir + (r.note.empty() ? "" : " (" + r.note + ")")});
      page.table(head, rows);
    }
    // Configs: every key, the rows where runs differ first and highlighted.
    page.heading("Configurations");
    {
      std::set<std::string> keys;
      for (const auto& r : runs)
        for (const auto& [k, v] : r.config) keys.insert(k);
      std::vector<std::vector<std::string>> diff, same;
      for (const auto& k : keys) {
        std::vector<std::string> row = {k};
        std::set<std::string> values;
        for (const auto& r : runs) {
          auto it = r.config.find(k);
          row.push_back(it == r.config.end() ? "(absent)" : it->second);
          values.insert(row.back());
        }
        (values.size() > 1 ? diff : same).push_back(row);
      }
      std::vector<std::string> head = {"key"};
      for (const auto& r : runs) head.push_back(r.name);
      page.para(std::to_string(diff.size()) + " keys differ:");
      page.table(head, diff, std::vector<bool>(diff.size(), true));
      // The keys every run shares, folded away (<details> needs no JavaScript).
      page.html += "<details><summary>" + std::to_string(same.size()) + " keys equal in every run</summary>\n";
      page.md += "<details><summary>" + std::to_string(same.size()) + " keys equal in every run</summary>\n\n";
      page.table(head, same);
      page.html += "</details>\n";
      page.md += "</details>\n\n";
    }
    // Training curves: every numeric metrics key.
    page.heading("Training curves");
    {
      std::set<std::string> keys;
      for (const auto& r : runs)
        for (const auto& [k, v] : r.metrics) keys.insert(k);
      if (keys.empty()) page.para("No metrics.jsonl found beside the checkpoints.");
      for (const auto& k : keys) {
        std::vector<eval::LineSeries> series;
        bool positive = true;
        for (const auto& r : runs) {
          eval::LineSeries s;
          s.name = r.name;
          auto it = r.metrics.find(k);
          if (it != r.metrics.end())
            for (auto [x, y] : it->second) {
              s.x.push_back(x);
              s.y.push_back(y);
              positive = positive && y > 0;
            }
          series.push_back(s);
        }
        eval::LineChartOptions o;
        o.title = k + " against step";
        o.x_label = "step";
        o.y_label = k;
        o.y_log = positive && (k == "lr");
        try {
          page.figure("metric_" + k + ".svg", eval::line_chart_svg(series, o));
        } catch (const Error&) {
          page.para("metric " + k + ": nothing finite to draw");
        }
      }
    }
    if (!a->no_perplexity) {
      page.heading("Perplexity against length");
      std::vector<eval::PlotSeries> ps;
      for (const auto& r : runs) {
        eval::PlotSeries s;
        s.name = r.name;
        s.train_length = double(r.train_len);
        for (const auto& p : r.ppl) {
          s.lengths.push_back(double(p.length));
          s.ppl.push_back(p.sliding.ppl);
        }
        if (!s.lengths.empty()) ps.push_back(s);
      }
      if (ps.empty()) page.para("No perplexity (no validation text).");
      else {
        page.para("Sliding-window perplexity on each run's validation text; dashed lines mark training lengths.");
        page.figure("perplexity.svg", eval::perplexity_svg(ps));
      }
    }
    if (!a->no_retrieval) {
      page.heading("Retrieval: " + a->task);
      page.para("Accuracy over " + std::to_string(a->trials) +
                " prompts per cell (greedy decoding); rows needle depth, columns context length.");
      for (const auto& r : runs)
        if (!r.retrieval.empty()) page.figure("retrieval_" + r.name + ".svg", retrieval_heatmap(r.retrieval, r.name));
    }
    if (!a->no_diagnostics) {
      page.heading("Attention diagnostics");
      page.para("Means over every query row, layer and head of each run, against length; then per layer "
                "against position at the longest length (docs/EVALUATION.md explains each measure).");
      for (int m : {eval::kNormEntropy, eval::kSpan, eval::kMaxWeight, eval::kFirstWeight, eval::kSparsity}) {
        std::vector<eval::LineSeries> series;
        for (const auto& r : runs) {
          eval::LineSeries s;
          s.name = r.name;
          for (const auto& d : r.diags) {
            eval::StatSums sum;
            for (int64_t l = 0; l < d.stats.layers(); ++l)
              for (int64_t h = 0; h < d.stats.heads(l); ++h) sum.merge(d.stats.total(l, h));
            s.x.push_back(double(d.length));
            s.y.push_back(sum.mean(m));
          }
          if (!s.x.empty()) series.push_back(s);
        }
        if (series.empty()) continue;
        eval::LineChartOptions o;
        o.title = std::string(eval::measure_name(m)) + " against length (all layers and heads)";
        o.x_label = "length (tokens)";
        o.y_label = eval::measure_name(m);
        o.x_log = true;
        if (m != eval::kSpan) {
          o.y_include_lo = 0;
          o.y_include_hi = 1;
        }
        page.figure(std::string("diag_") + eval::measure_name(m) + "_by_length.svg", eval::line_chart_svg(series, o));
      }
      for (const auto& r : runs)
        for (const auto& [name, svg] : diagnostic_charts(r.diags, r.name))
          if (name.starts_with("norm_entropy_by_position") || name.starts_with("first_weight_by_position"))
            page.figure("diag_" + r.name + "_" + name, svg);
    }
    page.html += "</body>\n</html>\n";
    io::write_file_atomic((fs::path(a->out) / "index.html").string(), page.html);
    io::write_file_atomic((fs::path(a->out) / "README.md").string(), page.md);
    io::write_file_atomic((fs::path(a->out) / "summary.json").string(), summary.dump(2) + "\n");
    std::printf("%s/index.html: %zu runs, %d figures\n", a->out.c_str(), runs.size(), page.figures);
  });
}

}  // namespace attnlab::cli
