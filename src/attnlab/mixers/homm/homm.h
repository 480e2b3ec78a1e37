// HoMM: high-order moments as a token mixer (David Picard, davidpicard/HoMM,
// src/model/network/layers.py `HoM`), causal, as specs/mechanisms.md §6 describes it.
//
// Module, with d = d_model, k = order, e = expand, F = k * e * d:
//   h = x W_ho^T + b_ho                        [B, T, F]
//   g = gelu(h) = [g_1 | ... | g_k]            k groups of e * d features
//   m_1 = g_1, m_j = m_{j-1} * g_j             products of groups (moments of order j)
//   M = [m_1 | ... | m_k]                      [B, T, F]
//   R_t = (1 / t) * sum_{s <= t} M_s           causal mean: running sum / count
//   y = (sigmoid(x W_se^T + b_se) * R) W_ag^T + b_ag    [B, T, d]
// The projections, the moments and the selection are shared by the three forms; only the
// causal mean R differs:
//   ref.cpp        the dense T x T lower-triangular mask of ones, a matrix product, / count;
//   parallel.cpp   a cumulative sum over tokens (ops::cumsum, accumulated in double);
//   recurrent.cpp  one token at a time: S <- S + M_t, R_t = S / t.
// The state is the running sum S [B, F] (float64 whatever the compute dtype, so a million
// tokens lose nothing) and the count: k * e * d numbers per sequence and layer,
// independent of the length.
#pragma once
#include <memory>

#include "attnlab/io/config_schema.h"
#include "attnlab/mixers/mixer.h"

namespace attnlab::mixers {

struct HommOptions {
  int64_t order = 2;   // k (the released HLM models use k = e = 2)
  int64_t expand = 2;  // e
  bool bias = true;    // the reference code's projections have biases

  void validate() const;

  template <class V>
  void visit(V& v) {
    v.field("order", order, "order k: products of 1..k gelu groups (moments up to order k)",
            config::in_range(1, 8));
    v.field("expand", expand, "expansion e: each group has e * d_model features", config::in_range(1, 16));
    v.field("bias", bias, "biases on the three projections (ho_proj, se_proj, ag_proj)");
  }
};

// The running sum of the moments over every token seen, and their count.
class HommState : public MixerState {
 public:
  int64_t length() const override { return len; }
  size_t bytes() const override { return sum.defined() ? size_t(sum.numel()) * sizeof(double) : 0; }
  Tensor sum;  // [B, F] float64; undefined until the first call
  int64_t len = 0;
};

// ---- the causal mean in each form: M [B, T, F] -> R [B, T, F] (M's dtype) ----
// With a state (`prev` non-null and prev->len > 0), earlier tokens contribute prev->sum
// and the count starts at prev->len. None of these update the state (see homm.cpp).
Tensor homm_mean_ref(const Tensor& m, const HommState* prev);
Tensor homm_mean_parallel(const Tensor& m, const HommState* prev);
// Updates `state` in place (values only; gradients do not cross calls).
Tensor homm_mean_recurrent(const Tensor& m, HommState& state);

// The state after the tokens of m: sum += sum over tokens of m (in double), len += T.
void homm_state_add(HommState& state, const Tensor& m);
// 1 / (start + t + 1) for t < T, as [1, T, 1] in `dtype`.
Tensor homm_inverse_counts(int64_t start, int64_t T, DType dtype);

class Homm : public Mixer {
 public:
  Homm(const HommOptions& opt, const MixerContext& ctx);
  Tensor forward(const Tensor& x, Form form, MixerState* state) override;
  std::unique_ptr<MixerState> make_state() const override { return std::make_unique<HommState>(); }
  bool supports(Form) const override { return true; }
  int64_t features() const { return features_; }  // F = k * e * d

 private:
  HommOptions opt_;
  int64_t d_model_, features_;
  std::shared_ptr<model::Param> w_ho_, b_ho_, w_se_, b_se_, w_ag_, b_ag_;
};

}  // namespace attnlab::mixers
