// A non-linear RNN mixer whose training form solves for all states at once by Newton
// iterations (DEER, Lim et al. 2024), with the diagonal (quasi-DEER) and damped (ELK,
// Gonzalez et al. 2024) variants. specs/methods.md §3; docs/MECHANISMS.md "deer_rnn".
//
// Module: x [B, T, C] -> u = x Win^T + bin [B, T, G, K*D] (K = 3 gates for gru, 1 for tanh)
//         h_t = f(h_{t-1}, u_t) per group g with a dense D x D recurrent matrix per gate,
//         y = h Wout^T [B, T, C].
// Cells:  tanh  h' = tanh(u + W h)
//         gru   z = sig(u_z + W_z h), r = sig(u_r + W_r h), n = tanh(u_n + r * (W_n h)),
//               h' = (1 - z) n + z h
// The three forms differ only in how the states h are computed from (u, W, h0):
//   ref.cpp        the sequential loop built from autograd ops (the definition);
//   parallel.cpp   Newton iterations, each a linear recurrence solved by a chunked
//                  associative scan; gradients by one reverse linear scan (deer_rnn_scan);
//   recurrent.cpp  one step at a time with the hidden state as the MixerState.
#pragma once
#include <string>

#include "attnlab/io/config_schema.h"
#include "attnlab/mixers/mixer.h"

namespace attnlab::mixers {

struct DeerRnnOptions {
  int64_t heads = 4;         // channel groups G
  int64_t head_dim = 0;      // state size D per group; 0: d_model / heads
  std::string cell = "gru";  // gru | tanh
  std::string jacobian = "full";  // full (DEER) | diagonal (quasi-DEER)
  double elk_sigma2 = 0;     // 0: undamped; > 0: ELK damping with observation noise sigma^2
  double tol_abs = 0;        // stop when |dh| <= tol_abs + tol_rel |h| everywhere;
  double tol_rel = 0;        // 0: 32 x the machine epsilon of the dtype
  int64_t max_iter = 0;      // 0: T (undamped Newton is exact after T iterations)
  int64_t scan_chunks = 0;   // chunks per sequence in the scan; 0: from threads and B * G

  void validate(int64_t d_model) const;

  template <class V>
  void visit(V& v) {
    v.field("heads", heads, "channel groups G (each has its own D x D recurrent matrices)", config::positive());
    v.field("head_dim", head_dim, "state size D per group (0: d_model / heads)", config::non_negative());
    v.choice("cell", cell, {"gru", "tanh"}, "recurrent cell");
    v.choice("jacobian", jacobian, {"full", "diagonal"},
             "Newton Jacobian: full (DEER, O(T D^3) work) or its diagonal (quasi-DEER, O(T D))");
    v.field("elk_sigma2", elk_sigma2,
            "ELK damping: observation noise sigma^2 of the Kalman view (0: off; large: DEER); diagonal only",
            config::non_negative());
    v.field("tol_abs", tol_abs, "absolute stopping tolerance on the Newton step (0: 32 eps of the dtype)",
            config::non_negative());
    v.field("tol_rel", tol_rel, "relative stopping tolerance on the Newton step (0: 32 eps of the dtype)",
            config::non_negative());
    v.field("max_iter", max_iter, "cap on Newton iterations (0: T; never more than T undamped)",
            config::non_negative());
    v.field("scan_chunks", scan_chunks, "chunks per sequence in the parallel scan (0: automatic)",
            config::non_negative());
    v.check(elk_sigma2 == 0 || jacobian == "diagonal", "elk_sigma2", "needs jacobian = \"diagonal\" (quasi-ELK)");
  }
};

// The hidden state carried between calls: h [B, G, D] after `len` tokens.
class DeerRnnState : public MixerState {
 public:
  int64_t length() const override { return len; }
  size_t bytes() const override { return h.defined() ? size_t(h.numel()) * dtype_size(h.dtype()) : 0; }
  Tensor h;
  int64_t len = 0;
};

enum class DeerCell { Tanh, Gru };
enum class DeerSolver { Newton, Sequential };

// How deer_rnn_scan solves for the states.
struct DeerSolve {
  DeerCell cell = DeerCell::Gru;
  DeerSolver solver = DeerSolver::Newton;
  bool diagonal = false;     // quasi-DEER
  double elk_sigma2 = 0;     // > 0: damped (diagonal only)
  double tol_abs = 0, tol_rel = 0;  // 0: 32 eps of the dtype
  int64_t max_iter = 0;      // 0: T
  int64_t chunks = 0;        // 0: automatic
};

// What the last solve did (for tests and benchmarks).
struct DeerStats {
  int64_t iterations = 0;    // linear solves performed (0 for the sequential solver)
  double last_delta = 0;     // max |h^(k+1) - h^(k)| of the last iteration
  bool converged = false;
};

int64_t deer_gates(DeerCell cell);  // K: 3 for gru, 1 for tanh

// The fused op: u [B, T, G, K*D], w [G, K*D, D], h0 [B, G, D] (undefined: zeros)
// -> h [B, T, G, D] with h_t = f(h_{t-1}, u_t). Differentiable in u, w and h0: the
// backward is one reverse linear scan with the Jacobians at the solution, then one
// vector-Jacobian product of f per step (no backpropagation through the iterations).
Tensor deer_rnn_scan(const Tensor& u, const Tensor& w, const Tensor& h0, const DeerSolve& solve,
                     DeerStats* stats = nullptr);

// The definition: the same recurrence as a loop of autograd ops.
Tensor deer_rnn_ref(const Tensor& u, const Tensor& w, const Tensor& h0, DeerCell cell);

class DeerRnn : public Mixer {
 public:
  DeerRnn(const DeerRnnOptions& opt, const MixerContext& ctx);
  Tensor forward(const Tensor& x, Form form, MixerState* state) override;
  std::unique_ptr<MixerState> make_state() const override { return std::make_unique<DeerRnnState>(); }
  bool supports(Form) const override { return true; }
  const DeerStats& last_stats() const { return stats_; }

 private:
  DeerRnnOptions opt_;
  DeerSolve solve_;
  int64_t d_model_, groups_, state_dim_;
  std::shared_ptr<model::Param> w_in_, b_in_, w_rec_, w_out_;
  DeerStats stats_;
};

// The recurrent form's core: one sequential step per token through deer_rnn_scan.
Tensor deer_rnn_recurrent(const Tensor& u, const Tensor& w, const Tensor& h0, DeerCell cell);

}  // namespace attnlab::mixers
