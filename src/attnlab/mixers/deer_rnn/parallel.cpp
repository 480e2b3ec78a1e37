// The training form: all T states at once by Newton iterations (DEER), each iteration a
// linear recurrence solved by the chunked associative scan of scan.h.
//
//   J_t = df/dh at (h^(k)_{t-1}, u_t)            (full, or its diagonal: quasi-DEER)
//   b_t = f(h^(k)_{t-1}, u_t) - J_t h^(k)_{t-1}
//   h^(k+1)_t = J_t h^(k+1)_{t-1} + b_t,  with J_1 = 0 and b_1 = f(h_0, u_1)
// After k iterations the first k states are exact (each step's linearisation point is
// exact once its predecessor is), so the loop stops after at most T iterations.
//
// ELK damping (diagonal only): the step is the Kalman filter mean of a model whose
// dynamics are the linearisation (process noise 1) and whose observations are the previous
// iterate with noise sigma^2 -- a per-channel gain K_t, so A'_t = (1 - K_t) J_t and
// b'_t = (1 - K_t) b_t + K_t h^(k)_t. Damped steps lose the T-step guarantee, so after T
// damped iterations the solver continues undamped (at most T more).
//
// Backward: lambda_t = g_t + J_{t+1}^T lambda_{t+1} by one reverse linear scan with the
// full Jacobians at the solution (also for quasi-DEER: the gradient is that of the exact
// fixed point), then the vector-Jacobian product of f at each step.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "attnlab/autograd/node.h"
#include "attnlab/mixers/deer_rnn/cell.h"
#include "attnlab/mixers/deer_rnn/deer_rnn.h"
#include "attnlab/mixers/deer_rnn/scan.h"

namespace attnlab::mixers {

int64_t deer_gates(DeerCell cell) { return cell == DeerCell::Gru ? 3 : 1; }

namespace {

struct Dims {
  int64_t B, T, G, D, K;
  int64_t seqs() const { return B * G; }
  // u [B, T, G, K*D] and h [B, T, G, D] addressed by sequence q = b * G + g and time t.
  int64_t u_at(int64_t q, int64_t t) const { return ((q / G * T + t) * G + q % G) * K * D; }
  int64_t h_at(int64_t q, int64_t t) const { return ((q / G * T + t) * G + q % G) * D; }
  int64_t w_at(int64_t q) const { return (q % G) * K * D * D; }
};

int64_t auto_chunks(const DeerSolve& s, const Dims& d) {
  if (s.chunks > 0) return std::min(s.chunks, d.T);
  // The chunked scan does extra work (forming the chunk pairs: D^3 per step for full
  // Jacobians), so it only pays where the sequences alone cannot keep the threads busy.
  int64_t threads = num_threads();
  if (d.seqs() >= threads) return 1;
  int64_t per_seq = (threads + d.seqs() - 1) / d.seqs();
  return std::max<int64_t>(1, std::min(per_seq, d.T / 64));
}

template <class S>
void sequential_solve(const Dims& d, DeerCell kind, const S* u, const S* w, const S* h0, S* h) {
  deer::Cell<S> cell{kind, d.D};
  parallel_for(0, d.seqs(), 1, [&](int64_t q0, int64_t q1) {
    std::vector<S> scratch(static_cast<size_t>(cell.scratch_size()));
    for (int64_t q = q0; q < q1; ++q)
      for (int64_t t = 0; t < d.T; ++t)
        cell.eval(w + d.w_at(q), t ? h + d.h_at(q, t - 1) : h0 + q * d.D, u + d.u_at(q, t), h + d.h_at(q, t),
                  nullptr, false, scratch.data());
  });
}

template <class S>
DeerStats newton_solve(const Dims& d, const DeerSolve& opt, const S* u, const S* w, const S* h0, S* h_out) {
  const int64_t D = d.D, T = d.T, Q = d.seqs(), AS = opt.diagonal ? D : D * D;
  deer::Cell<S> cell{opt.cell, D};
  const double eps = std::numeric_limits<S>::epsilon();
  const double tol_abs = opt.tol_abs > 0 ? opt.tol_abs : 32 * eps, tol_rel = opt.tol_rel > 0 ? opt.tol_rel : 32 * eps;
  const int64_t undamped_cap = opt.max_iter > 0 ? std::min(opt.max_iter, T) : T;
  std::vector<S> A(static_cast<size_t>(Q * T * AS)), bvec(static_cast<size_t>(Q * T * D));
  std::vector<S> cur(static_cast<size_t>(Q * T * D)), next(static_cast<size_t>(Q * T * D));
  std::vector<S> gain(opt.elk_sigma2 > 0 ? static_cast<size_t>(Q * T * D) : 0);
  // Initial guess: h0 broadcast over time (DEER's default).
  for (int64_t q = 0; q < Q; ++q)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t i = 0; i < D; ++i) cur[size_t((q * T + t) * D + i)] = h0[q * D + i];
  deer::LinearScan<S> scan;
  scan.seqs = Q, scan.n = T, scan.D = D, scan.diag = opt.diagonal, scan.chunks = auto_chunks(opt, d);
  scan.A = A.data(), scan.b = bvec.data(), scan.out = next.data();
  DeerStats stats;
  int64_t damped_left = opt.elk_sigma2 > 0 ? T : 0;
  const int64_t cap = undamped_cap + damped_left;
  int64_t undamped = 0;
  while (stats.iterations < cap) {
    const bool damped = damped_left > 0;
    // Linearise every step at the current iterate (independent over q and t).
    parallel_for(0, Q * T, 64, [&](int64_t w0, int64_t w1) {
      std::vector<S> scratch(static_cast<size_t>(cell.scratch_size())), f(static_cast<size_t>(D));
      for (int64_t k = w0; k < w1; ++k) {
        int64_t q = k / T, t = k % T;
        const S* hp = t ? cur.data() + (k - 1) * D : h0 + q * D;
        S* J = A.data() + k * AS;
        S* b = bvec.data() + k * D;
        cell.eval(w + d.w_at(q), hp, u + d.u_at(q, t), f.data(), J, opt.diagonal, scratch.data());
        for (int64_t i = 0; i < D; ++i) {
          S jh = 0;
          if (opt.diagonal) jh = J[i] * hp[i];
          else
            for (int64_t j = 0; j < D; ++j) jh += J[i * D + j] * hp[j];
          b[i] = t ? f[size_t(i)] - jh : f[size_t(i)];  // A_1 = 0: the first state is f(h0)
        }
      }
    });
    if (damped) {
      // Per channel: P^- = a^2 P + 1, K = P^- / (P^- + sigma^2), P = (1 - K) P^-, P_0 = 0.
      const S s2 = S(opt.elk_sigma2);
      parallel_for(0, Q * D, 16, [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c) {
          int64_t q = c / D, i = c % D;
          S P = 0;
          for (int64_t t = 0; t < T; ++t) {
            int64_t k = (q * T + t) * D + i;
            S a = t ? A[size_t(k)] : S(0);
            S Pm = a * a * P + 1, K = Pm / (Pm + s2);
            P = (1 - K) * Pm;
            A[size_t(k)] = (1 - K) * a;
            bvec[size_t(k)] = (1 - K) * bvec[size_t(k)] + K * cur[size_t(k)];
          }
        }
      });
      --damped_left;
    }
    scan.solve();
    ++stats.iterations;
    // Guard against blow-ups of intermediate iterates (DEER's clip to +-1e8, NaN -> 0);
    // safe because the exact prefix grows every iteration regardless.
    double worst = 0, delta = 0;
    for (size_t k = 0; k < next.size(); ++k) {
      S x = next[k];
      if (std::isnan(x)) x = 0;
      x = std::clamp(x, S(-1e8), S(1e8));
      next[k] = x;
      double dx = std::abs(double(x) - double(cur[k]));
      delta = std::max(delta, dx);
      worst = std::max(worst, dx / (tol_abs + tol_rel * std::abs(double(x))));
    }
    std::swap(cur, next);
    scan.out = next.data();
    stats.last_delta = delta;
    if (worst <= 1) {
      if (!damped) {
        stats.converged = true;
        break;
      }
      damped_left = 0;  // a damped step that stalls is not convergence: finish undamped
    }
    if (!damped) ++undamped;
  }
  if (undamped >= T) stats.converged = true;  // exact after T undamped iterations
  for (int64_t q = 0; q < Q; ++q)
    for (int64_t t = 0; t < T; ++t)
      std::copy_n(cur.data() + (q * T + t) * D, D, h_out + d.h_at(q, t));
  return stats;
}

template <class S>
void scan_backward(const Dims& d, DeerCell kind, int64_t chunks, const S* u, const S* w, const S* h0,
                   const S* h, const S* gh, S* gu, S* gw, S* gh0) {
  const int64_t D = d.D, T = d.T, Q = d.seqs(), KD = d.K * D;
  deer::Cell<S> cell{kind, D};
  auto hprev = [&](int64_t q, int64_t t) { return t ? h + d.h_at(q, t - 1) : h0 + q * D; };
  // The full Jacobians at the solution and the output gradient, per sequence.
  std::vector<S> J(static_cast<size_t>(Q * T * D * D)), g(static_cast<size_t>(Q * T * D));
  std::vector<S> lam(static_cast<size_t>(Q * T * D));
  parallel_for(0, Q * T, 64, [&](int64_t k0, int64_t k1) {
    std::vector<S> scratch(static_cast<size_t>(cell.scratch_size())), f(static_cast<size_t>(D));
    for (int64_t k = k0; k < k1; ++k) {
      int64_t q = k / T, t = k % T;
      cell.eval(w + d.w_at(q), hprev(q, t), u + d.u_at(q, t), f.data(), J.data() + k * D * D, false,
                scratch.data());
      std::copy_n(gh + d.h_at(q, t), D, g.data() + k * D);
    }
  });
  deer::LinearScan<S> scan;
  scan.seqs = Q, scan.n = T, scan.D = D, scan.reverse = true, scan.chunks = chunks;
  scan.A = J.data(), scan.b = g.data(), scan.out = lam.data();
  scan.solve();
  // Vector-Jacobian products of f; dW partial sums per sequence, added in a fixed order.
  std::vector<S> dW(gw ? static_cast<size_t>(Q * KD * D) : 0, S(0));
  parallel_for(0, Q, 1, [&](int64_t q0, int64_t q1) {
    std::vector<S> scratch(static_cast<size_t>(cell.scratch_size())), du(static_cast<size_t>(KD)),
        dh(static_cast<size_t>(D));
    for (int64_t q = q0; q < q1; ++q)
      for (int64_t t = 0; t < T; ++t) {
        cell.vjp(w + d.w_at(q), hprev(q, t), u + d.u_at(q, t), lam.data() + (q * T + t) * D, du.data(),
                 gw ? dW.data() + q * KD * D : nullptr, dh.data(), scratch.data());
        if (gu) std::copy_n(du.data(), KD, gu + d.u_at(q, t));
        if (t == 0 && gh0) std::copy_n(dh.data(), D, gh0 + q * D);
      }
  });
  if (gw) {
    std::fill_n(gw, d.G * KD * D, S(0));
    for (int64_t q = 0; q < Q; ++q)
      for (int64_t k = 0; k < KD * D; ++k) gw[(q % d.G) * KD * D + k] += dW[size_t(q * KD * D + k)];
  }
}

Dims check_dims(const Tensor& u, const Tensor& w, const Tensor& h0, DeerCell cell) {
  ATTNLAB_CHECK(w.dim() == 3 && w.size(1) % deer_gates(cell) == 0 && w.size(1) == deer_gates(cell) * w.size(2),
                "deer_rnn_scan: expected w [G, ", deer_gates(cell), "*D, D], got ", shape_str(w.shape()));
  Dims d{u.size(0), u.size(1), w.size(0), w.size(2), deer_gates(cell)};
  ATTNLAB_CHECK(u.dim() == 4 && u.size(2) == d.G && u.size(3) == d.K * d.D, "deer_rnn_scan: expected u [B, T, ",
                d.G, ", ", d.K * d.D, "], got ", shape_str(u.shape()));
  ATTNLAB_CHECK(!h0.defined() || h0.shape() == Shape({d.B, d.G, d.D}), "deer_rnn_scan: expected h0 [", d.B, ", ",
                d.G, ", ", d.D, "], got ", shape_str(h0.shape()));
  ATTNLAB_CHECK(u.dtype() == w.dtype() && (!h0.defined() || h0.dtype() == u.dtype()),
                "deer_rnn_scan: u, w and h0 must share a dtype");
  return d;
}

}  // namespace

Tensor deer_rnn_scan(const Tensor& u_in, const Tensor& w_in, const Tensor& h0_in, const DeerSolve& solve,
                     DeerStats* stats) {
  Dims d = check_dims(u_in, w_in, h0_in, solve.cell);
  ATTNLAB_CHECK(solve.elk_sigma2 == 0 || solve.diagonal, "deer_rnn_scan: ELK damping needs the diagonal Jacobian");
  Tensor u = u_in.contiguous().detach(), w = w_in.contiguous().detach();
  Tensor h0 = h0_in.defined() ? h0_in.contiguous().detach() : Tensor::zeros({d.B, d.G, d.D}, u.dtype());
  Tensor h = Tensor::empty({d.B, d.T, d.G, d.D}, u.dtype());
  DeerStats st;
  if (d.T > 0)
    dispatch_float(u.dtype(), "deer_rnn_scan", [&](auto tag) {
      using S = decltype(tag);
      if (solve.solver == DeerSolver::Sequential) sequential_solve<S>(d, solve.cell, u.data<S>(), w.data<S>(), h0.data<S>(), h.data<S>());
      else st = newton_solve<S>(d, solve, u.data<S>(), w.data<S>(), h0.data<S>(), h.data<S>());
    });
  if (stats) *stats = st;
  if (autograd::should_record({u_in, w_in, h0_in})) {
    bool need_u = u_in.requires_grad(), need_w = w_in.requires_grad();
    bool need_h0 = h0_in.defined() && h0_in.requires_grad();
    Tensor h_saved = h.detach();
    int64_t chunks = solve.solver == DeerSolver::Sequential ? 1 : auto_chunks(solve, d);
    DeerCell cell = solve.cell;
    autograd::record("deer_rnn_scan", {u_in, w_in, h0_in}, h,
                     [=](const Tensor& gy_in) {
      Tensor gy = gy_in.contiguous();
      Tensor gu = need_u ? Tensor::empty(u.shape(), u.dtype()) : Tensor();
      Tensor gw = need_w ? Tensor::empty(w.shape(), w.dtype()) : Tensor();
      Tensor gh0 = need_h0 ? Tensor::empty(h0.shape(), h0.dtype()) : Tensor();
      if (d.T > 0)
        dispatch_float(gy.dtype(), "deer_rnn_scan backward", [&](auto tag) {
          using S = decltype(tag);
          scan_backward<S>(d, cell, chunks, u.data<S>(), w.data<S>(), h0.data<S>(), h_saved.data<S>(),
                           gy.data<S>(), need_u ? gu.data<S>() : nullptr, need_w ? gw.data<S>() : nullptr,
                           need_h0 ? gh0.data<S>() : nullptr);
        });
      else {
        if (need_w) gw.zero();
        if (need_h0) gh0.zero();
      }
      return std::vector<Tensor>{gu, gw, gh0};
    });
  }
  return h;
}

}  // namespace attnlab::mixers
