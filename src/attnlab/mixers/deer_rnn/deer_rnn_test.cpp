// Properties of the DEER solver beyond the registry's form-vs-ref checks: Newton equals
// the sequential loop on random cells (including strongly non-linear ones) at odd lengths;
// the iteration count never exceeds T and k iterations make the first k states exact;
// the hand-written backward against finite differences and against autograd through the
// reference loop; ELK damping; long float32 runs stay finite; option errors.
#include <gtest/gtest.h>

#include <cmath>

#include "attnlab/autograd/gradcheck.h"
#include "attnlab/autograd/node.h"
#include "attnlab/core/rng.h"
#include "attnlab/mixers/deer_rnn/deer_rnn.h"
#include "attnlab/mixers/deer_rnn/scan.h"
#include "attnlab/ops/ops.h"
#include "harness/assert_close.h"
#include "harness/mixer_fixture.h"

namespace attnlab::mixers {
namespace {

struct Problem {
  Tensor u, w, h0;
};

// Random cell: u ~ N(0, u_std), w ~ N(0, w_std / sqrt(D)), h0 ~ U(-0.5, 0.5).
Problem random_problem(DeerCell cell, int64_t B, int64_t T, int64_t G, int64_t D, double w_std, uint64_t seed,
                       DType dt = DType::F64, double u_std = 1.0) {
  Rng rng(seed);
  int64_t K = deer_gates(cell);
  Problem p;
  p.u = Tensor::randn({B, T, G, K * D}, rng, dt, u_std);
  p.w = Tensor::randn({G, K * D, D}, rng, dt, w_std / std::sqrt(double(D)));
  p.h0 = Tensor::uniform({B, G, D}, rng, -0.5, 0.5, dt);
  return p;
}

Tensor sequential(const Problem& p, DeerCell cell) {
  DeerSolve s;
  s.cell = cell;
  s.solver = DeerSolver::Sequential;
  return deer_rnn_scan(p.u, p.w, p.h0, s);
}

struct SolverCase {
  DeerCell cell;
  bool diagonal;
  int64_t chunks;
  double elk_sigma2;
};

const SolverCase kCases[] = {
    {DeerCell::Gru, false, 1, 0},  {DeerCell::Tanh, false, 1, 0}, {DeerCell::Gru, true, 1, 0},
    {DeerCell::Tanh, true, 1, 0},  {DeerCell::Gru, false, 7, 0},  {DeerCell::Tanh, true, 5, 0},
    {DeerCell::Gru, true, 3, 1.0}, {DeerCell::Tanh, true, 1, 1e8},
};

DeerSolve solve_of(const SolverCase& c) {
  DeerSolve s;
  s.cell = c.cell;
  s.diagonal = c.diagonal;
  s.chunks = c.chunks;
  s.elk_sigma2 = c.elk_sigma2;
  return s;
}

std::string label(const SolverCase& c) {
  return cat(c.cell == DeerCell::Gru ? "gru" : "tanh", c.diagonal ? " diagonal" : " full", " chunks=", c.chunks,
             " sigma2=", c.elk_sigma2);
}

// The chunked scan against the plain loop, forward and reverse (transposed), full and diagonal.
TEST(DeerRnn, ChunkedScanEqualsTheLoop) {
  for (bool diag : {false, true})
    for (bool reverse : {false, true})
      for (int64_t n : {1, 2, 7, 50})
        for (int64_t P : {2, 3, 7}) {
          const int64_t Q = 3, D = 4, AS = diag ? D : D * D;
          Rng rng(uint64_t(n * 10 + P));
          std::vector<double> A(size_t(Q * n * AS)), b(size_t(Q * n * D)), want(b.size()), got(b.size());
          rng.fill_normal(A.data(), int64_t(A.size()), 0.0, 0.5);
          rng.fill_normal(b.data(), int64_t(b.size()), 0.0, 1.0);
          // the loop: forward out_t = A_t out_{t-1} + b_t; reverse out_t = A_{t+1}^T out_{t+1} + b_t
          for (int64_t q = 0; q < Q; ++q)
            for (int64_t k = 0; k < n; ++k) {
              int64_t t = reverse ? n - 1 - k : k, prev = reverse ? t + 1 : t - 1, at = reverse ? t + 1 : t;
              for (int64_t i = 0; i < D; ++i) {
                double acc = b[size_t((q * n + t) * D + i)];
                if (k > 0)
                  for (int64_t j = 0; j < D; ++j) {
                    double m = diag ? (i == j ? A[size_t((q * n + at) * AS + i)] : 0.0)
                                    : (reverse ? A[size_t((q * n + at) * AS + j * D + i)]
                                               : A[size_t((q * n + at) * AS + i * D + j)]);
                    acc += m * want[size_t((q * n + prev) * D + j)];
                  }
                want[size_t((q * n + t) * D + i)] = acc;
              }
            }
          deer::LinearScan<double> scan;
          scan.seqs = Q, scan.n = n, scan.D = D, scan.diag = diag, scan.reverse = reverse, scan.chunks = P;
          scan.A = A.data(), scan.b = b.data(), scan.out = got.data();
          scan.solve();
          for (size_t k = 0; k < got.size(); ++k)
            ASSERT_NEAR(got[k], want[k], 1e-12 * (1 + std::abs(want[k])))
                << "diag " << diag << " reverse " << reverse << " n " << n << " P " << P << " at " << k;
        }
}

TEST(DeerRnn, NewtonEqualsSequentialLoopAtOddLengths) {
  autograd::NoGradGuard no_grad;
  for (const SolverCase& c : kCases)
    for (int64_t T : {1, 2, 63, 301})
      for (double w_std : {0.5, 2.0}) {  // mildly and strongly non-linear cells
        Problem p = random_problem(c.cell, 2, T, 3, 5, w_std, 7 + uint64_t(T));
        DeerStats st;
        Tensor got = deer_rnn_scan(p.u, p.w, p.h0, solve_of(c), &st);
        SCOPED_TRACE(cat(label(c), " T=", T, " w_std=", w_std, " iterations=", st.iterations));
        EXPECT_TRUE(st.converged);
        EXPECT_CLOSE("newton vs loop", sequential(p, c.cell), got, 1e-11);
        EXPECT_LE(st.iterations, c.elk_sigma2 > 0 ? 2 * T : T);
      }
}

TEST(DeerRnn, Float32NewtonMatchesFloat64Loop) {
  autograd::NoGradGuard no_grad;
  for (const SolverCase& c : kCases) {
    Problem p = random_problem(c.cell, 1, 1001, 2, 8, 1.0, 3);
    Problem p32{p.u.to(DType::F32), p.w.to(DType::F32), p.h0.to(DType::F32)};
    DeerStats st;
    Tensor got = deer_rnn_scan(p32.u, p32.w, p32.h0, solve_of(c), &st);
    SCOPED_TRACE(cat(label(c), " iterations=", st.iterations));
    EXPECT_CLOSE("float32 newton vs float64 loop", sequential(p, c.cell), got.to(DType::F64), 1e-5);
  }
}

// The induction behind the T-iteration bound: after k iterations the first k states are
// exact, whatever the rest look like. A cell with large weights makes the tail far off.
TEST(DeerRnn, KIterationsMakeTheFirstKStatesExact) {
  autograd::NoGradGuard no_grad;
  for (const SolverCase& c : kCases) {
    if (c.elk_sigma2 > 0) continue;  // damped steps do not have this property
    Problem p = random_problem(c.cell, 1, 40, 2, 4, 4.0, 5);
    Tensor want = sequential(p, c.cell);
    for (int64_t k : {1, 3, 10}) {
      DeerSolve s = solve_of(c);
      s.max_iter = k;
      DeerStats st;
      Tensor got = deer_rnn_scan(p.u, p.w, p.h0, s, &st);
      EXPECT_LE(st.iterations, k);
      SCOPED_TRACE(cat(label(c), " k=", k));
      EXPECT_CLOSE("first k states", want.slice_raw(1, 0, k), got.slice_raw(1, 0, k), 1e-13);
    }
  }
}

TEST(DeerRnn, IterationCountNeverExceedsTEvenWithoutConvergenceTolerance) {
  autograd::NoGradGuard no_grad;
  for (const SolverCase& c : kCases) {
    if (c.elk_sigma2 > 0) continue;
    for (int64_t T : {1, 5, 17}) {
      Problem p = random_problem(c.cell, 1, T, 1, 3, 8.0, 9);
      DeerSolve s = solve_of(c);
      s.tol_abs = s.tol_rel = 1e-300;  // never met: only the T bound stops the loop
      DeerStats st;
      Tensor got = deer_rnn_scan(p.u, p.w, p.h0, s, &st);
      // Only the T bound (or an iterate that no longer changes at all) stops the loop.
      EXPECT_LE(st.iterations, T) << label(c);
      EXPECT_CLOSE("exact after T", sequential(p, c.cell), got, 1e-12);
    }
  }
}

// Gradients of u, w and h0 through the Newton solve and its reverse-scan backward.
TEST(DeerRnn, GradientsMatchFiniteDifferences) {
  for (const SolverCase& c : kCases)
    for (int64_t T : {1, 6}) {
      autograd::GradCase gc;
      gc.op = "deer_rnn_scan";
      gc.label = label(c);
      gc.make_inputs = [c, T](Rng& rng) {
        Problem p = random_problem(c.cell, 2, T, 2, 3, 1.5, rng.next_u64());
        p.u.set_requires_grad(true), p.w.set_requires_grad(true), p.h0.set_requires_grad(true);
        return std::vector<Tensor>{p.u, p.w, p.h0};
      };
      gc.fn = [c](const std::vector<Tensor>& in) { return deer_rnn_scan(in[0], in[1], in[2], solve_of(c)); };
      auto r = autograd::gradcheck(gc);
      EXPECT_TRUE(r.passed) << label(c) << " T=" << T << ": " << r.detail;
      EXPECT_EQ(r.checked_inputs, 3);
    }
}

TEST(DeerRnn, GradientsMatchAutogradThroughTheReferenceLoop) {
  for (const SolverCase& c : kCases) {
    Problem p = random_problem(c.cell, 2, 97, 2, 4, 1.5, 21);
    Rng rng(4);
    Tensor wgt = Tensor::randn({2, 97, 2, 4}, rng, DType::F64);
    auto grads = [&](bool ref) {
      Tensor u = p.u.clone().set_requires_grad(true), w = p.w.clone().set_requires_grad(true);
      Tensor h0 = p.h0.clone().set_requires_grad(true);
      Tensor h = ref ? deer_rnn_ref(u, w, h0, c.cell) : deer_rnn_scan(u, w, h0, solve_of(c));
      ops::sum(ops::mul(h, wgt)).backward();
      return std::vector<Tensor>{u.grad(), w.grad(), h0.grad()};
    };
    auto want = grads(true), got = grads(false);
    SCOPED_TRACE(label(c));
    EXPECT_CLOSE("du", want[0], got[0], 1e-10);
    EXPECT_CLOSE("dw", want[1], got[1], 1e-10);
    EXPECT_CLOSE("dh0", want[2], got[2], 1e-10);
  }
}

// DESIGN.md convention 7: a million float32 tokens stay finite (sequential solver), and a
// long quasi-DEER solve in float32 converges to the loop.
TEST(DeerRnn, LongFloat32RunsStayFinite) {
  autograd::NoGradGuard no_grad;
  Problem p = random_problem(DeerCell::Gru, 1, 1000000, 1, 4, 1.0, 2, DType::F32, 3.0);
  Tensor h = sequential(p, DeerCell::Gru);
  for (double v : h.slice_raw(1, 999990, 1000000).to_vector()) EXPECT_TRUE(std::isfinite(v));
  Problem q = random_problem(DeerCell::Tanh, 1, 20000, 2, 4, 1.0, 2, DType::F32);
  DeerSolve s;
  s.cell = DeerCell::Tanh;
  s.diagonal = true;
  DeerStats st;
  Tensor got = deer_rnn_scan(q.u, q.w, q.h0, s, &st);
  EXPECT_TRUE(st.converged);
  EXPECT_CLOSE("quasi-DEER T=20000", sequential(q, DeerCell::Tanh), got, 1e-5);
}

TEST(DeerRnn, BadOptionsAndShapesAreErrors) {
  using ::attnlab::testing::error_of;
  EXPECT_NE(error_of([] { ::attnlab::testing::build_mixer("deer_rnn", {"elk_sigma2=1"}, 24, DType::F64, 1); })
                .find("elk_sigma2"),
            std::string::npos);
  EXPECT_NE(error_of([] { ::attnlab::testing::build_mixer("deer_rnn", {"heads=5"}, 24, DType::F64, 1); })
                .find("must divide"),
            std::string::npos);
  Problem p = random_problem(DeerCell::Gru, 1, 3, 2, 4, 1.0, 1);
  EXPECT_NE(error_of([&] { deer_rnn_scan(p.u, p.w, p.h0, DeerSolve{DeerCell::Tanh}); }).find("expected w"),
            std::string::npos);
}

}  // namespace
}  // namespace attnlab::mixers
