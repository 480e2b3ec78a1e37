#include "attnlab/eval/chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "attnlab/core/error.h"
#include "attnlab/eval/plot.h"

namespace attnlab::eval {
namespace {

std::string num(double v, const char* fmt = "%.2f") {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

const char* const kPalette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442",
                                "#000000"};

std::string svg_open(double W, double H) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" +
         num(W, "%.0f") + "\" height=\"" + num(H, "%.0f") + "\" viewBox=\"0 0 " + num(W, "%.0f") + " " +
         num(H, "%.0f") + "\" font-family=\"sans-serif\" font-size=\"12\">\n<rect x=\"0\" y=\"0\" width=\"" +
         num(W, "%.0f") + "\" height=\"" + num(H, "%.0f") + "\" fill=\"white\"/>\n";
}

// Ticks for [lo, hi]: 1-2-5 steps on a linear axis.
std::vector<double> linear_ticks(double& lo, double& hi) {
  if (hi - lo < 1e-12 * std::max(1.0, std::fabs(hi))) {
    double pad = std::max(0.5, 0.1 * std::fabs(hi));
    lo -= pad;
    hi += pad;
  }
  double raw = (hi - lo) / 5, mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag * (raw / mag <= 1 ? 1 : raw / mag <= 2 ? 2 : raw / mag <= 5 ? 5 : 10);
  lo = std::floor(lo / step) * step;
  hi = std::ceil(hi / step) * step;
  std::vector<double> t;
  for (int64_t i = 0; lo + double(i) * step <= hi + step * 1e-6; ++i) t.push_back(lo + double(i) * step);
  return t;
}

std::string tick_label(double v) {
  double r = std::round(v * 1e6) / 1e6;
  return num(r == 0 ? 0.0 : r, "%g");
}

}  // namespace

std::string heatmap_svg(const std::vector<std::vector<double>>& values, const std::vector<std::string>& rows,
                        const std::vector<std::string>& cols, const HeatmapOptions& opt) {
  ATTNLAB_CHECK(!rows.empty() && !cols.empty(), "heatmap: no rows or columns");
  ATTNLAB_CHECK(values.size() == rows.size(), "heatmap: ", values.size(), " rows of values for ", rows.size(),
                " row labels");
  for (const auto& r : values)
    ATTNLAB_CHECK(r.size() == cols.size(), "heatmap: a row has ", r.size(), " values for ", cols.size(), " columns");
  ATTNLAB_CHECK(opt.hi > opt.lo, "heatmap: colour scale [", opt.lo, ", ", opt.hi, "] is empty");
  const double cw = opt.cell_width, ch = opt.cell_height;
  const double left = 90, top = 48, bottom = 56, right = 110;
  const double W = left + cw * double(cols.size()) + right, H = top + ch * double(rows.size()) + bottom;
  std::string o = svg_open(W, H);
  o += "<text x=\"" + num(W / 2) + "\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">" + xml_escape(opt.title) +
       "</text>\n<g class=\"cells\">\n";
  // White (lo) to the palette's blue (hi), linear in each channel.
  auto colour = [&](double v) {
    double f = std::clamp((v - opt.lo) / (opt.hi - opt.lo), 0.0, 1.0);
    int r = int(std::lround(255 + f * (0x00 - 255))), g = int(std::lround(255 + f * (0x72 - 255))),
        b = int(std::lround(255 + f * (0xB2 - 255)));
    char buf[16];
    std::snprintf(buf, sizeof buf, "#%02X%02X%02X", r, g, b);
    return std::string(buf);
  };
  for (size_t r = 0; r < rows.size(); ++r)
    for (size_t c = 0; c < cols.size(); ++c) {
      double v = values[r][c], x = left + cw * double(c), y = top + ch * double(r);
      bool ok = std::isfinite(v);
      o += "<rect x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" + num(cw) + "\" height=\"" + num(ch) +
           "\" fill=\"" + (ok ? colour(v) : std::string("#DDDDDD")) + "\" stroke=\"white\"/>\n";
      double f = ok ? (v - opt.lo) / (opt.hi - opt.lo) : 0;
      o += "<text x=\"" + num(x + cw / 2) + "\" y=\"" + num(y + ch / 2 + 4) + "\" text-anchor=\"middle\" fill=\"" +
           (f > 0.55 ? "white" : "black") + "\">" + (ok ? num(v, opt.value_format) : std::string("-")) + "</text>\n";
    }
  o += "</g>\n";
  for (size_t c = 0; c < cols.size(); ++c)
    o += "<text x=\"" + num(left + cw * (double(c) + 0.5)) + "\" y=\"" + num(top + ch * double(rows.size()) + 18) +
         "\" text-anchor=\"middle\">" + xml_escape(cols[c]) + "</text>\n";
  for (size_t r = 0; r < rows.size(); ++r)
    o += "<text x=\"" + num(left - 8) + "\" y=\"" + num(top + ch * (double(r) + 0.5) + 4) +
         "\" text-anchor=\"end\">" + xml_escape(rows[r]) + "</text>\n";
  o += "<text x=\"" + num(left + cw * double(cols.size()) / 2) + "\" y=\"" + num(H - 12) +
       "\" text-anchor=\"middle\">" + xml_escape(opt.x_label) + "</text>\n";
  o += "<text x=\"16\" y=\"" + num(top + ch * double(rows.size()) / 2) + "\" text-anchor=\"middle\" transform=\"rotate(-90 16 " +
       num(top + ch * double(rows.size()) / 2) + ")\">" + xml_escape(opt.y_label) + "</text>\n";
  // Colour bar: lo at the bottom, hi at the top.
  const double bx = left + cw * double(cols.size()) + 24, bh = std::max(60.0, ch * double(rows.size()));
  o += "<g class=\"scale\">\n";
  for (int i = 0; i < 10; ++i) {
    double v = opt.hi - (opt.hi - opt.lo) * (double(i) + 0.5) / 10;
    o += "<rect x=\"" + num(bx) + "\" y=\"" + num(top + bh * double(i) / 10) + "\" width=\"16\" height=\"" +
         num(bh / 10 + 0.5) + "\" fill=\"" + colour(v) + "\"/>\n";
  }
  o += "<rect x=\"" + num(bx) + "\" y=\"" + num(top) + "\" width=\"16\" height=\"" + num(bh) +
       "\" fill=\"none\" stroke=\"#888888\"/>\n";
  o += "<text x=\"" + num(bx + 22) + "\" y=\"" + num(top + 10) + "\">" + num(opt.hi, "%g") + "</text>\n";
  o += "<text x=\"" + num(bx + 22) + "\" y=\"" + num(top + bh) + "\">" + num(opt.lo, "%g") + "</text>\n";
  o += "</g>\n</svg>\n";
  return o;
}

std::string line_chart_svg(const std::vector<LineSeries>& series, const LineChartOptions& opt) {
  ATTNLAB_CHECK(!series.empty(), "chart: no series to draw");
  auto usable = [&](double x, double y) {
    return std::isfinite(x) && std::isfinite(y) && (!opt.x_log || x > 0) && (!opt.y_log || y > 0);
  };
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  for (const auto& s : series) {
    ATTNLAB_CHECK(s.x.size() == s.y.size(), "chart: series '", s.name, "' has ", s.x.size(), " x and ", s.y.size(),
                  " y values");
    for (size_t i = 0; i < s.x.size(); ++i)
      if (usable(s.x[i], s.y[i])) {
        x0 = std::min(x0, s.x[i]);
        x1 = std::max(x1, s.x[i]);
        y0 = std::min(y0, s.y[i]);
        y1 = std::max(y1, s.y[i]);
      }
  }
  ATTNLAB_CHECK(x1 >= x0, "chart '", opt.title, "': no finite point to draw");
  for (double v : {opt.y_include_lo, opt.y_include_hi})
    if (std::isfinite(v) && (!opt.y_log || v > 0)) {
      y0 = std::min(y0, v);
      y1 = std::max(y1, v);
    }
  // Axes in transformed units (log2 x, log10 y) with ticks at whole powers.
  auto tx = [&](double x) { return opt.x_log ? std::log2(x) : x; };
  auto ty = [&](double y) { return opt.y_log ? std::log10(y) : y; };
  double a0 = tx(x0), a1 = tx(x1), b0 = ty(y0), b1 = ty(y1);
  std::vector<double> xt, yt;
  if (opt.x_log) {
    a0 = std::floor(a0 + 1e-9);
    a1 = std::max(a0 + 1, std::ceil(a1 - 1e-9));
    int every = std::max(1, int(a1 - a0 + 11) / 12);
    for (double k = a0; k <= a1 + 1e-9; k += every) xt.push_back(k);
  } else {
    xt = linear_ticks(a0, a1);
  }
  if (opt.y_log) {
    b0 = std::floor(b0 + 1e-9);
    b1 = std::max(b0 + 1, std::ceil(b1 - 1e-9));
    for (double k = b0; k <= b1 + 1e-9; k += 1) yt.push_back(k);
  } else {
    yt = linear_ticks(b0, b1);
  }
  const double W = opt.width, H = opt.height, left = 72, right = 210, top = 44, bottom = 56;
  const double pw = W - left - right, ph = H - top - bottom;
  auto X = [&](double a) { return left + (a - a0) / (a1 - a0) * pw; };
  auto Y = [&](double b) { return top + (1 - (b - b0) / (b1 - b0)) * ph; };
  std::string o = svg_open(W, H);
  o += "<text x=\"" + num(left + pw / 2) + "\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">" +
       xml_escape(opt.title) + "</text>\n<g class=\"grid\" stroke=\"#cccccc\">\n";
  for (double a : xt) {
    o += "<line x1=\"" + num(X(a)) + "\" y1=\"" + num(top) + "\" x2=\"" + num(X(a)) + "\" y2=\"" + num(top + ph) + "\"/>\n";
    o += "<text x=\"" + num(X(a)) + "\" y=\"" + num(top + ph + 18) + "\" text-anchor=\"middle\" stroke=\"none\" fill=\"black\">" +
         (opt.x_log ? num(std::exp2(a), "%.0f") : tick_label(a)) + "</text>\n";
  }
  for (double b : yt) {
    o += "<line x1=\"" + num(left) + "\" y1=\"" + num(Y(b)) + "\" x2=\"" + num(left + pw) + "\" y2=\"" + num(Y(b)) + "\"/>\n";
    o += "<text x=\"" + num(left - 6) + "\" y=\"" + num(Y(b) + 4) + "\" text-anchor=\"end\" stroke=\"none\" fill=\"black\">" +
         (opt.y_log ? num(std::pow(10.0, b), "%g") : tick_label(b)) + "</text>\n";
  }
  o += "</g>\n<rect x=\"" + num(left) + "\" y=\"" + num(top) + "\" width=\"" + num(pw) + "\" height=\"" + num(ph) +
       "\" fill=\"none\" stroke=\"black\"/>\n";
  o += "<text x=\"" + num(left + pw / 2) + "\" y=\"" + num(H - 14) + "\" text-anchor=\"middle\">" +
       xml_escape(opt.x_label + (opt.x_log ? " (log scale)" : "")) + "</text>\n";
  o += "<text x=\"18\" y=\"" + num(top + ph / 2) + "\" text-anchor=\"middle\" transform=\"rotate(-90 18 " +
       num(top + ph / 2) + ")\">" + xml_escape(opt.y_label + (opt.y_log ? " (log scale)" : "")) + "</text>\n";
  for (size_t si = 0; si < series.size(); ++si) {
    const auto& s = series[si];
    const char* colour = kPalette[si % (sizeof kPalette / sizeof kPalette[0])];
    std::vector<size_t> order;
    for (size_t i = 0; i < s.x.size(); ++i)
      if (usable(s.x[i], s.y[i])) order.push_back(i);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return s.x[a] < s.x[b]; });
    std::string pts;
    for (size_t i : order) {
      // Appended piece by piece: GCC 12 warns (-Wrestrict, a false positive) on
      // ("" or " ") + std::string temporaries here.
      if (!pts.empty()) pts += ' ';
      pts += num(X(tx(s.x[i])));
      pts += ',';
      pts += num(Y(ty(s.y[i])));
    }
    o += "<g class=\"series\" stroke=\"" + std::string(colour) + "\" fill=\"" + colour + "\">\n";
    o += "<polyline points=\"" + pts + "\" fill=\"none\" stroke-width=\"2\"" +
         (s.dashed ? " stroke-dasharray=\"6 4\"" : "") + "/>\n";
    if (order.size() <= 40)
      for (size_t i : order) o += "<circle cx=\"" + num(X(tx(s.x[i]))) + "\" cy=\"" + num(Y(ty(s.y[i]))) + "\" r=\"3\"/>\n";
    o += "</g>\n";
    double ly = top + 10 + 18 * double(si);
    o += "<line x1=\"" + num(left + pw + 14) + "\" y1=\"" + num(ly) + "\" x2=\"" + num(left + pw + 36) + "\" y2=\"" +
         num(ly) + "\" stroke=\"" + colour + "\" stroke-width=\"2\"" + (s.dashed ? " stroke-dasharray=\"6 4\"" : "") +
         "/>\n<text x=\"" + num(left + pw + 42) + "\" y=\"" + num(ly + 4) + "\">" + xml_escape(s.name) + "</text>\n";
  }
  o += "</svg>\n";
  return o;
}

}  // namespace attnlab::eval
