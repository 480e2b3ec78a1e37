#include "attnlab/ops/gradcases.h"

namespace attnlab::ops {

std::vector<autograd::GradCase> all_gradcases() {
  std::vector<autograd::GradCase> cases;
  add_elementwise_gradcases(cases);

  add_shape_gradcases(cases);

  add_attention_gradcases(cases);

  return cases;
}

}  // namespace attnlab::ops
