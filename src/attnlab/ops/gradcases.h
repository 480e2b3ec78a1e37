// Gradient-check cases for the ops in op_table(). Each op family file defines its
// add_<family>_gradcases(); gradcases.cpp collects them into one list that the unit
// tests and `attnlab gradcheck` walk.
#pragma once
#include <vector>

#include "attnlab/autograd/gradcheck.h"

namespace attnlab::ops {

std::vector<autograd::GradCase> all_gradcases();

// One per family, defined at the bottom of ops/<family>.cpp.
void add_elementwise_gradcases(std::vector<autograd::GradCase>& cases);
void add_shape_gradcases(std::vector<autograd::GradCase>& cases);
void add_attention_gradcases(std::vector<autograd::GradCase>& cases);

}  // namespace attnlab::ops
