// Perplexity against length as a small, dependency-free SVG (issue 4, item 7).
//
// x: evaluation length on a log2 axis, from the power of two at or below the smallest
//    length (or training length) to the one at or above the largest, ticks at powers of two.
// y: perplexity, linear with "nice" ticks (1, 2, 5 x 10^k); when the finite values span
//    more than 10x (a model that fails to extrapolate dwarfs the rest on a linear axis),
//    log10 instead, ticks at powers of ten.
// One polyline with circle markers per series, in a fixed palette, named in a legend; a
// dashed vertical line in the series' colour marks its training length. Points whose
// perplexity is not finite and positive are left out. The text is XML-escaped and numbers
// are printed with a fixed precision, so equal inputs give byte-identical files.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace attnlab::eval {

struct PlotSeries {
  std::string name;                   // legend entry
  std::vector<double> lengths, ppl;   // equal sizes, lengths > 0
  double train_length = 0;            // dashed marker; 0: none
};

struct PlotOptions {
  std::string title = "Perplexity against evaluation length";
  std::string x_label = "evaluation length (tokens, log scale)";
  std::string y_label = "perplexity";
  int width = 860, height = 480;
};

// `&<>"'` as entities, so names taken from paths cannot break the document.
std::string xml_escape(std::string_view text);

// The SVG document. Throws attnlab::Error on no series, mismatched sizes, a length that is
// not positive, or no finite positive perplexity at all.
std::string perplexity_svg(const std::vector<PlotSeries>& series, const PlotOptions& opt = {});

// perplexity_svg written atomically to `path` (through write_figure: .svg or .png).
void write_perplexity_svg(const std::string& path, const std::vector<PlotSeries>& series,
                          const PlotOptions& opt = {});

// Writes an SVG document atomically to `path`, as SVG when the name ends in ".svg" and
// rendered to PNG when it ends in ".png". PNG goes through `rsvg-convert` (Debian package
// librsvg2-bin, which scripts/setup.sh installs), run without a shell; a missing converter
// or a failed conversion is one error line and leaves no file behind. Any other ending is
// an error naming the path.
void write_figure(const std::string& path, const std::string& svg);

}  // namespace attnlab::eval
