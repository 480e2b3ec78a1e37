#include "attnlab/train/schedule.h"

#include <gtest/gtest.h>

#include <cmath>

#include "attnlab/core/error.h"

namespace attnlab::train {
namespace {

ScheduleParams params(const std::string& kind) {
  ScheduleParams p;
  p.kind = kind;
  p.peak = 1.0;
  p.floor = 0.1;
  p.warmup = 10;
  p.steps = 101;
  p.decay_fraction = 0.2;
  if (kind == "wsd-s") p.checkpoints = {40, 80, 101};
  return p;
}

std::string error_of(const ScheduleParams& p) {
  try {
    p.validate();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Schedule, WarmupRisesLinearlyToThePeak) {
  for (const char* kind : {"constant", "cosine", "wsd", "wsd-s"}) {
    ScheduleParams p = params(kind);
    for (int64_t s = 0; s < p.warmup; ++s) {
      EXPECT_NEAR(learning_rate(p, s), double(s + 1) / double(p.warmup + 1), 1e-15) << kind << " " << s;
      EXPECT_LT(learning_rate(p, s), learning_rate(p, s + 1)) << kind;
    }
    EXPECT_DOUBLE_EQ(learning_rate(p, p.warmup), 1.0) << kind;
  }
}

TEST(Schedule, CosineEndsAtTheFloorAndDecreases) {
  ScheduleParams p = params("cosine");
  EXPECT_NEAR(learning_rate(p, p.steps), p.floor, 1e-12);
  for (int64_t s = p.warmup; s < p.steps; ++s) EXPECT_GE(learning_rate(p, s), learning_rate(p, s + 1));
  // halfway through the decay: the mean of peak and floor
  int64_t mid = p.warmup + (p.steps - p.warmup) / 2;
  double u = double(mid - p.warmup) / double(p.steps - p.warmup);
  EXPECT_NEAR(learning_rate(p, mid), 0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI * u)), 1e-12);
}

TEST(Schedule, DecayShapesMatchHandComputedValues) {
  // peak 2, floor 0.5: rho = 1/4.
  const double peak = 2, floor = 0.5;
  EXPECT_DOUBLE_EQ(decayed_rate("linear", peak, floor, 0.25), 2 * (0.25 + 0.75 * 0.75));        // 1.625
  EXPECT_NEAR(decayed_rate("cosine", peak, floor, 0.5), 2 * (0.25 + 0.75 * 0.5), 1e-15);          // 1.25
  EXPECT_DOUBLE_EQ(decayed_rate("1-sqrt", peak, floor, 0.25), 2 * (0.25 + 0.75 * 0.5));           // 1.25
  EXPECT_DOUBLE_EQ(decayed_rate("exponential", peak, floor, 0.5), 1.0);                          // 2 * sqrt(1/4)
  EXPECT_DOUBLE_EQ(decayed_rate("inverse-proportional", peak, floor, 0.5), 2.0 / (1 + 0.5 * 3));  // 0.8
  for (const char* shape : {"linear", "cosine", "1-sqrt", "exponential", "inverse-proportional"}) {
    EXPECT_NEAR(decayed_rate(shape, peak, floor, 0.0), peak, 1e-15) << shape;
    EXPECT_NEAR(decayed_rate(shape, peak, floor, 1.0), floor, 1e-15) << shape;
    for (int i = 0; i < 10; ++i)
      EXPECT_GT(decayed_rate(shape, peak, floor, i / 10.0), decayed_rate(shape, peak, floor, (i + 1) / 10.0)) << shape;
  }
  // inverse-proportional: 1 / rate is linear in x.
  double a = 1 / decayed_rate("inverse-proportional", peak, floor, 0.2);
  double b = 1 / decayed_rate("inverse-proportional", peak, floor, 0.6);
  double c = 1 / decayed_rate("inverse-proportional", peak, floor, 1.0);
  EXPECT_NEAR(b - a, c - b, 1e-14);
}

TEST(Schedule, WsdIsStableThenDecaysOverTheLastFractionToTheFloor) {
  for (const char* shape : {"linear", "cosine", "1-sqrt", "exponential", "inverse-proportional"}) {
    ScheduleParams p = params("wsd");
    p.decay_shape = shape;
    int64_t decay_steps = std::llround(p.decay_fraction * double(p.steps));  // 20
    int64_t start = p.steps - decay_steps;
    for (int64_t s = p.warmup; s < start; ++s) EXPECT_DOUBLE_EQ(learning_rate(p, s), 1.0) << shape;
    EXPECT_LT(learning_rate(p, start), 1.0) << shape;
    EXPECT_NEAR(learning_rate(p, p.steps - 1), p.floor, 1e-12) << shape << ": the last step is at the floor";
    for (int64_t s = start; s + 1 < p.steps; ++s) EXPECT_GT(learning_rate(p, s), learning_rate(p, s + 1)) << shape;
  }
  // Hand-computed: 20 decay steps from step 81; step 85 is the 5th, x = 1/4.
  ScheduleParams p = params("wsd");
  p.decay_shape = "1-sqrt";
  EXPECT_DOUBLE_EQ(learning_rate(p, 85), 0.1 + 0.9 * 0.5);
  p.decay_shape = "linear";
  EXPECT_DOUBLE_EQ(learning_rate(p, 90), 0.1 + 0.9 * 0.5);  // 10th of 20
  EXPECT_TRUE(is_decayed_checkpoint(p, 101));
  EXPECT_FALSE(is_decayed_checkpoint(p, 100));
}

TEST(Schedule, WsdsDecaysBeforeEveryCheckpointAndReturnsToThePeak) {
  ScheduleParams p = params("wsd-s");  // checkpoints 40, 80, 101; cycles of 40, 40, 21 steps
  p.decay_shape = "linear";
  EXPECT_EQ(wsds_decay_steps(p, 0), 8);
  EXPECT_EQ(wsds_decay_steps(p, 1), 8);
  EXPECT_EQ(wsds_decay_steps(p, 2), 4);  // round(0.2 * 21)
  // Cycle 1: stable on [10, 32), decay on steps 32..39 with x = 1/8 .. 8/8.
  for (int64_t s = 10; s < 32; ++s) EXPECT_EQ(learning_rate(p, s), 1.0) << s;
  for (int64_t i = 1; i <= 8; ++i)
    EXPECT_DOUBLE_EQ(learning_rate(p, 31 + i), 0.1 + 0.9 * (1 - double(i) / 8)) << i;
  EXPECT_DOUBLE_EQ(learning_rate(p, 39), 0.1);
  // Straight back to the peak: no re-warmup.
  EXPECT_EQ(learning_rate(p, 40), 1.0);
  for (int64_t s = 40; s < 72; ++s) EXPECT_EQ(learning_rate(p, s), 1.0) << s;
  EXPECT_DOUBLE_EQ(learning_rate(p, 75), 0.1 + 0.9 * (1 - 4.0 / 8));
  EXPECT_DOUBLE_EQ(learning_rate(p, 79), 0.1);
  EXPECT_EQ(learning_rate(p, 80), 1.0);
  // Last cycle: 4 decay steps, 97..100.
  EXPECT_EQ(learning_rate(p, 96), 1.0);
  EXPECT_DOUBLE_EQ(learning_rate(p, 97), 0.1 + 0.9 * 0.75);
  EXPECT_DOUBLE_EQ(learning_rate(p, 100), 0.1);
  for (int64_t done : {40, 80, 101}) EXPECT_TRUE(is_decayed_checkpoint(p, done)) << done;
  for (int64_t done : {39, 41, 100}) EXPECT_FALSE(is_decayed_checkpoint(p, done)) << done;
  // The exponential shape in a cycle: rate = rho^x.
  p.decay_shape = "exponential";
  EXPECT_NEAR(learning_rate(p, 35), std::pow(0.1, 4.0 / 8), 1e-15);
}

TEST(Schedule, ExtendingAWsdsRunNeverChangesEarlierRates) {
  for (const char* shape : {"linear", "cosine", "1-sqrt", "exponential", "inverse-proportional"}) {
    ScheduleParams shorter = params("wsd-s");
    shorter.decay_shape = shape;
    shorter.steps = 80;
    shorter.checkpoints = {40, 80};
    ScheduleParams longer = shorter;
    longer.steps = 400;
    longer.checkpoints = {40, 80, 160, 300, 400};
    ASSERT_EQ(error_of(shorter), "");
    ASSERT_EQ(error_of(longer), "");
    for (int64_t s = 0; s < shorter.steps; ++s)
      EXPECT_EQ(learning_rate(shorter, s), learning_rate(longer, s)) << shape << " step " << s;
    // And a run planned further than its last budget is at the peak after it, whatever comes later.
    ScheduleParams open = longer;
    open.checkpoints = {40, 80, 160};
    for (int64_t s = 0; s < 160; ++s) EXPECT_EQ(learning_rate(open, s), learning_rate(longer, s)) << shape << s;
    EXPECT_EQ(learning_rate(open, 299), 1.0);
  }
}

TEST(Schedule, IsAPureFunctionOfTheStep) {
  for (const char* kind : {"wsd", "wsd-s"}) {
    ScheduleParams p = params(kind);
    double first = learning_rate(p, 77);
    for (int64_t s = 0; s < p.steps; ++s) learning_rate(p, s);
    EXPECT_EQ(learning_rate(p, 77), first) << kind;
  }
}

TEST(Schedule, BadParametersAreErrorsNamingTheKey) {
  ScheduleParams p = params("cosine");
  p.kind = "linear-warmup";
  EXPECT_NE(error_of(p).find("train.schedule"), std::string::npos);
  p = params("wsd");
  p.decay_shape = "sqrt";
  EXPECT_NE(error_of(p).find("train.decay_shape"), std::string::npos) << error_of(p);
  p = params("cosine");
  p.floor = 2.0;
  EXPECT_NE(error_of(p).find("train.lr_floor"), std::string::npos);
  p = params("wsd-s");
  p.checkpoints = {};
  EXPECT_NE(error_of(p).find("train.decay_checkpoints"), std::string::npos);
  p.checkpoints = {40, 40, 101};
  EXPECT_NE(error_of(p).find("increasing"), std::string::npos) << error_of(p);
  p.checkpoints = {40, 200};
  EXPECT_NE(error_of(p).find("past train.steps"), std::string::npos) << error_of(p);
  p.checkpoints = {12, 101};  // its decay (2 steps) would start at step 10: fine
  EXPECT_EQ(error_of(p), "");
  p.checkpoints = {11, 101};  // decay starts at 9, inside the warmup
  EXPECT_NE(error_of(p).find("train.warmup"), std::string::npos) << error_of(p);
  p = params("wsd-s");
  p.decay_shape = "exponential";
  p.floor = 0;
  EXPECT_NE(error_of(p).find("train.lr_floor > 0"), std::string::npos) << error_of(p);
  p = params("wsd");
  p.checkpoints = {50};
  EXPECT_NE(error_of(p).find("train.decay_checkpoints"), std::string::npos) << error_of(p);
}

}  // namespace
}  // namespace attnlab::train
