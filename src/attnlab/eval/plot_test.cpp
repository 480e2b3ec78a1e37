#include "attnlab/eval/plot.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "attnlab/core/error.h"
#include "attnlab/io/atomic_file.h"
#include "harness/temp_dir.h"

namespace attnlab::eval {
namespace {

// Checks the document is well formed as far as an SVG viewer cares: every tag closed in
// order, attribute values quoted, no bare '<' or '&' in text. Returns "" or the problem.
std::string xml_problem(const std::string& doc) {
  std::vector<std::string> open;
  size_t i = 0;
  while (i < doc.size()) {
    if (doc[i] == '&') {
      size_t semi = doc.find(';', i);
      if (semi == std::string::npos || semi - i > 6) return "bare '&' at " + std::to_string(i);
      i = semi + 1;
      continue;
    }
    if (doc[i] == '>') return "bare '>' at " + std::to_string(i);
    if (doc[i] != '<') {
      ++i;
      continue;
    }
    // A tag: find its end outside quoted attribute values.
    size_t j = i + 1;
    char quote = 0;
    for (; j < doc.size(); ++j) {
      char c = doc[j];
      if (quote) {
        if (c == quote) quote = 0;
        else if (c == '<') return "'<' inside an attribute at " + std::to_string(j);
      } else if (c == '"' || c == '\'') {
        quote = c;
      } else if (c == '<') {
        return "'<' inside a tag at " + std::to_string(j);
      } else if (c == '>') {
        break;
      }
    }
    if (j >= doc.size()) return "unterminated tag at " + std::to_string(i);
    std::string tag = doc.substr(i + 1, j - i - 1);
    i = j + 1;
    if (tag.front() == '?') continue;  // the XML declaration
    bool closing = tag.front() == '/', empty = tag.back() == '/';
    std::string name = tag.substr(closing ? 1 : 0);
    name = name.substr(0, name.find_first_of(" \t\n/"));
    if (name.empty()) return "tag without a name at " + std::to_string(i);
    if (closing) {
      if (open.empty() || open.back() != name) return "</" + name + "> closes " + (open.empty() ? "nothing" : open.back());
      open.pop_back();
    } else if (!empty) {
      open.push_back(name);
    }
  }
  if (!open.empty()) return "<" + open.back() + "> never closed";
  return "";
}

size_t count(const std::string& doc, const std::string& what) {
  size_t n = 0;
  for (size_t p = doc.find(what); p != std::string::npos; p = doc.find(what, p + 1)) ++n;
  return n;
}

// The (x, y) pairs of every polyline, in document order.
std::vector<std::vector<std::pair<double, double>>> polylines(const std::string& doc) {
  std::vector<std::vector<std::pair<double, double>>> out;
  std::regex re("<polyline points=\"([^\"]*)\"");
  for (auto it = std::sregex_iterator(doc.begin(), doc.end(), re); it != std::sregex_iterator(); ++it) {
    std::istringstream s((*it)[1].str());
    std::vector<std::pair<double, double>> pts;
    double x, y;
    char comma;
    while (s >> x >> comma >> y) pts.push_back({x, y});
    out.push_back(pts);
  }
  return out;
}

std::vector<PlotSeries> two_series() {
  PlotSeries a{"rope", {8, 16, 32, 64, 128}, {12.0, 9.0, 7.5, 8.0, 20.0}, 32};
  PlotSeries b{"alibi", {8, 16, 32, 64, 128}, {12.5, 9.5, 7.8, 7.4, 7.3}, 32};
  return {a, b};
}

TEST(Plot, WellFormedWithOnePolylinePerSeriesAndALegend) {
  std::string svg = perplexity_svg(two_series());
  EXPECT_EQ(xml_problem(svg), "");
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_EQ(count(svg, "<polyline"), 2u);
  EXPECT_EQ(count(svg, ">rope</text>"), 1u);
  EXPECT_EQ(count(svg, ">alibi</text>"), 1u);
  EXPECT_EQ(count(svg, "class=\"train-length\""), 2u);  // one dashed marker per series
  EXPECT_NE(svg.find("stroke-dasharray"), std::string::npos);
  EXPECT_NE(svg.find("Perplexity against evaluation length"), std::string::npos);
  // Ticks at powers of two label the lengths.
  for (const char* t : {">8</text>", ">16</text>", ">128</text>"}) EXPECT_NE(svg.find(t), std::string::npos) << t;
  // 20 / 7.3 < 10: linear y axis.
  EXPECT_EQ(svg.find("perplexity (log scale)"), std::string::npos);
}

TEST(Plot, LogSpacedXIncreasingWithLengthAndHigherPerplexityHigherUp) {
  auto lines = polylines(perplexity_svg(two_series()));
  ASSERT_EQ(lines.size(), 2u);
  const auto& p = lines[0];
  ASSERT_EQ(p.size(), 5u);
  for (size_t i = 1; i < p.size(); ++i) EXPECT_GT(p[i].first, p[i - 1].first);
  // Each doubling of the length moves the same distance (to the printed 0.01 precision).
  double step = p[1].first - p[0].first;
  EXPECT_GT(step, 10);
  for (size_t i = 2; i < p.size(); ++i) EXPECT_NEAR(p[i].first - p[i - 1].first, step, 0.02);
  // Both series share the x positions; SVG y grows downward, so ppl 20 sits above ppl 7.5.
  for (size_t i = 0; i < p.size(); ++i) EXPECT_DOUBLE_EQ(lines[1][i].first, p[i].first);
  EXPECT_LT(p[4].second, p[2].second);
}

TEST(Plot, LengthsNeedNotBePowersOfTwoOrSorted) {
  PlotSeries s{"odd", {300, 100, 900}, {5, 4, 6}, 0};
  auto lines = polylines(perplexity_svg({s}));
  ASSERT_EQ(lines.size(), 1u);
  ASSERT_EQ(lines[0].size(), 3u);
  // Drawn left to right; 100 -> 300 and 300 -> 900 are equal ratios, so equal distances.
  EXPECT_NEAR(lines[0][1].first - lines[0][0].first, lines[0][2].first - lines[0][1].first, 0.02);
  EXPECT_EQ(count(perplexity_svg({s}), "train-length"), 0u);
}

TEST(Plot, WideRangeSwitchesToALogYAxisAndSkipsNonFinitePoints) {
  PlotSeries s{"nope", {16, 32, 64, 128}, {6.0, 60.0, std::nan(""), 6000.0}, 16};
  std::string svg = perplexity_svg({s});
  EXPECT_EQ(xml_problem(svg), "");
  EXPECT_NE(svg.find("perplexity (log scale)"), std::string::npos);
  auto lines = polylines(svg);
  ASSERT_EQ(lines.size(), 1u);
  ASSERT_EQ(lines[0].size(), 3u);  // the NaN is left out
  // On a log axis equal ratios (6 -> 60 -> 6000 is x10 then x100) give proportional heights.
  double d1 = lines[0][0].second - lines[0][1].second, d2 = lines[0][1].second - lines[0][2].second;
  EXPECT_NEAR(d2, 2 * d1, 0.05);
  for (const char* t : {">1</text>", ">10</text>", ">10000</text>"}) EXPECT_NE(svg.find(t), std::string::npos) << t;
}

TEST(Plot, EscapesTextFromNamesAndTitles) {
  EXPECT_EQ(xml_escape("a<b & \"c\" 'd' >"), "a&lt;b &amp; &quot;c&quot; &apos;d&apos; &gt;");
  PlotSeries s{"runs/<x>&y", {8, 16}, {3, 2}, 8};
  PlotOptions opt;
  opt.title = "L < 2 & more";
  std::string svg = perplexity_svg({s}, opt);
  EXPECT_EQ(xml_problem(svg), "");
  EXPECT_NE(svg.find(">runs/&lt;x&gt;&amp;y</text>"), std::string::npos);
  EXPECT_NE(svg.find(">L &lt; 2 &amp; more</text>"), std::string::npos);
  EXPECT_EQ(svg.find("<x>"), std::string::npos);
}

TEST(Plot, DeterministicAndWrittenAtomically) {
  attnlab::testing::TempDir dir;
  std::string path = dir.path() + "/ppl.svg";
  write_perplexity_svg(path, two_series());
  EXPECT_EQ(io::read_file(path), perplexity_svg(two_series()));
  EXPECT_EQ(perplexity_svg(two_series()), perplexity_svg(two_series()));
  for (const auto& e : std::filesystem::directory_iterator(dir.path()))
    EXPECT_EQ(e.path().filename(), "ppl.svg") << "left behind: " << e.path();
}

TEST(Plot, SinglePointAndSingleValueStillGetAnAxis) {
  std::string svg = perplexity_svg({PlotSeries{"one", {64}, {5}, 64}});
  EXPECT_EQ(xml_problem(svg), "");
  auto lines = polylines(svg);
  ASSERT_EQ(lines[0].size(), 1u);
  // The point sits strictly inside the plot, not on an edge of a zero-width range.
  EXPECT_GT(lines[0][0].first, 72);
  EXPECT_GT(lines[0][0].second, 44);
}

TEST(Plot, BadInputIsOneClearError) {
  auto message = [](const std::vector<PlotSeries>& s) {
    try {
      perplexity_svg(s);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message({}), "plot: no series to draw");
  EXPECT_EQ(message({PlotSeries{"a", {8, 16}, {1}, 0}}), "plot: series 'a' has 2 lengths but 1 perplexities");
  EXPECT_EQ(message({PlotSeries{"a", {0}, {1}, 0}}), "plot: series 'a' has length 0; lengths must be positive");
  EXPECT_EQ(message({PlotSeries{"a", {8}, {std::nan("")}, 0}}), "plot: no finite positive perplexity to draw");
}

// PNG through rsvg-convert: a real PNG (signature and IHDR size) and nothing left beside it.
TEST(Plot, PngIsRenderedFromTheSvg) {
  if (std::system("command -v rsvg-convert >/dev/null 2>&1") != 0) GTEST_SKIP() << "rsvg-convert not installed";
  attnlab::testing::TempDir dir;
  PlotOptions po;
  po.width = 430;
  po.height = 240;
  write_perplexity_svg(dir.file("ppl.png"), {PlotSeries{"a", {64, 128, 256}, {5, 6, 9}, 64}}, po);
  std::string png = io::read_file(dir.file("ppl.png"));
  ASSERT_GT(png.size(), 24u);
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  auto be32 = [&](size_t at) {
    return (uint32_t(uint8_t(png[at])) << 24) | (uint32_t(uint8_t(png[at + 1])) << 16) |
           (uint32_t(uint8_t(png[at + 2])) << 8) | uint32_t(uint8_t(png[at + 3]));
  };
  EXPECT_EQ(be32(16), 430u);  // IHDR width and height: the SVG's own size
  EXPECT_EQ(be32(20), 240u);
  EXPECT_EQ(dir.list(), std::vector<std::string>{"ppl.png"});
}

TEST(Plot, FigureNameMustEndInSvgOrPng) {
  attnlab::testing::TempDir dir;
  try {
    write_figure(dir.file("ppl.jpg"), "<svg/>");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "figure '" + dir.file("ppl.jpg") + "': the name must end in .svg or .png");
  }
  EXPECT_TRUE(dir.list().empty());
}

}  // namespace
}  // namespace attnlab::eval
