// Central finite-difference gradient checks in float64 (DESIGN.md convention 4).
//
// The scalar checked is L = sum(out * W) with a fixed random W, so every output element
// contributes with a different weight. For each input with requires_grad, the analytic
// dL/dx from backward() is compared with (L(x + eps) - L(x - eps)) / (2 eps), element by
// element; the error reported is ||analytic - numeric|| / ||numeric||.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "attnlab/core/rng.h"
#include "attnlab/core/tensor.h"

namespace attnlab::autograd {

struct GradCase {
  std::string op;     // the op's name in ops::op_table()
  std::string label;  // what this case covers, e.g. "broadcast [3,1,5] + [4,5]"
  // Makes the float64 inputs; those to check have requires_grad set.
  std::function<std::vector<Tensor>(Rng&)> make_inputs;
  std::function<Tensor(const std::vector<Tensor>&)> fn;
  double eps = 1e-6;
  double tol = 1e-6;  // the bar: relative error below 1e-6
};

struct GradCheckResult {
  std::string op, label;
  double max_rel_error = 0;  // worst input
  int checked_inputs = 0;
  bool passed = false;
  std::string detail;  // which input failed and how, when it did
};

GradCheckResult gradcheck(const GradCase& c, uint64_t seed = 1234);

}  // namespace attnlab::autograd
