// attnlab bench matmul: ops::matmul against sgemm called directly (kernels/cpu/blas.h's
// gemm: a plain cblas_sgemm into a preallocated output, sgemv when M or N is 1, as in
// ops::matmul), measured in the same run with the samples interleaved, so a noisy shared
// machine affects both alike. Prints the best of N samples for each, their ratio, the
// fraction of the machine's fp32 peak and which OpenBLAS kernels were active
// (specs/machine.md #1, #2).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "attnlab/cli/commands.h"
#include "attnlab/core/error.h"
#include "attnlab/core/parallel.h"
#include "attnlab/core/rng.h"
#include "attnlab/kernels/cpu/blas.h"
#include "attnlab/kernels/cpu/build_info.h"
#include "attnlab/ops/matmul.h"

namespace attnlab::cli {

namespace {

struct MatmulShape {
  int64_t m, k, n;
};

// "512" is 512 x 512 x 512; "4096x256x768" is [4096 x 256] @ [256 x 768].
MatmulShape parse_shape(const std::string& s) {
  std::vector<int64_t> parts;
  size_t at = 0;
  while (true) {
    size_t x = s.find('x', at);
    std::string piece = s.substr(at, x == std::string::npos ? std::string::npos : x - at);
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(piece, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    ATTNLAB_CHECK(used == piece.size() && !piece.empty() && v > 0 && v <= (1 << 20),
                  "bench matmul --sizes: '", s, "' is not N or MxKxN with positive integers");
    parts.push_back(v);
    if (x == std::string::npos) break;
    at = x + 1;
  }
  ATTNLAB_CHECK(parts.size() == 1 || parts.size() == 3, "bench matmul --sizes: '", s,
                "' is not N or MxKxN with positive integers");
  if (parts.size() == 1) return {parts[0], parts[0], parts[0]};
  return {parts[0], parts[1], parts[2]};
}

long minor_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

// Wall-clock seconds, or with `cpu_clock` the process's CPU seconds per thread: on a
// machine other processes keep busy, CPU time counts only the slices this process ran,
// so the rate is what the threads reach when they have a core (exact with one thread;
// with more, idle OpenMP threads spinning at a barrier count too).
double seconds_of(int calls, const std::function<void()>& f, bool cpu_clock) {
  auto cpu_seconds = [] {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
  };
  auto t0 = std::chrono::steady_clock::now();
  double c0 = cpu_clock ? cpu_seconds() : 0.0;
  for (int i = 0; i < calls; ++i) f();
  if (cpu_clock) return (cpu_seconds() - c0) / num_threads();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct Result {
  double attnlab_best = 1e300, sgemm_best = 1e300;  // seconds per call
  double faults_per_call = 0;                       // during ops::matmul's samples
  int calls = 1;
};

Result measure(const MatmulShape& s, int repeats, double min_sample_s, bool cpu_clock) {
  Rng rng(1);
  Tensor a = Tensor::randn({s.m, s.k}, rng), b = Tensor::randn({s.k, s.n}, rng);
  Tensor c = Tensor::zeros({s.m, s.n});
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  float* pc = c.data<float>();
  auto run_attnlab = [&] { Tensor out = ops::matmul(a, b); };
  auto run_sgemm = [&] {
    kernels::cpu::gemm(false, false, s.m, s.n, s.k, 1.0f, pa, s.k, pb, s.n, 0.0f, pc, s.n);
  };
  // Warm-up: BLAS buffers, the output block in the allocator's cache, the caches.
  run_attnlab();
  run_sgemm();
  double one = std::max(seconds_of(1, run_attnlab, false), seconds_of(1, run_sgemm, false));
  Result r;
  r.calls = std::max(1, int(min_sample_s / std::max(one, 1e-7)));
  long faults = 0;
  for (int rep = 0; rep < repeats; ++rep) {
    // Alternate which goes first so neither always follows the other's cache state.
    for (int which = 0; which < 2; ++which) {
      if ((which == 0) == (rep % 2 == 0)) {
        long f0 = minor_faults();
        r.attnlab_best = std::min(r.attnlab_best, seconds_of(r.calls, run_attnlab, cpu_clock) / r.calls);
        faults += minor_faults() - f0;
      } else {
        r.sgemm_best = std::min(r.sgemm_best, seconds_of(r.calls, run_sgemm, cpu_clock) / r.calls);
      }
    }
  }
  r.faults_per_call = double(faults) / (double(repeats) * r.calls);
  return r;
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto* bench = app.add_subcommand("bench", "Measure kernels against their ceilings");
  bench->require_subcommand(1);
  auto* cmd = bench->add_subcommand(
      "matmul", "ops::matmul (float32) against direct sgemm on the same operands, interleaved");
  auto sizes = std::make_shared<std::vector<std::string>>(
      std::vector<std::string>{"512", "1024", "2048"});
  auto repeats = std::make_shared<int>(5);
  auto min_sample = std::make_shared<double>(0.2);
  auto peak = std::make_shared<double>(450.0);
  auto clock = std::make_shared<std::string>("wall");
  cmd->add_option("--sizes", *sizes, "Comma-separated sizes: N (square) or MxKxN")
      ->capture_default_str()
      ->delimiter(',');
  cmd->add_option("--repeats", *repeats, "Samples of each; the best is reported")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--min-sample", *min_sample, "Seconds per sample (calls are repeated to fill it)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 60.0));
  cmd->add_option("--peak", *peak, "The machine's fp32 peak in GFLOP/s (2 Zen 5 cores: 450)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--clock", *clock,
                  "wall: elapsed time; cpu: CPU time per thread (steadier on a busy machine)")
      ->capture_default_str()
      ->check(CLI::IsMember({"wall", "cpu"}));
  cmd->callback([sizes, repeats, min_sample, peak, clock] {
    std::vector<MatmulShape> shapes;
    for (const std::string& s : *sizes) shapes.push_back(parse_shape(s));
    std::printf("%s\n", kernels::cpu::runtime_info().c_str());
    std::printf("matmul float32, %d thread(s), best of %d interleaved samples of >= %.2f s, "
                "%s clock; peak %.0f GFLOP/s; OpenBLAS core %s\n",
                num_threads(), *repeats, *min_sample, clock->c_str(), *peak,
                kernels::cpu::blas_core_name().c_str());
    std::printf("%6s %6s %6s  %12s %12s %7s %9s %11s\n", "M", "K", "N", "attnlab GF/s",
                "sgemm GF/s", "ratio", "of peak", "faults/call");
    for (const MatmulShape& s : shapes) {
      Result r = measure(s, *repeats, *min_sample, *clock == "cpu");
      double flops = 2.0 * double(s.m) * double(s.n) * double(s.k);
      double ga = flops / r.attnlab_best / 1e9, gs = flops / r.sgemm_best / 1e9;
      std::printf("%6lld %6lld %6lld  %12.1f %12.1f %7.3f %8.1f%% %11.2f\n", (long long)s.m,
                  (long long)s.k, (long long)s.n, ga, gs, ga / gs, 100.0 * ga / *peak,
                  r.faults_per_call);
      std::fflush(stdout);
    }
  });
  add_bench_model_commands(*bench);
  add_bench_mixer_commands(*bench);
}

}  // namespace attnlab::cli
