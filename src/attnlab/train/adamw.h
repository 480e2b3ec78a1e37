// AdamW (Loshchilov & Hutter) over the flat parameter and gradient buffers, with
// decoupled weight decay applied only to parameters marked for it (not norms, biases
// or embeddings unless configured). Moments live in two more flat buffers, so the whole
// optimizer state is three arrays and a step counter.
#pragma once
#include "attnlab/model/params.h"

namespace attnlab::train {

struct AdamWParams {
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8, weight_decay = 0.1;
};

class AdamW {
 public:
  AdamW(model::ParamStore& params, const AdamWParams& hp);
  // One update with learning rate `lr` from the gradients in the store's grad buffer.
  void step(double lr);
  int64_t steps_taken() const { return t_; }
  void set_steps_taken(int64_t t) { t_ = t; }
  Tensor& m() { return m_; }
  Tensor& v() { return v_; }

 private:
  model::ParamStore& params_;
  AdamWParams hp_;
  Tensor m_, v_;
  int64_t t_ = 0;
};

// Global L2 norm of the gradient buffer (accumulated in double, fixed order).
double grad_norm(model::ParamStore& params);
// Scales gradients so their global norm is at most max_norm; returns the norm before.
double clip_grad_norm(model::ParamStore& params, double max_norm);

}  // namespace attnlab::train
