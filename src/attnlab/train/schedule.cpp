#include "attnlab/train/schedule.h"

#include <algorithm>
#include <cmath>

#include "attnlab/core/error.h"

namespace attnlab::train {

namespace {

bool shape_needs_positive_floor(const std::string& shape) {
  return shape == "exponential" || shape == "inverse-proportional";
}

int64_t rounded_share(double fraction, int64_t length) {
  return int64_t(std::llround(fraction * double(length)));
}

}  // namespace

void ScheduleParams::validate() const {
  ATTNLAB_CHECK(kind == "constant" || kind == "cosine" || kind == "wsd" || kind == "wsd-s", "train.schedule = '",
                kind, "': expected constant, cosine, wsd or wsd-s");
  ATTNLAB_CHECK(peak > 0, "train.lr must be positive, got ", peak);
  ATTNLAB_CHECK(floor >= 0 && floor <= peak, "train.lr_floor must be in [0, train.lr], got ", floor);
  ATTNLAB_CHECK(warmup >= 0 && warmup <= steps, "train.warmup must be in [0, train.steps], got ", warmup);
  ATTNLAB_CHECK(steps > 0, "train.steps must be positive, got ", steps);
  ATTNLAB_CHECK(decay_fraction >= 0 && decay_fraction <= 1, "train.decay_fraction must be in [0, 1], got ",
                decay_fraction);
  decayed_rate(decay_shape, 1.0, 0.5, 0.5);  // validates the name
  if ((kind == "wsd" || kind == "wsd-s") && shape_needs_positive_floor(decay_shape))
    ATTNLAB_CHECK(floor > 0, "train.decay_shape = '", decay_shape, "' needs train.lr_floor > 0 (it decays to ",
                  "lr_floor / lr as a ratio)");
  if (kind != "wsd-s") {
    ATTNLAB_CHECK(checkpoints.empty(), "train.decay_checkpoints is set but train.schedule = '", kind,
                  "'; it belongs to schedule = \"wsd-s\"");
    return;
  }
  ATTNLAB_CHECK(!checkpoints.empty(), "train.schedule = \"wsd-s\" needs train.decay_checkpoints (the steps at "
                "which a decayed checkpoint is saved)");
  for (size_t k = 0; k < checkpoints.size(); ++k) {
    const int64_t prev = k == 0 ? 0 : checkpoints[k - 1];
    ATTNLAB_CHECK(checkpoints[k] > prev, "train.decay_checkpoints must be positive and increasing, entry ", k,
                  " is ", checkpoints[k], " after ", prev);
    ATTNLAB_CHECK(checkpoints[k] <= steps, "train.decay_checkpoints entry ", k, " = ", checkpoints[k],
                  " is past train.steps = ", steps);
  }
  ATTNLAB_CHECK(checkpoints[0] - wsds_decay_steps(*this, 0) >= warmup, "train.warmup = ", warmup,
                " overlaps the first decay (it starts at step ", checkpoints[0] - wsds_decay_steps(*this, 0),
                "); lower the warmup or move the first decay checkpoint later");
}

double decayed_rate(const std::string& shape, double peak, double floor, double x) {
  x = std::clamp(x, 0.0, 1.0);
  const double rho = floor / peak;
  double factor;  // rate / peak
  if (shape == "linear") factor = rho + (1 - rho) * (1.0 - x);
  else if (shape == "cosine") factor = rho + (1 - rho) * 0.5 * (1.0 + std::cos(M_PI * x));
  else if (shape == "1-sqrt") factor = rho + (1 - rho) * (1.0 - std::sqrt(x));
  else if (shape == "exponential") factor = std::pow(rho, x);
  else if (shape == "inverse-proportional") factor = 1.0 / (1.0 + x * (1.0 / rho - 1.0));
  else
    throw Error(cat("train.decay_shape = '", shape,
                    "': expected linear, cosine, 1-sqrt, exponential or inverse-proportional"));
  return peak * factor;
}

int64_t wsds_decay_steps(const ScheduleParams& p, size_t k) {
  const int64_t start = k == 0 ? 0 : p.checkpoints[k - 1];
  return rounded_share(p.decay_fraction, p.checkpoints[k] - start);
}

bool is_decayed_checkpoint(const ScheduleParams& p, int64_t done) {
  if (p.kind == "wsd") return done == p.steps && rounded_share(p.decay_fraction, p.steps) > 0;
  if (p.kind != "wsd-s") return false;
  return std::binary_search(p.checkpoints.begin(), p.checkpoints.end(), done);
}

double learning_rate(const ScheduleParams& p, int64_t step) {
  // Linear warmup reaches the peak at step `warmup` (step 0 gets peak / (warmup + 1)).
  if (step < p.warmup) return p.peak * double(step + 1) / double(p.warmup + 1);
  if (p.kind == "constant") return p.peak;
  if (p.kind == "cosine") {
    int64_t span = std::max<int64_t>(1, p.steps - p.warmup);
    double u = double(step - p.warmup) / double(span);
    return decayed_rate("cosine", p.peak, p.floor, u);
  }
  // A decay of `length` steps ending before step `end`: its i-th step has x = i / length.
  auto in_decay = [&](int64_t end, int64_t length, double& rate) {
    if (length == 0 || step < end - length || step >= end) return false;
    rate = decayed_rate(p.decay_shape, p.peak, p.floor, double(step - (end - length) + 1) / double(length));
    return true;
  };
  double rate = p.peak;
  if (p.kind == "wsd") {
    in_decay(p.steps, rounded_share(p.decay_fraction, p.steps), rate);
    return rate;
  }
  // wsd-s: only the cycle holding `step` matters, found from the checkpoints alone.
  auto next = std::upper_bound(p.checkpoints.begin(), p.checkpoints.end(), step);
  if (next == p.checkpoints.end()) return p.peak;  // past the last budget: stable
  in_decay(*next, wsds_decay_steps(p, size_t(next - p.checkpoints.begin())), rate);
  return rate;
}

}  // namespace attnlab::train
