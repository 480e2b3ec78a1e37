// Learning-rate schedules: pure functions of the step (so a resumed run and an
// extended run see exactly the same rates at the same steps).
//
//   constant  warmup then peak
//   cosine    warmup then cosine from peak to floor at `steps`
//   wsd       warmup, stable at peak, then decay to floor over the last decay_fraction
//             of the run (MiniCPM; Hägele et al. 2024)
//   wsd-s     WSD-S (Wen et al. 2025): one main branch with checkpoint steps B_1 < B_2 < ...;
//             cycle k is [B_{k-1}, B_k) (B_0 = 0), its last round(decay_fraction * cycle
//             length) steps decay to the floor, and the next cycle starts again at the peak
//             (no re-warmup). All lengths are absolute steps, so appending later checkpoints
//             never changes an earlier rate. Past the last checkpoint the rate stays at peak.
// Warmup rises linearly to the peak, reached at step `warmup`; it happens once.
//
// Decay shapes, with x in (0, 1] the progress through the decay and rho = floor / peak:
//   linear               rho + (1 - rho)(1 - x)
//   cosine               rho + (1 - rho)(1 + cos(pi x)) / 2
//   1-sqrt               rho + (1 - rho)(1 - sqrt x)
//   exponential          rho^x                         (needs floor > 0)
//   inverse-proportional 1 / (1 + x (1/rho - 1))       (needs floor > 0; 1/rate linear in x)
// times the peak. A decay of d steps gives its i-th step (i = 1..d) x = i / d, so the last
// step of every decay runs exactly at the floor.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace attnlab::train {

struct ScheduleParams {
  std::string kind = "cosine";        // constant | cosine | wsd | wsd-s
  double peak = 1e-3;
  double floor = 0.0;                 // absolute rate reached at the end of a decay
  int64_t warmup = 0;                 // steps of linear warmup
  int64_t steps = 1000;               // length of the run
  double decay_fraction = 0.2;        // wsd: share of the run; wsd-s: share of each cycle
  std::string decay_shape = "linear";  // see above
  std::vector<int64_t> checkpoints;   // wsd-s: the budgets B_k, steps completed, increasing

  void validate() const;
};

// Rate for 0-based step `step` (the update that completes step + 1 steps).
double learning_rate(const ScheduleParams& p, int64_t step);

// The rate at progress x in [0, 1] of a decay from `peak` to `floor` (peak at x = 0,
// floor at x = 1) with one of the shapes above.
double decayed_rate(const std::string& shape, double peak, double floor, double x);

// Steps of the decay that ends at checkpoint index k of a wsd-s schedule (cycle length
// times decay_fraction, rounded to nearest).
int64_t wsds_decay_steps(const ScheduleParams& p, size_t k);

// True when `done` completed steps is one of the schedule's decayed checkpoints (wsd-s
// budgets; for wsd, the end of the run).
bool is_decayed_checkpoint(const ScheduleParams& p, int64_t done);

}  // namespace attnlab::train
