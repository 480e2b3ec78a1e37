// Two more dependency-free SVG figures beside plot.h's perplexity plot, with the same
// habits (fixed number formatting, so equal inputs give equal bytes; escaped text):
//
//   heatmap_svg     a grid of cells (rows x columns) coloured by a value in [lo, hi] on a
//                   white-to-blue scale, each cell labelled with its value; cells without
//                   a value (NaN) are grey and labelled "-". Used for retrieval accuracy
//                   (rows: needle depth, columns: context length).
//   line_chart_svg  series of (x, y) points on linear or log axes with a legend: training
//                   curves, diagnostics against position or length.
#pragma once
#include <cmath>
#include <string>
#include <vector>

namespace attnlab::eval {

struct HeatmapOptions {
  std::string title, x_label, y_label;
  double lo = 0, hi = 1;        // the colour scale's ends
  const char* value_format = "%.2f";
  int cell_width = 64, cell_height = 30;
};

// values[r][c]; row_labels.size() rows, col_labels.size() columns. Errors on ragged input.
std::string heatmap_svg(const std::vector<std::vector<double>>& values, const std::vector<std::string>& row_labels,
                        const std::vector<std::string>& col_labels, const HeatmapOptions& opt);

struct LineSeries {
  std::string name;
  std::vector<double> x, y;  // equal sizes; non-finite points (and <= 0 on a log axis) are skipped
  bool dashed = false;
};

struct LineChartOptions {
  std::string title, x_label, y_label;
  bool x_log = false, y_log = false;  // log2 for x, log10 for y
  // Values the y axis must include (e.g. 0 and 1 for a share, so tiny differences are not
  // blown up to fill the plot); NaN: none.
  double y_include_lo = NAN, y_include_hi = NAN;
  int width = 760, height = 420;
};

// Errors when there is no series or no drawable point at all.
std::string line_chart_svg(const std::vector<LineSeries>& series, const LineChartOptions& opt);

}  // namespace attnlab::eval
