#include "attnlab/lra/pathfinder.h"

#include <cmath>

#include "attnlab/core/error.h"

namespace attnlab::lra {

PathfinderOptions PathfinderOptions::lra32() { return PathfinderOptions{}; }

PathfinderOptions PathfinderOptions::lra128() {
  PathfinderOptions o;
  o.size = 128;
  o.paddle_length = 6.0;
  o.marker_radius = 3.0;
  o.distractor_contours = 20;
  o.distractor_paddles = 20;
  return o;
}

namespace {

using Pixels = std::vector<int64_t>;  // flat indices r * size + c

struct Canvas {
  int64_t size;
  std::vector<int> owner;  // -1 empty, else the object's id
  explicit Canvas(int64_t n) : size(n), owner(static_cast<size_t>(n * n), -1) {}

  // Every pixel free of other objects within one pixel (the clearance that keeps objects
  // from touching, also diagonally).
  bool fits(const Pixels& px, int id) const {
    for (int64_t p : px) {
      int64_t r = p / size, c = p % size;
      for (int64_t dr = -1; dr <= 1; ++dr)
        for (int64_t dc = -1; dc <= 1; ++dc) {
          int64_t rr = r + dr, cc = c + dc;
          if (rr < 0 || cc < 0 || rr >= size || cc >= size) continue;
          int o = owner[size_t(rr * size + cc)];
          if (o >= 0 && o != id) return false;
        }
    }
    return true;
  }
  void commit(const Pixels& px, int id) {
    for (int64_t p : px) owner[size_t(p)] = id;
  }
};

// A chain of `paddles` straight segments, each turning by at most max_turn from the last.
// Returns false when it leaves the canvas (keeping `margin` pixels from the border).
bool draw_contour(const PathfinderOptions& opt, int64_t paddles, double margin, Rng& rng, Pixels& px) {
  const double n = double(opt.size), kPi = 3.14159265358979323846;
  const double turn = opt.max_turn_deg * kPi / 180.0;
  double y = margin + rng.next_uniform() * (n - 2 * margin), x = margin + rng.next_uniform() * (n - 2 * margin);
  double theta = rng.next_uniform() * 2 * kPi;
  px.clear();
  auto add = [&](double yy, double xx) {
    int64_t r = int64_t(std::floor(yy)), c = int64_t(std::floor(xx));
    if (yy < margin || xx < margin || yy >= n - margin || xx >= n - margin) return false;
    int64_t p = r * opt.size + c;
    if (px.empty() || px.back() != p) px.push_back(p);
    return true;
  };
  if (!add(y, x)) return false;
  for (int64_t k = 0; k < paddles; ++k) {
    if (k > 0) theta += (2 * rng.next_uniform() - 1) * turn;
    // Steps of a quarter pixel: consecutive pixels are 8-neighbours, so a contour is one
    // connected component.
    int64_t steps = std::max<int64_t>(1, int64_t(std::ceil(opt.paddle_length * 4)));
    double dy = std::sin(theta) * opt.paddle_length / double(steps), dx = std::cos(theta) * opt.paddle_length / double(steps);
    for (int64_t s = 0; s < steps; ++s) {
      y += dy, x += dx;
      if (!add(y, x)) return false;
    }
  }
  return true;
}

Pixels disc(const PathfinderOptions& opt, int64_t centre) {
  Pixels px;
  int64_t r0 = centre / opt.size, c0 = centre % opt.size, R = int64_t(std::ceil(opt.marker_radius));
  for (int64_t dr = -R; dr <= R; ++dr)
    for (int64_t dc = -R; dc <= R; ++dc) {
      int64_t r = r0 + dr, c = c0 + dc;
      if (r < 0 || c < 0 || r >= opt.size || c >= opt.size) continue;
      if (double(dr * dr + dc * dc) <= opt.marker_radius * opt.marker_radius) px.push_back(r * opt.size + c);
    }
  return px;
}

// Places one contour of `paddles` as object `id`; false after `tries` failed attempts.
bool place_contour(const PathfinderOptions& opt, Canvas& canvas, int64_t paddles, double margin, int id, Rng& rng,
                   Pixels& px, int tries = 200) {
  for (int t = 0; t < tries; ++t)
    if (draw_contour(opt, paddles, margin, rng, px) && canvas.fits(px, id)) {
      canvas.commit(px, id);
      return true;
    }
  return false;
}

}  // namespace

PathfinderImage generate_pathfinder(const PathfinderOptions& opt, int label, Rng& rng) {
  ATTNLAB_CHECK(opt.size >= 8 && opt.contour_length >= 1 && opt.paddle_length > 0 && opt.marker_radius >= 0,
                "pathfinder: need size >= 8, contour_length >= 1, paddle_length > 0, marker_radius >= 0");
  ATTNLAB_CHECK(label == 0 || label == 1, "pathfinder: label must be 0 or 1, got ", label);
  const double margin = std::ceil(opt.marker_radius) + 1;  // room for a marker at any end
  for (int attempt = 0; attempt < 1000; ++attempt) {
    Canvas canvas(opt.size);
    Pixels a, b;
    if (!place_contour(opt, canvas, opt.contour_length, margin, 0, rng, a)) continue;
    if (!place_contour(opt, canvas, opt.contour_length, margin, 1, rng, b)) continue;
    // Markers: A's first end, then A's other end (1) or B's first end (0).
    int64_t m0 = a.front(), m1 = label ? a.back() : b.front();
    Pixels d0 = disc(opt, m0), d1 = disc(opt, m1);
    // One at a time: the second disc must also keep clear of the first.
    if (!canvas.fits(d0, 0)) continue;
    canvas.commit(d0, 0);
    if (!canvas.fits(d1, label ? 0 : 1)) continue;
    canvas.commit(d1, label ? 0 : 1);
    int id = 2;
    Pixels px;
    int64_t short_len = std::max<int64_t>(1, opt.contour_length / 3);
    for (int64_t k = 0; k < opt.distractor_contours; ++k) place_contour(opt, canvas, short_len, 1, id++, rng, px, 50);
    for (int64_t k = 0; k < opt.distractor_paddles; ++k) place_contour(opt, canvas, 1, 1, id++, rng, px, 50);
    PathfinderImage img;
    img.size = opt.size;
    img.label = label;
    img.pixels.assign(canvas.owner.size(), 0);
    for (size_t p = 0; p < canvas.owner.size(); ++p) img.pixels[p] = canvas.owner[p] >= 0 ? 255 : 0;
    img.marker[0][0] = m0 / opt.size, img.marker[0][1] = m0 % opt.size;
    img.marker[1][0] = m1 / opt.size, img.marker[1][1] = m1 % opt.size;
    return img;
  }
  throw Error(cat("pathfinder: could not place two contours of ", opt.contour_length, " paddles of ",
                  opt.paddle_length, " px on a ", opt.size, " x ", opt.size, " canvas in 1000 attempts"));
}

bool pixels_connected(const PathfinderImage& img, const int64_t a[2], const int64_t b[2]) {
  const int64_t n = img.size;
  auto lit = [&](int64_t r, int64_t c) { return img.pixels[size_t(r * n + c)] > 0; };
  if (!lit(a[0], a[1]) || !lit(b[0], b[1])) return false;
  std::vector<char> seen(static_cast<size_t>(n * n), 0);
  std::vector<int64_t> stack{a[0] * n + a[1]};
  seen[size_t(stack[0])] = 1;
  while (!stack.empty()) {
    int64_t p = stack.back();
    stack.pop_back();
    int64_t r = p / n, c = p % n;
    if (r == b[0] && c == b[1]) return true;
    for (int64_t dr = -1; dr <= 1; ++dr)
      for (int64_t dc = -1; dc <= 1; ++dc) {
        int64_t rr = r + dr, cc = c + dc;
        if (rr < 0 || cc < 0 || rr >= n || cc >= n || !lit(rr, cc) || seen[size_t(rr * n + cc)]) continue;
        seen[size_t(rr * n + cc)] = 1;
        stack.push_back(rr * n + cc);
      }
  }
  return false;
}

}  // namespace attnlab::lra
