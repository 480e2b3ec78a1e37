// Retrieval and diagnostics output shared by `attnlab task eval`, `diagnose` and `compare`.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "attnlab/eval/retrieval.h"

namespace attnlab::cli {

// "0,0.5,1" -> {0, 0.5, 1}; each in [0, 1].
std::vector<double> parse_depth_list(const std::string& text);
// A CSV field, quoted only when it needs to be.
std::string csv_quote(const std::string& v);
// One JSON object per cell (needle weights [layer][head] when measured).
nlohmann::json retrieval_json(const std::vector<eval::RetrievalCell>& cells, bool needle);
// Accuracy as a heatmap: rows needle depth, columns context length.
std::string retrieval_heatmap(const std::vector<eval::RetrievalCell>& cells, const std::string& title);
// The accuracy table on stdout: one row per depth, one column per length.
void print_retrieval_table(const std::string& checkpoint, const std::string& task, const std::vector<std::string>& sets,
                           const std::vector<eval::RetrievalCell>& cells);

// Diagnostics per length, head and position bin as JSON.
nlohmann::json diagnostics_json(const std::vector<eval::LengthDiagnostics>& diags);
// (file name, SVG) pairs: each measure by position (longest length) and by length, one
// line per layer (mean over heads).
std::vector<std::pair<std::string, std::string>> diagnostic_charts(const std::vector<eval::LengthDiagnostics>& diags,
                                                                   const std::string& label);

}  // namespace attnlab::cli
