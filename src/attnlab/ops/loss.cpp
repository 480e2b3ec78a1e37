#include "attnlab/ops/loss.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#include "attnlab/autograd/node.h"
#include "attnlab/core/parallel.h"
#include "attnlab/ops/gradcases.h"

namespace attnlab::ops {

namespace {

// ---- row kernels ----
//
// Float rows run on GCC/Clang vector types, written once for any lane count: the
// autovectoriser will not touch an exp with clamps (comparisons may trap under the
// default -ftrapping-math) and glibc's expf is one call per element, ~3x slower here.
// The same templates on plain float serve the row tails. Double rows (references and
// gradient checks) use std::exp.
#if defined(__AVX512F__)
constexpr int64_t kLanes = 16;
#elif defined(__AVX__)
constexpr int64_t kLanes = 8;
#else
constexpr int64_t kLanes = 4;
#endif
using f32v = float __attribute__((vector_size(4 * kLanes)));
using i32v = int32_t __attribute__((vector_size(4 * kLanes)));
using f64h = double __attribute__((vector_size(4 * kLanes)));  // half the lanes, widened

inline f32v load(const float* p) {
  f32v v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store(float* p, f32v v) { std::memcpy(p, &v, sizeof v); }
template <class F> inline F splat(float c) { return F{} + c; }
inline int32_t to_i32(float x) { return x == x ? int32_t(x) : 0; }  // NaN: no UB, stays NaN
inline i32v to_i32(f32v x) { return __builtin_convertvector(x, i32v); }
inline float from_bits(int32_t b) { return std::bit_cast<float>(b); }
inline f32v from_bits(i32v b) { return std::bit_cast<f32v>(b); }

// Lanes [Base, Base + kLanes / 2) of v, widened to double.
template <int Base, int... I>
inline f64h half_to_f64(f32v v, std::integer_sequence<int, I...>) {
  return __builtin_convertvector(__builtin_shufflevector(v, v, (Base + I)...), f64h);
}

// exp(x): Cody-Waite reduction x = n ln2 + r with |r| <= ln2/2 and Cephes' degree-6
// polynomial, relative error below 1e-7. Inputs below -87.3 (where expf leaves the
// normal range) give 0; inputs above 88 are clamped (callers pass x - max <= 0).
template <class F>
inline F exp_fast(F x) {
  const F lo = splat<F>(-87.3f), hi = splat<F>(88.0f);
  F xc = x < lo ? lo : x;
  xc = xc > hi ? hi : xc;
  F n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round to nearest
  F r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  F p = splat<F>(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  F y = p * from_bits((to_i32(n) + 127) << 23);
  return x < lo ? splat<F>(0.0f) : y;
}

float row_max(const float* x, int64_t V) {
  float m = x[0];
  int64_t j = 0;
  if (V >= kLanes) {
    f32v mv = load(x);
    for (j = kLanes; j + kLanes <= V; j += kLanes) {
      f32v v = load(x + j);
      mv = v > mv ? v : mv;
    }
    for (int64_t k = 0; k < kLanes; ++k) m = std::max(m, mv[k]);
  }
  for (; j < V; ++j) m = std::max(m, x[j]);
  return m;
}

double row_max(const double* x, int64_t V) {
  double m = x[0];
  for (int64_t j = 1; j < V; ++j) m = std::max(m, x[j]);
  return m;
}

// sum_j exp(x[j] - m), accumulated in double in a fixed lane order.
double row_sum_exp(const float* x, int64_t V, float m) {
  f64h acc0{}, acc1{};
  int64_t j = 0;
  constexpr auto half = std::make_integer_sequence<int, int(kLanes / 2)>{};
  for (; j + kLanes <= V; j += kLanes) {
    f32v e = exp_fast(load(x + j) - m);
    acc0 += half_to_f64<0>(e, half);
    acc1 += half_to_f64<int(kLanes / 2)>(e, half);
  }
  f64h acc = acc0 + acc1;
  double s = 0;
  for (int64_t k = 0; k < kLanes / 2; ++k) s += acc[k];
  for (; j < V; ++j) s += double(exp_fast(x[j] - m));
  return s;
}

double row_sum_exp(const double* x, int64_t V, double m) {
  double s = 0;
  for (int64_t j = 0; j < V; ++j) s += std::exp(x[j] - m);
  return s;
}

// out[j] = exp(x[j] - shift) * scale
void row_exp_scaled(const float* x, int64_t V, float shift, float scale, float* out) {
  int64_t j = 0;
  for (; j + kLanes <= V; j += kLanes) store(out + j, exp_fast(load(x + j) - shift) * scale);
  for (; j < V; ++j) out[j] = exp_fast(x[j] - shift) * scale;
}

void row_exp_scaled(const double* x, int64_t V, double shift, double scale, double* out) {
  for (int64_t j = 0; j < V; ++j) out[j] = std::exp(x[j] - shift) * scale;
}

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
      const T m = row_max(row, V);
      lse[n] = double(m) + std::log(row_sum_exp(row, V, m));
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
      row_exp_scaled(row, V, shift, T(g * std::exp(double(shift) - lse[n])), drow);
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

// When the saved logits are the only reference left to their storage (a model's head
// output, which nothing else keeps after the forward), the gradient overwrites them in
// place (each element is read before it is written): no second [N, V] buffer, 823 MB for
// 4,096 tokens of GPT-2's vocabulary. (The engine runs a node's backward once: a second
// backward through the graph is its error, so the overwritten logits are never read.)
Tensor ce_backward(CeSaved& sv, const Tensor& g_row, double g_all, const char* op) {
  const bool in_place = sv.logits.storage().use_count() == 1;
  Tensor dx = in_place ? sv.logits : Tensor::empty(sv.logits.shape(), sv.logits.dtype());
  dispatch_float(sv.logits.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    ce_bwd<T>(sv.logits.data<T>(), sv.targets.data<int32_t>(), sv.lse.data<double>(), sv.N, sv.V,
              sv.ignore, g_row.defined() ? g_row.data<T>() : nullptr, g_all, dx.data<T>());
  });
  if (in_place) sv.logits = Tensor();
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
    autograd::record("cross_entropy", {logits}, out, [sv, count](const Tensor& g) mutable {
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
    autograd::record("cross_entropy_per_token", {logits}, out, [sv](const Tensor& g) mutable {
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
