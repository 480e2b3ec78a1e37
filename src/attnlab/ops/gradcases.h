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
void add_rope_gradcases(std::vector<autograd::GradCase>& cases);  // position/rope.cpp
void add_conv_gradcases(std::vector<autograd::GradCase>& cases);
void add_dct_gradcases(std::vector<autograd::GradCase>& cases);
void add_matmul_gradcases(std::vector<autograd::GradCase>& cases);
void add_reduce_gradcases(std::vector<autograd::GradCase>& cases);
void add_softmax_gradcases(std::vector<autograd::GradCase>& cases);
void add_norm_gradcases(std::vector<autograd::GradCase>& cases);
void add_embedding_gradcases(std::vector<autograd::GradCase>& cases);
void add_loss_gradcases(std::vector<autograd::GradCase>& cases);
void add_mask_gradcases(std::vector<autograd::GradCase>& cases);
void add_attention_gradcases(std::vector<autograd::GradCase>& cases);
void add_emo_gradcases(std::vector<autograd::GradCase>& cases);  // ops/emo_loss.cpp
void add_kerple_gradcases(std::vector<autograd::GradCase>& cases);  // position/kerple.cpp
void add_linear_attention_gradcases(std::vector<autograd::GradCase>& cases);
void add_pool_gradcases(std::vector<autograd::GradCase>& cases);  // ops/pool.cpp

}  // namespace attnlab::ops
