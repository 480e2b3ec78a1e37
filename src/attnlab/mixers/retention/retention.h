// Multi-scale retention (RetNet; microsoft/torchscale component/multiscale_retention.py).
//
// Module: x [B, T, C] -> q = x Wq^T, k = x Wk^T [B, H, T, D], v = x Wv^T [B, H, T, Dv];
//         q, k rotated (interleaved pairs, theta_i = base^(-i/(D/2-1)) as torchscale's
//         linspace); k scaled by D^-1/2;
//         o_i = sum_{j<=i} gamma_h^(i-j) (q_i . k_j) v_j / sqrt(c_i),  gamma_h = 1 - 2^(-5-h),
//         c_i = sum_{m=0}^{p_i} gamma_h^m (p_i the absolute position; torchscale's recurrent
//         normalisation, the same scalar in every form);
//         y = Wo (swish(x Wg^T) * RMSNorm_per_head(o)).
// The decayed core is ops::decayed_linear_attention (mixers/decayed_core.h); the three
// forms differ only there:
//   ref.cpp        explicit T x T decay matrix (autograd ops);
//   parallel.cpp   the chunkwise kernel;
//   recurrent.cpp  S <- gamma S + k^T v, one token at a time.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "attnlab/io/config_schema.h"
#include "attnlab/mixers/decayed_core.h"
#include "attnlab/position/rope.h"

namespace attnlab::mixers {

struct RetentionOptions {
  int64_t heads = 4;
  int64_t head_dim = 0;        // 0: d_model / heads
  int64_t value_head_dim = 0;  // 0: head_dim (torchscale uses 2 x head_dim)
  bool rotary = true;
  double rope_base = 10000.0;
  std::string rope_style = "interleaved";      // torchscale rotates adjacent pairs
  std::string rope_frequencies = "torchscale";  // torchscale | standard (base^(-2i/D), a converted softmax teacher's)
  bool decay_learnable = false;  // RetNet's decays are fixed
  bool decay_normalize = true;   // divide by sqrt(sum of decays so far), as torchscale's recurrent form
  double norm_eps = 1e-5;
  int64_t chunk = 32;  // docs/BENCHMARKS.md "Decayed linear attention"

  void validate(int64_t d_model) const;

  template <class V>
  void visit(V& v) {
    v.field("heads", heads, "heads H (gamma_h = 1 - 2^(-5-h))", config::positive());
    v.field("head_dim", head_dim, "query/key head dimension D (0: d_model / heads)", config::non_negative());
    v.field("value_head_dim", value_head_dim, "value head dimension Dv (0: head_dim)", config::non_negative());
    v.field("rotary", rotary, "rotate q and k (interleaved pairs, torchscale's frequencies)");
    v.field("rope_base", rope_base, "rotary base b (theta_i = b^(-i/(D/2-1)))",
            config::number_rule("must be > 1", [](double x) { return x > 1; }));
    v.choice("rope_style", rope_style, {"half", "interleaved"}, "rotary pairing: half-split (NeoX) or interleaved (torchscale)");
    v.choice("rope_frequencies", rope_frequencies, {"torchscale", "standard"},
             "theta_i = b^(-i/(D/2-1)) (torchscale's linspace) or b^(-2i/D) (RoPE as the softmax mixer)");
    v.field("decay_learnable", decay_learnable, "learn gamma_h through theta_h = log(-log gamma_h)");
    v.field("decay_normalize", decay_normalize, "divide o_i by sqrt(sum_{m<=i} gamma^m) (cancels in the norm up to eps)");
    v.field("norm_eps", norm_eps, "epsilon of the per-head RMSNorm", config::positive());
    v.field("chunk", chunk, "rows per chunk of the parallel form", config::positive());
  }
};

// The core in each form (decayed_core with that form).
Tensor retention_core_ref(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& lg, DecayedState* st);
Tensor retention_core_parallel(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& lg, int64_t chunk,
                               DecayedState* st);
Tensor retention_core_recurrent(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& lg,
                                DecayedState* st);

// gamma_h = 1 - 2^(-5-h), h = 0 .. H-1.
std::vector<double> retention_gammas(int64_t heads);

class Retention : public Mixer {
 public:
  Retention(const RetentionOptions& opt, const MixerContext& ctx);
  Tensor forward(const Tensor& x, Form form, MixerState* state) override;
  std::unique_ptr<MixerState> make_state() const override { return std::make_unique<DecayedState>(); }
  bool supports(Form) const override { return true; }

 private:
  Tensor log_gamma(DType dtype) const;
  RetentionOptions opt_;
  int64_t d_model_, heads_, head_dim_, value_dim_;
  std::vector<double> gammas_;
  position::RopeParams rope_;
  std::shared_ptr<model::Param> wq_, wk_, wv_, wg_, wo_;
  std::shared_ptr<model::Param> decay_theta_;  // [H], only with decay_learnable
};

}  // namespace attnlab::mixers
