#include "attnlab/eval/chart.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <regex>
#include <string>
#include <vector>

#include "harness/assert_close.h"

namespace attnlab::eval {
namespace {

using ::attnlab::testing::error_of;

int count(const std::string& doc, const std::string& what) {
  int n = 0;
  for (size_t p = doc.find(what); p != std::string::npos; p = doc.find(what, p + 1)) ++n;
  return n;
}

TEST(Heatmap, OneCellPerValueColouredByValue) {
  std::vector<std::vector<double>> v = {{0.0, 1.0, NAN}, {0.5, 0.25, 1.0}};
  HeatmapOptions o;
  o.title = "acc <test>";
  std::string svg = heatmap_svg(v, {"0", "1"}, {"256", "512", "1024"}, o);
  EXPECT_EQ(svg, heatmap_svg(v, {"0", "1"}, {"256", "512", "1024"}, o));  // deterministic
  // Six cells in the cell group, labelled with their values; NaN is grey and "-".
  size_t g = svg.find("<g class=\"cells\">"), ge = svg.find("</g>", g);
  std::string cells = svg.substr(g, ge - g);
  EXPECT_EQ(count(cells, "<rect"), 6);
  EXPECT_EQ(count(cells, "fill=\"#FFFFFF\""), 1);  // 0: white
  EXPECT_EQ(count(cells, "fill=\"#0072B2\""), 2);  // 1: full blue
  EXPECT_EQ(count(cells, "fill=\"#DDDDDD\""), 1);  // NaN: grey
  EXPECT_NE(cells.find(">0.25<"), std::string::npos);
  EXPECT_NE(cells.find(">-<"), std::string::npos);
  EXPECT_NE(svg.find("acc &lt;test&gt;"), std::string::npos);
  EXPECT_NE(svg.find(">1024<"), std::string::npos);
}

TEST(Heatmap, BadInputIsOneClearError) {
  HeatmapOptions o;
  EXPECT_NE(error_of([&] { heatmap_svg({{1, 2}}, {"a"}, {"x"}, o); }).find("a row has 2 values for 1 columns"),
            std::string::npos);
  EXPECT_NE(error_of([&] { heatmap_svg({}, {}, {"x"}, o); }).find("no rows or columns"), std::string::npos);
  o.lo = o.hi = 1;
  EXPECT_NE(error_of([&] { heatmap_svg({{1}}, {"a"}, {"x"}, o); }).find("is empty"), std::string::npos);
}

TEST(LineChart, LogAxesSkipPointsTheyCannotShow) {
  LineSeries a{"a", {1, 2, 4, 8}, {1, 10, 100, -1}, false};
  LineSeries b{"b", {0, 2, 4}, {5, NAN, 50}, true};
  LineChartOptions o;
  o.title = "t";
  o.x_log = o.y_log = true;
  std::string svg = line_chart_svg({a, b}, o);
  std::smatch m;
  std::vector<int> points;
  std::string rest = svg;
  while (std::regex_search(rest, m, std::regex("<polyline points=\"([^\"]*)\""))) {
    std::string p = m[1].str();
    points.push_back(p.empty() ? 0 : int(std::count(p.begin(), p.end(), ' ')) + 1);
    rest = m.suffix();
  }
  EXPECT_EQ(points, (std::vector<int>{3, 1}));  // y = -1, x = 0 and NaN are left out
  EXPECT_EQ(count(svg, "stroke-dasharray=\"6 4\""), 2);  // b's line and its legend swatch
  EXPECT_NE(svg.find("(log scale)"), std::string::npos);
}

TEST(LineChart, IncludedRangeWidensTheAxis) {
  LineSeries a{"a", {1, 2}, {0.9994, 0.9996}, false};
  LineChartOptions o;
  std::string narrow = line_chart_svg({a}, o);
  o.y_include_lo = 0;
  o.y_include_hi = 1;
  std::string wide = line_chart_svg({a}, o);
  EXPECT_EQ(narrow.find(">0.5<"), std::string::npos);
  EXPECT_NE(wide.find(">0<"), std::string::npos);
  EXPECT_NE(wide.find(">1<"), std::string::npos);
  EXPECT_NE(error_of([&] { line_chart_svg({LineSeries{"n", {1}, {NAN}, false}}, o); }).find("no finite point"),
            std::string::npos);
  EXPECT_NE(error_of([&] { line_chart_svg({}, o); }).find("no series"), std::string::npos);
}

}  // namespace
}  // namespace attnlab::eval
