// DiJiang: linear attention with a DCT feature map (Chen et al., ICML'24;
// YuchuanTian/DiJiang, modeling_gpt_neox_dijiang.py).
//
// Module: x [B, T, C] -> q, k [B, H, T, D], v [B, H, T, D] (RoPE on q and k as the teacher);
//         phi(x) = softmax over features of x P,  P = C diag(w), C the orthonormal DCT-II
//         matrix, w frozen frequencies (plain normal draws as the released code, or
//         quasi-Monte-Carlo points as the paper);
//   stable decay (default):  o_i = sum_{j<=i} gamma_h^(i-j) phi(q_i) . phi(k_j) v_j, with
//         gamma_h = 1 - exp(linspace(ln 1/32, ln 1/512, H)_h), learnable through
//         theta_h = log(-log gamma_h) or fixed; computed by the decayed kernel, any length;
//   original decay:  o_i = D1[h, i] phi(q_i) . sum_{j<=i} D2[h, j] phi(k_j) v_j with learnable
//         per-position D1 = gamma^i, D2 = gamma^-j (the released parametrisation), defined
//         for original_positions positions only: beyond them it stops with an error;
//   y = Wo (swish(x Wg^T) * GroupNorm(o)).
// The forms differ only in the decayed core (mixers/decayed_core.h): ref (T x T), parallel
// (chunkwise), recurrent (token by token).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "attnlab/io/config_schema.h"
#include "attnlab/mixers/decayed_core.h"
#include "attnlab/position/rope.h"

namespace attnlab::mixers {

struct DijiangOptions {
  int64_t heads = 4;
  int64_t head_dim = 0;  // 0: d_model / heads
  std::string position = "rope";    // nope | rope
  double rope_base = 10000.0;
  std::string rope_style = "half";  // half | interleaved
  int64_t rotary_dim = 0;           // 0: the whole head (Pythia rotates 25%)
  std::string features = "random";  // random | qmc
  int64_t feature_seed = 0;
  std::string decay = "stable";     // stable | original
  bool decay_learnable = true;
  int64_t original_positions = 2048;
  int64_t norm_groups = 0;          // 0: one group per head
  double norm_eps = 1e-5;
  int64_t chunk = 32;  // docs/BENCHMARKS.md "Decayed linear attention"

  void validate(int64_t d_model) const;

  template <class V>
  void visit(V& v) {
    v.field("heads", heads, "heads H", config::positive());
    v.field("head_dim", head_dim, "head dimension D = feature dimension (0: d_model / heads)", config::non_negative());
    v.choice("position", position, {"nope", "rope"}, "position scheme applied to q and k before the feature map");
    v.field("rope_base", rope_base, "RoPE base b", config::number_rule("must be > 1", [](double x) { return x > 1; }));
    v.choice("rope_style", rope_style, {"half", "interleaved"}, "RoPE pairing: half-split (NeoX) or interleaved (GPT-J)");
    v.field("rotary_dim", rotary_dim, "features rotated by RoPE (0: all; even)", config::non_negative());
    v.choice("features", features, {"random", "qmc"},
             "frequencies w of P = C diag(w): normal draws (released code) or quasi-Monte-Carlo points (paper)");
    v.field("feature_seed", feature_seed, "seed of w (P is frozen and regenerated from it, not saved)",
            config::non_negative());
    v.choice("decay", decay, {"stable", "original"},
             "stable gamma^(i-j) (any length) or the released per-position D1/D2 (original_positions only)");
    v.field("decay_learnable", decay_learnable, "stable decay: learn gamma_h through theta_h = log(-log gamma_h)");
    v.field("original_positions", original_positions, "decay = \"original\": positions with D1/D2 factors",
            config::positive());
    v.field("norm_groups", norm_groups, "GroupNorm groups over H * D channels (0: H)", config::non_negative());
    v.field("norm_eps", norm_eps, "GroupNorm epsilon", config::positive());
    v.field("chunk", chunk, "rows per chunk of the parallel form", config::positive());
  }
};

// gamma_h = 1 - exp(linspace(ln 1/32, ln 1/512, H)_h) (the released code's schedule).
std::vector<double> dijiang_gammas(int64_t heads);
// P = C diag(w) [D, D] in float64, row-major: C[k][n] the orthonormal DCT-II basis, w from
// `features` ("random": w ~ N(0, 1); "qmc": w = Phi^-1(u), u a randomly shifted van der
// Corput sequence), drawn from (seed, layer).
std::vector<double> dijiang_feature_matrix(int64_t D, const std::string& features, uint64_t seed, int64_t layer);

// The core in each form.
Tensor dijiang_core_ref(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& lg, DecayedState* st);
Tensor dijiang_core_parallel(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& lg, int64_t chunk,
                             DecayedState* st);
Tensor dijiang_core_recurrent(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& lg, DecayedState* st);

class Dijiang : public Mixer {
 public:
  Dijiang(const DijiangOptions& opt, const MixerContext& ctx);
  Tensor forward(const Tensor& x, Form form, MixerState* state) override;
  std::unique_ptr<MixerState> make_state() const override { return std::make_unique<DecayedState>(); }
  bool supports(Form) const override { return true; }

 private:
  Tensor feature_map(const Tensor& x) const;  // softmax(x P) over the last dimension
  DijiangOptions opt_;
  int64_t d_model_, heads_, head_dim_, groups_;
  std::vector<double> gammas_, feature_matrix_;
  position::RopeParams rope_;
  std::shared_ptr<model::Param> wq_, wk_, wv_, wg_, wo_, norm_w_, norm_b_;
  std::shared_ptr<model::Param> decay_theta_;  // [H], stable + learnable
  std::shared_ptr<model::Param> d1_, d2_;      // [H, original_positions], original
};

}  // namespace attnlab::mixers
