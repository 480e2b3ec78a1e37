#include "attnlab/ops/gradcases.h"

namespace attnlab::ops {

std::vector<autograd::GradCase> all_gradcases() {
  std::vector<autograd::GradCase> cases;
  add_elementwise_gradcases(cases);

  add_shape_gradcases(cases);
  add_rope_gradcases(cases);

  add_conv_gradcases(cases);

  add_dct_gradcases(cases);

  add_matmul_gradcases(cases);

  add_reduce_gradcases(cases);

  add_softmax_gradcases(cases);

  add_norm_gradcases(cases);
  add_embedding_gradcases(cases);
  add_loss_gradcases(cases);
  add_mask_gradcases(cases);

  add_attention_gradcases(cases);
  add_kerple_gradcases(cases);

  add_emo_gradcases(cases);

  add_linear_attention_gradcases(cases);

  add_pool_gradcases(cases);

  return cases;
}

}  // namespace attnlab::ops
