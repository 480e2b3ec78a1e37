// Pathfinder (Linsley et al. 2018; LRA's 32 x 32 task and Path-X at 128 x 128), generated
// in the manner of drewlinsley/pathfinder's snakes2.py (specs/methods.md §4): two target
// contours of `contour_length` paddles each, the turn between consecutive paddles bounded
// by `max_turn_deg`; distractor contours of a third of that length and single paddles;
// two markers (discs) -- one at an end of contour A, the other at A's other end (label 1)
// or at an end of contour B (label 0), labels 50/50.
//
// Where we differ from snakes2.py, on purpose: paddles are drawn end to end without gaps
// and every object keeps a clearance of one empty pixel from every other, so the label is
// exactly "the two markers are 8-connected through lit pixels" -- which the tests check by
// flood fill on the rendered image. snakes2.py draws dashed, anti-aliased paddles.
#pragma once
#include <cstdint>
#include <vector>

#include "attnlab/core/rng.h"

namespace attnlab::lra {

struct PathfinderOptions {
  int64_t size = 32;             // image side in pixels
  int64_t contour_length = 14;   // paddles per target contour
  double paddle_length = 2.0;    // pixels per paddle
  double max_turn_deg = 30.0;    // bound on the turn between consecutive paddles
  double marker_radius = 1.5;
  int64_t distractor_contours = 5;   // contours of contour_length / 3 paddles
  int64_t distractor_paddles = 5;    // single paddles

  static PathfinderOptions lra32();   // contour 14, paddle 2, marker 1.5, 5 distractors
  static PathfinderOptions lra128();  // contour 14, paddle 6, marker 3, 20 distractors
};

struct PathfinderImage {
  int64_t size = 0;
  std::vector<uint8_t> pixels;  // size * size, row-major, 0 background, 255 lit
  int label = 0;                // 1: the markers lie on the same contour
  int64_t marker[2][2] = {{0, 0}, {0, 0}};  // (row, col) of each marker's centre
};

// One image with label `label`; retries placements until every object fits.
PathfinderImage generate_pathfinder(const PathfinderOptions& opt, int label, Rng& rng);

// True when pixels a and b (row, col) are joined by 8-connected lit pixels.
bool pixels_connected(const PathfinderImage& img, const int64_t a[2], const int64_t b[2]);

}  // namespace attnlab::lra
