// Update diagnostics (methods.md §6): how an optimizer step relates to the gradient and to
// the previous step, per parameter group and over the whole model.
//
// For vectors u, v split into blocks p (here: parameter groups), with local cosines
// c_p = cos(u_p, v_p) and weights w_p = |u_p||v_p| / (|u||v|), the global cosine is
//   C = cos(u, v) = sum_p w_p c_p,   and   W = sum_p w_p <= 1 (Cauchy-Schwarz over blocks),
// with W = 1 exactly when the block norm profiles (|u_p|)_p and (|v_p|)_p are proportional.
// Hence |C| <= W, and if every c_p >= c >= 0 then c W <= C <= W: large local cosines give a
// large global one only when W is near 1.
//
// metrics.jsonl keys (every train.diagnostics_every steps; <g> is a group name below):
//   upd_cos_grad, upd_cos_grad.<g>   cos(update, -gradient) (1: a plain SGD step)
//   upd_W_grad, upd_cos_grad_mean    W and the mean of the groups' local cosines
//   upd_cos_prev, upd_cos_prev.<g>   cos(update_t, update_{t-1}); absent on the first
//   upd_W_prev, upd_cos_prev_mean    diagnostic step after a start or a resume
//   upd_ratio, upd_ratio.<g>         |update| / |weights before it|
// The update is the whole change of the weights (AdamW step and decoupled weight decay);
// the gradient is the one the optimizer used (after clipping, which keeps its direction).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "attnlab/model/params.h"

namespace attnlab::train {

// Per-block sums of a pair of vectors: <u_p, v_p>, |u_p|^2, |v_p|^2.
struct BlockSums {
  std::vector<double> dot, uu, vv;
  explicit BlockSums(size_t blocks = 0) : dot(blocks, 0.0), uu(blocks, 0.0), vv(blocks, 0.0) {}
};

struct BlockCosine {
  std::vector<double> local;   // c_p; 0 where u_p or v_p is zero
  std::vector<double> weight;  // w_p
  double global = 0;           // C; 0 where u or v is zero
  double W = 0;                // sum of w_p
  double mean_local = 0;       // mean of c_p over the blocks
};

BlockCosine block_cosine(const BlockSums& s);

// The group of a parameter name: embed, head, mixer, mlp, norm, or other.
std::string parameter_group(const std::string& name);

class UpdateDiagnostics {
 public:
  // every = 0: off (every method is then a no-op).
  UpdateDiagnostics(model::ParamStore& params, int64_t every);
  bool enabled() const { return every_ > 0; }
  // Before the optimizer step that completes step `done`: keeps the weights if needed.
  void before_step(int64_t done);
  // After it: adds the diagnostic keys to `line` when `done` is a diagnostic step.
  void after_step(int64_t done, nlohmann::json& line);

 private:
  model::ParamStore& params_;
  int64_t every_;
  std::vector<std::string> group_names_;
  std::vector<size_t> group_of_param_;
  std::vector<double> before_;       // weights before the step, when kept
  std::vector<double> prev_update_;  // the update of step prev_done_
  int64_t kept_for_ = -1, prev_done_ = -1;
};

}  // namespace attnlab::train
