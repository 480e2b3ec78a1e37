#include "attnlab/ops/loss.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <vector>

#include "attnlab/autograd/node.h"
#include "attnlab/core/parallel.h"
#include "attnlab/ops/gradcases.h"

// `omp simd` lets the compiler reorder the max and sum reductions into vector lanes (it
// may not otherwise, floating-point addition not being associative). The order is fixed
// at compile time, so results stay deterministic.
#ifdef _OPENMP
#define ATTNLAB_PRAGMA(x) _Pragma(#x)
#define ATTNLAB_SIMD_REDUCE(op, var) ATTNLAB_PRAGMA(omp simd reduction(op : var))
#define ATTNLAB_SIMD ATTNLAB_PRAGMA(omp simd)
#else
#define ATTNLAB_SIMD_REDUCE(op, var)
#define ATTNLAB_SIMD
#endif

namespace attnlab::ops {

namespace {

// exp(x) for float without a library call, so the loops over a vocabulary row
// vectorise (glibc's expf is one call per element, ~10x slower here). Cody-Waite
// reduction x = n ln2 + r with |r| <= ln2/2 and Cephes' degree-6 polynomial: relative
// error about 2e-7. Inputs below -87.3 (where expf leaves the normal range) give 0;
// inputs above 88 are clamped (callers pass x - max <= 0).
inline float exp_fast(float x) {
  float xc = std::min(std::max(x, -87.3f), 88.0f);
  float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round to nearest
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  float scale = std::bit_cast<float>((int32_t(n) + 127) << 23);
  return x < -87.3f ? 0.0f : p * scale;
}
inline float exp_row(float x) { return exp_fast(x); }
inline double exp_row(double x) { return std::exp(x); }

struct CeShape {
  int64_t N, V;
};

// Validates the inputs and names every way they can be wrong.
CeShape ce_check(const Tensor& logits, const Tensor& targets, int64_t ignore_index, const char* op) {
  dispatch_float(logits.dtype(), op, [](auto) {});
  ATTNLAB_CHECK(logits.dim() >= 1 && logits.size(-1) >= 1, op,
                ": logits must be [..., V] with V >= 1, got shape ", shape_str(logits.shape()));
  ATTNLAB_CHECK(targets.dtype() == DType::I32, op, ": targets must be int32, got ",
                dtype_name(targets.dtype()));
  CeShape s{logits.numel() / logits.size(-1), logits.size(-1)};
  Shape rows(logits.shape().begin(), logits.shape().end() - 1);
  ATTNLAB_CHECK(targets.shape() == rows || targets.shape() == Shape{s.N}, op, ": targets have shape ",
                shape_str(targets.shape()), ", expected ", shape_str(rows),
                rows.size() == 1 ? "" : cat(" or [", s.N, "]"), " (one per row of logits ",
                shape_str(logits.shape()), ")");
  Tensor t = targets.contiguous();
  const int32_t* tg = t.data<int32_t>();
  for (int64_t n = 0; n < s.N; ++n)
    ATTNLAB_CHECK(tg[n] == ignore_index || (tg[n] >= 0 && tg[n] < s.V), op, ": target ", tg[n],
                  " at row ", n, " is outside [0, ", s.V, ") and is not ignore_index (",
                  ignore_index, ")");
  return s;
}

int64_t ce_grain(int64_t V) { return std::max<int64_t>(1, (1 << 14) / V); }

// Per row n: lse[n] = log sum_j exp(x[n, j]) and nll[n] = lse[n] - x[n, target] (0 and
// an unused lse where the target is ignored). Two sweeps over each row (max, then the
// sum of exponentials in double) while it is in cache: one pass over memory, and only
// lse is kept for the backward.
template <class T>
void ce_fwd(const T* x, const int32_t* tgt, int64_t N, int64_t V, int64_t ignore, double* lse,
            double* nll) {
  parallel_for(0, N, ce_grain(V), [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      if (tgt[n] == ignore) {
        lse[n] = 0;
        nll[n] = 0;
        continue;
      }
      const T* row = x + n * V;
      T m = row[0];
      ATTNLAB_SIMD_REDUCE(max, m)
      for (int64_t j = 0; j < V; ++j) m = row[j] > m ? row[j] : m;
      double s = 0;
      ATTNLAB_SIMD_REDUCE(+, s)
      for (int64_t j = 0; j < V; ++j) s += double(exp_row(row[j] - m));
      lse[n] = double(m) + std::log(s);
      nll[n] = lse[n] - double(row[tgt[n]]);
    }
  });
}

// dx[n, :] = (softmax(x[n, :]) - onehot(target)) * scale_n, with scale_n = g_row[n] when
// given (per-token) else g_all (the mean's g / count); zero rows where ignored.
template <class T>
void ce_bwd(const T* x, const int32_t* tgt, const double* lse, int64_t N, int64_t V, int64_t ignore,
            const T* g_row, double g_all, T* dx) {
  parallel_for(0, N, ce_grain(V), [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      T* drow = dx + n * V;
      if (tgt[n] == ignore) {
        std::memset(drow, 0, size_t(V) * sizeof(T));
        continue;
      }
      const T* row = x + n * V;
      const double g = g_row ? double(g_row[n]) : g_all;
      // lse rounded to T can be off by half an ulp (5e-4 at |lse| = 1e4 in float);
      // exp(shift - lse), computed in double, puts that error back.
      const T shift = T(lse[n]);
      const T pscale = T(g * std::exp(double(shift) - lse[n]));
      ATTNLAB_SIMD
      for (int64_t j = 0; j < V; ++j) drow[j] = exp_row(row[j] - shift) * pscale;
      drow[tgt[n]] -= T(g);
    }
  });
}

// The state a backward needs: the inputs and one log-sum-exp per row.
struct CeSaved {
  Tensor logits, targets, lse;  // contiguous; lse is [N] float64
  int64_t N, V, ignore;
};

CeSaved ce_forward(const Tensor& logits_in, const Tensor& targets_in, int64_t ignore,
                   const char* op, std::vector<double>& nll) {
  CeShape s = ce_check(logits_in, targets_in, ignore, op);
  CeSaved sv{logits_in.contiguous().detach(), targets_in.contiguous(),
             Tensor::empty({s.N}, DType::F64), s.N, s.V, ignore};
  nll.resize(size_t(s.N));
  dispatch_float(sv.logits.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    ce_fwd<T>(sv.logits.data<T>(), sv.targets.data<int32_t>(), s.N, s.V, ignore,
              sv.lse.data<double>(), nll.data());
  });
  return sv;
}

Tensor ce_backward(const CeSaved& sv, const Tensor& g_row, double g_all, const char* op) {
  Tensor dx = Tensor::empty(sv.logits.shape(), sv.logits.dtype());
  dispatch_float(sv.logits.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    ce_bwd<T>(sv.logits.data<T>(), sv.targets.data<int32_t>(), sv.lse.data<double>(), sv.N, sv.V,
              sv.ignore, g_row.defined() ? g_row.data<T>() : nullptr, g_all, dx.data<T>());
  });
  return dx;
}

}  // namespace

// logits [N, V], targets [N] -> scalar mean of -log softmax(logits)[n, targets[n]]
Tensor cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index) {
  std::vector<double> nll;
  CeSaved sv = ce_forward(logits, targets, ignore_index, "cross_entropy", nll);
  // Summed in row order on one thread, so the loss does not depend on the thread count.
  const int32_t* tg = sv.targets.data<int32_t>();
  double total = 0;
  int64_t count = 0;
  for (int64_t n = 0; n < sv.N; ++n) {
    if (tg[n] == ignore_index) continue;
    total += nll[size_t(n)];
    count++;
  }
  Tensor out = Tensor::full({}, count ? total / double(count) : 0.0, logits.dtype());
  if (autograd::should_record({logits})) {
    autograd::record("cross_entropy", {logits}, out, [sv, count](const Tensor& g) {
      // With every target ignored the loss is the constant 0: its gradient is 0.
      double g_all = count ? g.item() / double(count) : 0.0;
      return std::vector<Tensor>{ce_backward(sv, Tensor(), g_all, "cross_entropy")};
    });
  }
  return out;
}

// logits [N, V], targets [N] -> [N] of -log softmax(logits)[n, targets[n]]
Tensor cross_entropy_per_token(const Tensor& logits, const Tensor& targets, int64_t ignore_index) {
  std::vector<double> nll;
  CeSaved sv = ce_forward(logits, targets, ignore_index, "cross_entropy_per_token", nll);
  Tensor out = Tensor::empty(targets.shape(), logits.dtype());
  dispatch_float(logits.dtype(), "cross_entropy_per_token", [&](auto tag) {
    using T = decltype(tag);
    T* o = out.data<T>();
    for (int64_t n = 0; n < sv.N; ++n) o[n] = T(nll[size_t(n)]);
  });
  if (autograd::should_record({logits})) {
    autograd::record("cross_entropy_per_token", {logits}, out, [sv](const Tensor& g) {
      return std::vector<Tensor>{ce_backward(sv, g, 0.0, "cross_entropy_per_token")};
    });
  }
  return out;
}

// ---- gradient-check cases ----

void add_loss_gradcases(std::vector<autograd::GradCase>& cases) {
  using Inputs = std::vector<Tensor>;
  auto logits = [](Rng& r, const Shape& s) {
    return Tensor::randn(s, r, DType::F64, 2.0).set_requires_grad(true);
  };
  // Row 2 is ignored: its logits must get exactly zero gradient and not count in the mean.
  auto targets_5 = [] { return Tensor::from_vector(std::vector<int32_t>{3, 0, -100, 6, 6}, {5}); };
  cases.push_back({"cross_entropy", "[5, 7], one target ignored",
                   [=](Rng& r) { return Inputs{logits(r, {5, 7})}; },
                   [=](const Inputs& x) { return cross_entropy(x[0], targets_5()); }});
  cases.push_back({"cross_entropy", "[2, 3, 63] with targets [2, 3], ignore_index 5",
                   [=](Rng& r) { return Inputs{logits(r, {2, 3, 63})}; },
                   [](const Inputs& x) {
                     Tensor t = Tensor::from_vector(std::vector<int32_t>{5, 62, 0, 5, 17, 40}, {2, 3});
                     return cross_entropy(x[0], t, 5);
                   }});
  cases.push_back({"cross_entropy", "[3, 1]: V = 1",
                   [=](Rng& r) { return Inputs{logits(r, {3, 1})}; },
                   [](const Inputs& x) {
                     return cross_entropy(x[0], Tensor::from_vector(std::vector<int32_t>{0, 0, 0}, {3}));
                   }});
  cases.push_back({"cross_entropy_per_token", "[5, 7], one target ignored",
                   [=](Rng& r) { return Inputs{logits(r, {5, 7})}; },
                   [=](const Inputs& x) { return cross_entropy_per_token(x[0], targets_5()); }});
  cases.push_back({"cross_entropy_per_token", "[3, 127]",
                   [=](Rng& r) { return Inputs{logits(r, {3, 127})}; },
                   [](const Inputs& x) {
                     Tensor t = Tensor::from_vector(std::vector<int32_t>{126, 0, 64}, {3});
                     return cross_entropy_per_token(x[0], t);
                   }});
}

}  // namespace attnlab::ops
