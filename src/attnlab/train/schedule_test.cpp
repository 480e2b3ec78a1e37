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
  return p;
}

TEST(Schedule, WarmupRisesLinearlyToThePeak) {
  for (const char* kind : {"constant", "cosine", "wsd"}) {
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

TEST(Schedule, WsdIsStableThenDecaysOverTheLastFractionToTheFloor) {
  for (const char* shape : {"linear", "cosine", "1-sqrt"}) {
    ScheduleParams p = params("wsd");
    p.decay_shape = shape;
    int64_t decay_steps = std::llround(p.decay_fraction * double(p.steps));  // 20
    int64_t start = p.steps - decay_steps;
    for (int64_t s = p.warmup; s < start; ++s) EXPECT_DOUBLE_EQ(learning_rate(p, s), 1.0) << shape;
    EXPECT_LT(learning_rate(p, start), 1.0) << shape;
    EXPECT_NEAR(learning_rate(p, p.steps - 1), p.floor, 1e-12) << shape << ": the last step is at the floor";
    for (int64_t s = start; s + 1 < p.steps; ++s) EXPECT_GT(learning_rate(p, s), learning_rate(p, s + 1)) << shape;
  }
  EXPECT_DOUBLE_EQ(decay_shape_factor("1-sqrt", 0.25), 0.5);
  EXPECT_DOUBLE_EQ(decay_shape_factor("linear", 0.25), 0.75);
  EXPECT_NEAR(decay_shape_factor("cosine", 0.5), 0.5, 1e-15);
}

TEST(Schedule, IsAPureFunctionOfTheStep) {
  ScheduleParams p = params("wsd");
  double first = learning_rate(p, 57);
  for (int64_t s = 0; s < p.steps; ++s) learning_rate(p, s);
  EXPECT_EQ(learning_rate(p, 57), first);
}

TEST(Schedule, BadParametersAreErrorsNamingTheKey) {
  ScheduleParams p = params("cosine");
  p.kind = "linear-warmup";
  EXPECT_THROW(p.validate(), Error);
  p = params("wsd");
  p.decay_shape = "sqrt";
  try {
    p.validate();
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("train.decay_shape"), std::string::npos) << e.what();
  }
  p = params("cosine");
  p.floor = 2.0;
  EXPECT_THROW(p.validate(), Error);
}

}  // namespace
}  // namespace attnlab::train
