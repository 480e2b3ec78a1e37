#include "attnlab/eval/plot.h"

#include <algorithm>
#include <cmath>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <limits>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attnlab/core/error.h"
#include "attnlab/io/atomic_file.h"

namespace attnlab::eval {
namespace {

// Fixed precision through snprintf (the "C" locale unless a program changes it), so the
// same inputs always print the same bytes.
std::string num(double v, const char* fmt = "%.2f") {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

bool usable(double p) { return std::isfinite(p) && p > 0; }

// Colour-blind-friendly qualitative palette (Okabe-Ito, black last), cycled.
const char* const kPalette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442",
                                "#000000"};

struct YAxis {
  bool log = false;
  double lo = 0, hi = 1;
  std::vector<double> ticks;
};

YAxis make_y_axis(double lo, double hi) {
  YAxis a;
  if (hi / lo > 10) {
    a.log = true;
    a.lo = std::pow(10.0, std::floor(std::log10(lo)));
    a.hi = std::pow(10.0, std::ceil(std::log10(hi)));
    for (double t = a.lo; t <= a.hi * 1.000001; t *= 10) a.ticks.push_back(t);
    return a;
  }
  if (hi - lo < 1e-9 * std::max(1.0, hi)) {  // one value: a band around it
    double pad = std::max(0.5, 0.1 * hi);
    lo -= pad;
    hi += pad;
  }
  double raw = (hi - lo) / 5, mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag * (raw / mag <= 1 ? 1 : raw / mag <= 2 ? 2 : raw / mag <= 5 ? 5 : 10);
  a.lo = std::floor(lo / step) * step;
  a.hi = std::ceil(hi / step) * step;
  for (int64_t i = 0; a.lo + double(i) * step <= a.hi + step * 1e-6; ++i) a.ticks.push_back(a.lo + double(i) * step);
  return a;
}

std::string tick_label(double v) {
  // %g drops trailing zeros; round off float noise from lo + i * step first.
  double r = std::round(v * 1e6) / 1e6;
  return num(r == 0 ? 0.0 : r, "%g");
}

}  // namespace

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string perplexity_svg(const std::vector<PlotSeries>& series, const PlotOptions& opt) {
  ATTNLAB_CHECK(!series.empty(), "plot: no series to draw");
  double xmin = std::numeric_limits<double>::infinity(), xmax = 0;
  double ymin = std::numeric_limits<double>::infinity(), ymax = 0;
  for (const auto& s : series) {
    ATTNLAB_CHECK(s.lengths.size() == s.ppl.size(), "plot: series '", s.name, "' has ", s.lengths.size(),
                  " lengths but ", s.ppl.size(), " perplexities");
    for (size_t i = 0; i < s.lengths.size(); ++i) {
      ATTNLAB_CHECK(std::isfinite(s.lengths[i]) && s.lengths[i] > 0, "plot: series '", s.name, "' has length ",
                    s.lengths[i], "; lengths must be positive");
      xmin = std::min(xmin, s.lengths[i]);
      xmax = std::max(xmax, s.lengths[i]);
      if (usable(s.ppl[i])) {
        ymin = std::min(ymin, s.ppl[i]);
        ymax = std::max(ymax, s.ppl[i]);
      }
    }
    if (s.train_length > 0) {
      xmin = std::min(xmin, s.train_length);
      xmax = std::max(xmax, s.train_length);
    }
  }
  ATTNLAB_CHECK(ymax > 0, "plot: no finite positive perplexity to draw");

  // x domain in log2 units, widened to whole powers of two (one octave each side if the
  // data sit on a single point).
  double lx0 = std::floor(std::log2(xmin) + 1e-9), lx1 = std::ceil(std::log2(xmax) - 1e-9);
  if (lx1 <= lx0) {
    lx0 -= 1;
    lx1 += 1;
  }
  const YAxis ya = make_y_axis(ymin, ymax);

  const double W = opt.width, H = opt.height;
  const double left = 72, right = 230, top = 44, bottom = 56;
  const double pw = W - left - right, ph = H - top - bottom;
  auto X = [&](double len) { return left + (std::log2(len) - lx0) / (lx1 - lx0) * pw; };
  auto Y = [&](double p) {
    double f = ya.log ? (std::log10(p) - std::log10(ya.lo)) / (std::log10(ya.hi) - std::log10(ya.lo))
                      : (p - ya.lo) / (ya.hi - ya.lo);
    return top + (1 - f) * ph;
  };

  std::string o;
  o += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  o += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(W, "%.0f") + "\" height=\"" + num(H, "%.0f") +
       "\" viewBox=\"0 0 " + num(W, "%.0f") + " " + num(H, "%.0f") + "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  o += "<rect x=\"0\" y=\"0\" width=\"" + num(W, "%.0f") + "\" height=\"" + num(H, "%.0f") + "\" fill=\"white\"/>\n";
  o += "<text x=\"" + num(left + pw / 2) + "\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">" +
       xml_escape(opt.title) + "</text>\n";

  // Grid, ticks and tick labels. At most ~12 x ticks: every k-th power of two beyond that.
  o += "<g class=\"x-axis\" stroke=\"#cccccc\">\n";
  int octaves = int(lx1 - lx0), every = std::max(1, (octaves + 11) / 12);
  for (int k = 0; k <= octaves; k += every) {
    double len = std::exp2(lx0 + k), x = X(len);
    o += "<line x1=\"" + num(x) + "\" y1=\"" + num(top) + "\" x2=\"" + num(x) + "\" y2=\"" + num(top + ph) + "\"/>\n";
    o += "<text x=\"" + num(x) + "\" y=\"" + num(top + ph + 18) + "\" text-anchor=\"middle\" stroke=\"none\" fill=\"black\">" +
         num(len, "%.0f") + "</text>\n";
  }
  o += "</g>\n<g class=\"y-axis\" stroke=\"#cccccc\">\n";
  for (double t : ya.ticks) {
    double y = Y(t);
    o += "<line x1=\"" + num(left) + "\" y1=\"" + num(y) + "\" x2=\"" + num(left + pw) + "\" y2=\"" + num(y) + "\"/>\n";
    o += "<text x=\"" + num(left - 6) + "\" y=\"" + num(y + 4) + "\" text-anchor=\"end\" stroke=\"none\" fill=\"black\">" +
         tick_label(t) + "</text>\n";
  }
  o += "</g>\n";
  o += "<rect x=\"" + num(left) + "\" y=\"" + num(top) + "\" width=\"" + num(pw) + "\" height=\"" + num(ph) +
       "\" fill=\"none\" stroke=\"black\"/>\n";
  o += "<text x=\"" + num(left + pw / 2) + "\" y=\"" + num(H - 14) + "\" text-anchor=\"middle\">" +
       xml_escape(opt.x_label) + "</text>\n";
  std::string ylab = opt.y_label + (ya.log ? " (log scale)" : "");
  o += "<text x=\"18\" y=\"" + num(top + ph / 2) + "\" text-anchor=\"middle\" transform=\"rotate(-90 18 " +
       num(top + ph / 2) + ")\">" + xml_escape(ylab) + "</text>\n";

  // Series: training-length marker under the line, then the line and its points.
  for (size_t si = 0; si < series.size(); ++si) {
    const auto& s = series[si];
    const char* colour = kPalette[si % (sizeof kPalette / sizeof kPalette[0])];
    o += "<g class=\"series\" stroke=\"" + std::string(colour) + "\" fill=\"" + colour + "\">\n";
    if (s.train_length > 0) {
      double x = X(s.train_length);
      o += "<line class=\"train-length\" x1=\"" + num(x) + "\" y1=\"" + num(top) + "\" x2=\"" + num(x) + "\" y2=\"" +
           num(top + ph) + "\" stroke-dasharray=\"5 4\" stroke-width=\"1.2\"/>\n";
    }
    std::vector<size_t> order;
    for (size_t i = 0; i < s.lengths.size(); ++i)
      if (usable(s.ppl[i])) order.push_back(i);
    // Stable sort: the line runs left to right whatever order the lengths came in.
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return s.lengths[a] < s.lengths[b]; });
    std::string pts;
    for (size_t i : order) {
      if (!pts.empty()) pts += ' ';
      pts += num(X(s.lengths[i]));
      pts += ',';
      pts += num(Y(s.ppl[i]));
    }
    o += "<polyline points=\"" + pts + "\" fill=\"none\" stroke-width=\"2\"/>\n";
    for (size_t i : order)
      o += "<circle cx=\"" + num(X(s.lengths[i])) + "\" cy=\"" + num(Y(s.ppl[i])) + "\" r=\"3.5\"/>\n";
    o += "</g>\n";
  }

  // Legend to the right of the plot: a swatch of line and marker, then the name.
  o += "<g class=\"legend\">\n";
  double lx = left + pw + 16;
  for (size_t si = 0; si < series.size(); ++si) {
    const char* colour = kPalette[si % (sizeof kPalette / sizeof kPalette[0])];
    double y = top + 10 + 20 * double(si);
    o += "<line x1=\"" + num(lx) + "\" y1=\"" + num(y) + "\" x2=\"" + num(lx + 24) + "\" y2=\"" + num(y) +
         "\" stroke=\"" + colour + "\" stroke-width=\"2\"/>\n";
    o += "<circle cx=\"" + num(lx + 12) + "\" cy=\"" + num(y) + "\" r=\"3.5\" fill=\"" + colour + "\"/>\n";
    o += "<text x=\"" + num(lx + 30) + "\" y=\"" + num(y + 4) + "\">" + xml_escape(series[si].name) + "</text>\n";
  }
  double ny = top + 10 + 20 * double(series.size());
  o += "<line x1=\"" + num(lx) + "\" y1=\"" + num(ny) + "\" x2=\"" + num(lx + 24) + "\" y2=\"" + num(ny) +
       "\" stroke=\"#555555\" stroke-dasharray=\"5 4\"/>\n";
  o += "<text x=\"" + num(lx + 30) + "\" y=\"" + num(ny + 4) + "\">training length</text>\n";
  o += "</g>\n</svg>\n";
  return o;
}

void write_perplexity_svg(const std::string& path, const std::vector<PlotSeries>& series, const PlotOptions& opt) {
  write_figure(path, perplexity_svg(series, opt));
}

namespace {

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Runs argv (no shell, so paths with spaces or quotes are safe); true when it exits 0.
// The converter's own messages go to our stderr, where the user sees them.
bool run_program(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0) return false;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return false;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace

void write_figure(const std::string& path, const std::string& svg) {
  if (ends_with(path, ".svg")) {
    io::write_file_atomic(path, svg);
    return;
  }
  ATTNLAB_CHECK(ends_with(path, ".png"), "figure '", path, "': the name must end in .svg or .png");
  // The SVG and the PNG both start as temporaries beside the target; only a finished PNG
  // is renamed over it.
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  const std::string tmp_svg = tmp + ".svg", tmp_png = tmp + ".png";
  io::write_file_atomic(tmp_svg, svg);
  const bool ok = run_program({"rsvg-convert", "--format=png", "--background-color=white", "--output", tmp_png, tmp_svg});
  std::remove(tmp_svg.c_str());
  if (!ok) {
    std::remove(tmp_png.c_str());
    throw Error(cat("figure '", path, "': rendering PNG with rsvg-convert failed (is librsvg2-bin installed? "
                    "scripts/setup.sh installs it; or ask for .svg)"));
  }
  if (std::rename(tmp_png.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp_png.c_str());
    throw Error(cat("figure '", path, "': cannot move the rendered PNG into place: ", std::strerror(err)));
  }
}

}  // namespace attnlab::eval
