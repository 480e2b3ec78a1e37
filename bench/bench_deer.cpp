// The deer_rnn solvers (float32, forward only, no grad) against the sequential loop:
// a GRU cell with B = 1, G = 4 groups of D = 16 (d_model 64), T = 1K ... 64K. The
// argument is T; the thread count is ATTNLAB_THREADS (or --threads of the process).
// Counter "iters" is the number of Newton iterations the solve took (DEER's stopping
// test |dh| <= 1e-4 + 1e-3 |h| when tol=deer, else 32 eps).
//   ./build/release/attnlab_bench --benchmark_filter=deer
#include <benchmark/benchmark.h>

#include <cmath>

#include "attnlab/autograd/node.h"
#include "attnlab/core/rng.h"
#include "attnlab/mixers/deer_rnn/deer_rnn.h"

namespace {

using namespace attnlab;
using mixers::DeerCell;
using mixers::DeerSolve;
using mixers::DeerSolver;

constexpr int64_t kG = 4, kD = 16, kK = 3;

void deer_bench(benchmark::State& state, DeerSolver solver, bool diagonal, bool deer_tol) {
  autograd::NoGradGuard no_grad;
  const int64_t T = state.range(0);
  Rng rng(1);
  Tensor u = Tensor::randn({1, T, kG, kK * kD}, rng);
  Tensor w = Tensor::randn({kG, kK * kD, kD}, rng, DType::F32, 1.0 / std::sqrt(double(kD)));
  DeerSolve s;
  s.cell = DeerCell::Gru;
  s.solver = solver;
  s.diagonal = diagonal;
  if (deer_tol) s.tol_abs = 1e-4, s.tol_rel = 1e-3;
  mixers::DeerStats st;
  for (auto _ : state) {
    Tensor h = mixers::deer_rnn_scan(u, w, Tensor(), s, &st);
    benchmark::DoNotOptimize(h.data<float>());
  }
  state.counters["iters"] = double(st.iterations);
  state.counters["converged"] = st.converged ? 1 : 0;
  state.SetItemsProcessed(state.iterations() * T);  // tokens
}

void BM_deer_sequential(benchmark::State& s) { deer_bench(s, DeerSolver::Sequential, false, false); }
void BM_deer_newton_full(benchmark::State& s) { deer_bench(s, DeerSolver::Newton, false, false); }
void BM_deer_newton_full_deer_tol(benchmark::State& s) { deer_bench(s, DeerSolver::Newton, false, true); }
void BM_deer_newton_diagonal(benchmark::State& s) { deer_bench(s, DeerSolver::Newton, true, false); }
void BM_deer_newton_diagonal_deer_tol(benchmark::State& s) { deer_bench(s, DeerSolver::Newton, true, true); }

#define DEER_LENGTHS ->Arg(1 << 10)->Arg(1 << 12)->Arg(1 << 14)->Arg(1 << 16)->Unit(benchmark::kMillisecond)->UseRealTime()
BENCHMARK(BM_deer_sequential) DEER_LENGTHS;
BENCHMARK(BM_deer_newton_full) DEER_LENGTHS;
BENCHMARK(BM_deer_newton_full_deer_tol) DEER_LENGTHS;
BENCHMARK(BM_deer_newton_diagonal) DEER_LENGTHS;
BENCHMARK(BM_deer_newton_diagonal_deer_tol) DEER_LENGTHS;

}  // namespace
