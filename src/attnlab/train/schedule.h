// Learning-rate schedules: pure functions of the step (so a resumed run and an
// extended run see exactly the same rates at the same steps).
//
//   constant  warmup then peak
//   cosine    warmup then cosine from peak to floor at `steps`
//   wsd       warmup, stable at peak, then decay to floor over the last decay_fraction
//             of the run with shape linear | cosine | 1-sqrt (Hägele et al. 2024)
// Warmup rises linearly to the peak, reached at step `warmup`.
#pragma once
#include <cstdint>
#include <string>

namespace attnlab::train {

struct ScheduleParams {
  std::string kind = "cosine";        // constant | cosine | wsd
  double peak = 1e-3;
  double floor = 0.0;                 // absolute rate reached at the end of a decay
  int64_t warmup = 0;                 // steps of linear warmup
  int64_t steps = 1000;               // length of the run
  double decay_fraction = 0.2;        // wsd: share of the run spent decaying
  std::string decay_shape = "linear";  // wsd: linear | cosine | 1-sqrt

  void validate() const;
};

// Rate for 0-based step `step`.
double learning_rate(const ScheduleParams& p, int64_t step);

// Decay factor in [0, 1] for progress u in [0, 1] of a decay phase (1 at u = 0, 0 at u = 1).
double decay_shape_factor(const std::string& shape, double u);

}  // namespace attnlab::train
