#include "attnlab/train/schedule.h"

#include <algorithm>
#include <cmath>

#include "attnlab/core/error.h"

namespace attnlab::train {

void ScheduleParams::validate() const {
  ATTNLAB_CHECK(kind == "constant" || kind == "cosine" || kind == "wsd", "train.schedule = '", kind,
                "': expected constant, cosine or wsd");
  ATTNLAB_CHECK(peak > 0, "train.lr must be positive, got ", peak);
  ATTNLAB_CHECK(floor >= 0 && floor <= peak, "train.lr_floor must be in [0, train.lr], got ", floor);
  ATTNLAB_CHECK(warmup >= 0 && warmup <= steps, "train.warmup must be in [0, train.steps], got ", warmup);
  ATTNLAB_CHECK(steps > 0, "train.steps must be positive, got ", steps);
  ATTNLAB_CHECK(decay_fraction >= 0 && decay_fraction <= 1, "train.decay_fraction must be in [0, 1], got ",
                decay_fraction);
  decay_shape_factor(decay_shape, 0.5);  // validates the name
}

double decay_shape_factor(const std::string& shape, double u) {
  u = std::clamp(u, 0.0, 1.0);
  if (shape == "linear") return 1.0 - u;
  if (shape == "cosine") return 0.5 * (1.0 + std::cos(M_PI * u));
  if (shape == "1-sqrt") return 1.0 - std::sqrt(u);
  throw Error(cat("train.decay_shape = '", shape, "': expected linear, cosine or 1-sqrt"));
}

double learning_rate(const ScheduleParams& p, int64_t step) {
  // Linear warmup reaches the peak at step `warmup` (step 0 gets peak / (warmup + 1)).
  if (step < p.warmup) return p.peak * double(step + 1) / double(p.warmup + 1);
  if (p.kind == "constant") return p.peak;
  if (p.kind == "cosine") {
    int64_t span = std::max<int64_t>(1, p.steps - p.warmup);
    double u = double(step - p.warmup) / double(span);
    return p.floor + (p.peak - p.floor) * decay_shape_factor("cosine", u);
  }
  // wsd
  int64_t decay_steps = int64_t(std::llround(p.decay_fraction * double(p.steps)));
  int64_t decay_start = p.steps - decay_steps;
  if (step < decay_start || decay_steps == 0) return p.peak;
  double u = double(step - decay_start + 1) / double(decay_steps);
  return p.floor + (p.peak - p.floor) * decay_shape_factor(p.decay_shape, u);
}

}  // namespace attnlab::train
