#include "attnlab/ops/norm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "attnlab/autograd/node.h"
#include "attnlab/core/parallel.h"
#include "attnlab/kernels/cpu/lanes.h"
#include "attnlab/ops/gradcases.h"
#include "attnlab/ops/shape.h"

namespace attnlab::ops {

namespace {

using kernels::lane_sum_of;

constexpr int64_t kGrain = 1 << 14;  // elements per thread below which rows stay serial

// Checks x [..., C] against weight/bias [C] (either may be undefined) and eps; returns C.
int64_t check_norm_args(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps,
                        const char* op) {
  ATTNLAB_CHECK(x.dim() >= 1, op, ": expected an input [..., C] with at least one dimension, got a 0-d tensor");
  int64_t C = x.shape().back();
  ATTNLAB_CHECK(C > 0, op, ": the last dimension of input ", shape_str(x.shape()), " is empty (C = 0)");
  auto check_param = [&](const Tensor& t, const char* what) {
    if (!t.defined()) return;
    ATTNLAB_CHECK(t.shape() == Shape{C}, op, ": ", what, " has shape ", shape_str(t.shape()),
                  ", expected [", C, "] (the last dimension of input ", shape_str(x.shape()), ")");
    ATTNLAB_CHECK(t.dtype() == x.dtype(), op, ": ", what, " is ", dtype_name(t.dtype()), ", the input is ",
                  dtype_name(x.dtype()));
  };
  check_param(weight, "weight");
  check_param(bias, "bias");
  ATTNLAB_CHECK(std::isfinite(eps) && eps >= 0, op, ": eps = ", eps, ", expected a finite value >= 0");
  return C;
}

// weight or, when it is undefined, the identity (ones); bias or zeros. The loops then
// have one form, at the cost of reading C values from L1.
template <class T>
const T* param_or(const Tensor& t, std::vector<T>& fallback, int64_t C, T value) {
  if (t.defined()) return t.data<T>();
  fallback.assign(size_t(C), value);
  return fallback.data();
}

// Splits rows into `parts` contiguous pieces (one per thread) and runs f(part, r0, r1) in
// parallel; the split depends only on the thread count, so per-part partial sums added
// in part order give the same bits on every run with that count.
template <class F>
int64_t for_row_parts(int64_t rows, int64_t C, F&& f) {
  int64_t most = std::max<int64_t>(1, std::min<int64_t>(num_threads(), rows));
  int64_t parts = std::clamp<int64_t>(rows * C / kGrain, 1, most);
  parallel_for(0, parts, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) f(p, rows * p / parts, rows * (p + 1) / parts);
  });
  return parts;
}

// Rows per flush of the T row-sum accumulators into double (see layer_norm_bwd_rows).
constexpr int64_t kFlushRows = 32;

// partial[part] += block; block = 0. Nothing to do for an empty block (gradient not wanted).
template <class T>
void flush(std::vector<T>& block, std::vector<double>& partial, int64_t part) {
  size_t at = size_t(part) * block.size();
  for (size_t j = 0; j < block.size(); ++j) {
    partial[at + j] += double(block[j]);
    block[j] = T(0);
  }
}

// Adds the per-part double partials [parts][C] in part order into out [C].
template <class T>
void combine_parts(const std::vector<double>& partial, int64_t parts, int64_t C, T* out) {
  for (int64_t j = 0; j < C; ++j) {
    double s = 0;
    for (int64_t p = 0; p < parts; ++p) s += partial[size_t(p * C + j)];
    out[j] = T(s);
  }
}

// ---- layer norm kernels ----
// float32 rows far from zero (activations around 1e3-1e4 with unit spread) need care: the
// mean rounded to float32 is off by up to half an ulp of the mean, which is 5e-4 of the
// spread at 1e4. Both kernels therefore normalise with ((x - m) - c) * rstd, where m is
// the saved (rounded) mean, x - m is exact for x near m, and c = mean(x - m) is the small
// rounding residual.

template <class T>
void layer_norm_fwd_rows(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, int64_t rows,
                         int64_t C, double eps) {
  parallel_for(0, rows, std::max<int64_t>(1, kGrain / C), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * C;
      T* yr = y + r * C;
      // Summing x - x[0] rather than x keeps the lane sums small for rows far from zero.
      T x0 = xr[0];
      double md = double(x0) + lane_sum_of<T>(C, [xr, x0](int64_t i) { return xr[i] - x0; }) / double(C);
      T m = T(md), c = T(md - double(m));
      // A second pass (the row is in L1 by now): the variance of x - mean does not cancel.
      double var = lane_sum_of<T>(C, [xr, m, c](int64_t i) { T d = (xr[i] - m) - c; return d * d; }) / double(C);
      T rs = T(1.0 / std::sqrt(var + eps));
      for (int64_t j = 0; j < C; ++j) yr[j] = ((xr[j] - m) - c) * rs * w[j] + b[j];
      mean[r] = m;
      rstd[r] = rs;
    }
  });
}

// One row's dx and its contributions to the parameter row sums (accw, accb: null when
// not wanted). __restrict: with five arrays of one type the compiler would otherwise
// need alias checks between all of them, and it gives up vectorising the loop.
template <class T>
void layer_norm_bwd_row(const T* __restrict g, const T* __restrict x, const T* __restrict w, T* __restrict dx,
                        T* __restrict accw, T* __restrict accb, int64_t C, T m, T c, T rs, T dn_mean, T dnn_mean) {
  if (accw && accb) {  // the usual case: one loop for dx and both parameter gradients
    for (int64_t j = 0; j < C; ++j) {
      T n = ((x[j] - m) - c) * rs;
      dx[j] = (g[j] * w[j] - dn_mean - n * dnn_mean) * rs;
      accw[j] += g[j] * n;
      accb[j] += g[j];
    }
    return;
  }
  for (int64_t j = 0; j < C; ++j) dx[j] = (g[j] * w[j] - dn_mean - (((x[j] - m) - c) * rs) * dnn_mean) * rs;
  if (accw)
    for (int64_t j = 0; j < C; ++j) accw[j] += g[j] * (((x[j] - m) - c) * rs);
  if (accb)
    for (int64_t j = 0; j < C; ++j) accb[j] += g[j];
}

// dx = rstd * (dn - mean(dn) - n * mean(dn * n)) with n = (x - mean) * rstd, dn = g * w;
// dweight = sum_rows g * n, dbias = sum_rows g.
template <class T>
void layer_norm_bwd_rows(const T* g, const T* x, const T* w, const T* mean, const T* rstd, T* dx,
                         T* dw, T* db, int64_t rows, int64_t C) {
  int64_t max_parts = std::max(1, num_threads());
  std::vector<double> pw(size_t(dw ? max_parts * C : 0), 0.0), pb(size_t(db ? max_parts * C : 0), 0.0);
  int64_t parts = for_row_parts(rows, C, [&](int64_t p, int64_t r0, int64_t r1) {
    // Rows add into T accumulators for kFlushRows rows at a time, which are then added into
    // this part's double partials: float adds in the row loop, double accuracy overall.
    std::vector<T> bw(size_t(dw ? C : 0), T(0)), bb(size_t(db ? C : 0), T(0));
    T* accw = dw ? bw.data() : nullptr;
    T* accb = db ? bb.data() : nullptr;
    for (int64_t r = r0; r < r1; ++r) {
      if ((r - r0) % kFlushRows == 0 && r > r0) {
        flush(bw, pw, p);
        flush(bb, pb, p);
      }
      const T* gr = g + r * C;
      const T* xr = x + r * C;
      T* dr = dx + r * C;
      T m = mean[r], rs = rstd[r];
      T c = T(lane_sum_of<T>(C, [xr, m](int64_t i) { return xr[i] - m; }) / double(C));
      T dn_mean = T(lane_sum_of<T>(C, [gr, w](int64_t i) { return gr[i] * w[i]; }) / double(C));
      T dnn_mean = T(lane_sum_of<T>(C, [gr, w, xr, m, c, rs](int64_t i) {
                       return gr[i] * w[i] * (((xr[i] - m) - c) * rs);
                     }) / double(C));
      layer_norm_bwd_row(gr, xr, w, dr, accw, accb, C, m, c, rs, dn_mean, dnn_mean);
    }
    flush(bw, pw, p);
    flush(bb, pb, p);
  });
  if (dw) combine_parts(pw, parts, C, dw);
  if (db) combine_parts(pb, parts, C, db);
}

// ---- RMS norm kernels ----

template <class T>
void rms_norm_fwd_rows(const T* x, const T* w, T* y, T* rstd, int64_t rows, int64_t C, double eps) {
  parallel_for(0, rows, std::max<int64_t>(1, kGrain / C), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * C;
      T* yr = y + r * C;
      double ms = lane_sum_of<T>(C, [xr](int64_t i) { return xr[i] * xr[i]; }) / double(C);
      T rs = T(1.0 / std::sqrt(ms + eps));
      for (int64_t j = 0; j < C; ++j) yr[j] = xr[j] * rs * w[j];
      rstd[r] = rs;
    }
  });
}

// One row of the RMS norm backward; accw null when the weight gradient is not wanted.
template <class T>
void rms_norm_bwd_row(const T* __restrict g, const T* __restrict x, const T* __restrict w, T* __restrict dx,
                      T* __restrict accw, int64_t C, T rs, T dnn_mean) {
  if (accw) {
    for (int64_t j = 0; j < C; ++j) {
      T n = x[j] * rs;
      dx[j] = (g[j] * w[j] - n * dnn_mean) * rs;
      accw[j] += g[j] * n;
    }
    return;
  }
  for (int64_t j = 0; j < C; ++j) dx[j] = (g[j] * w[j] - (x[j] * rs) * dnn_mean) * rs;
}

// dx = rstd * (dn - n * mean(dn * n)) with n = x * rstd, dn = g * w; dweight = sum_rows g * n.
template <class T>
void rms_norm_bwd_rows(const T* g, const T* x, const T* w, const T* rstd, T* dx, T* dw, int64_t rows,
                       int64_t C) {
  int64_t max_parts = std::max(1, num_threads());
  std::vector<double> pw(size_t(dw ? max_parts * C : 0), 0.0);
  int64_t parts = for_row_parts(rows, C, [&](int64_t p, int64_t r0, int64_t r1) {
    std::vector<T> bw(size_t(dw ? C : 0), T(0));  // as in layer_norm_bwd_rows
    T* accw = dw ? bw.data() : nullptr;
    for (int64_t r = r0; r < r1; ++r) {
      if ((r - r0) % kFlushRows == 0 && r > r0) flush(bw, pw, p);
      const T* gr = g + r * C;
      const T* xr = x + r * C;
      T rs = rstd[r];
      T dnn_mean = T(lane_sum_of<T>(C, [gr, w, xr, rs](int64_t i) { return gr[i] * w[i] * (xr[i] * rs); }) /
                     double(C));
      rms_norm_bwd_row(gr, xr, w, dx + r * C, accw, C, rs, dnn_mean);
    }
    flush(bw, pw, p);
  });
  if (dw) combine_parts(pw, parts, C, dw);
}

Tensor row_stats(const Tensor& x, int64_t C) { return Tensor::empty({x.numel() / C}, x.dtype()); }

void check_saved(const Tensor& g, const Tensor& x, const Tensor& stat, int64_t C, const char* what,
                 const char* op) {
  ATTNLAB_CHECK(g.shape() == x.shape() && g.dtype() == x.dtype(), op, ": gradient ", shape_str(g.shape()), " ",
                dtype_name(g.dtype()), " for an input ", shape_str(x.shape()), " ", dtype_name(x.dtype()));
  ATTNLAB_CHECK(stat.shape() == Shape{x.numel() / C} && stat.dtype() == x.dtype(), op, ": ", what, " has shape ",
                shape_str(stat.shape()), ", expected [", x.numel() / C, "] (one per row of ",
                shape_str(x.shape()), ")");
}

}  // namespace

// ---- layer_norm ----
// x, y: [N, C] (N = all leading dimensions); weight, bias: [C]; mean, rstd: [N].
// y = (x - mean) * rstd * weight + bias, rstd = 1 / sqrt(var + eps).
// Backward: dx = rstd * (dn - mean_c(dn) - n * mean_c(dn * n)), n = (x - mean) * rstd,
// dn = g * weight; dweight = sum_N g * n; dbias = sum_N g.

NormForward layer_norm_forward(const Tensor& x_in, const Tensor& weight, const Tensor& bias, double eps) {
  int64_t C = check_norm_args(x_in, weight, bias, eps, "layer_norm");
  Tensor x = x_in.contiguous();
  Tensor w = weight.defined() ? weight.contiguous() : weight, b = bias.defined() ? bias.contiguous() : bias;
  NormForward f{Tensor::empty(x.shape(), x.dtype()), row_stats(x, C), row_stats(x, C)};
  dispatch_float(x.dtype(), "layer_norm", [&](auto tag) {
    using T = decltype(tag);
    std::vector<T> ones, zeros;
    const T* wp = param_or(w, ones, C, T(1));
    const T* bp = param_or(b, zeros, C, T(0));
    layer_norm_fwd_rows(x.data<T>(), wp, bp, f.y.data<T>(), f.mean.data<T>(), f.rstd.data<T>(),
                        x.numel() / C, C, eps);
  });
  return f;
}

NormGrads layer_norm_backward(const Tensor& g_in, const Tensor& x_in, const Tensor& weight, const Tensor& mean,
                              const Tensor& rstd, bool need_dweight, bool need_dbias) {
  int64_t C = check_norm_args(x_in, weight, Tensor(), 0, "layer_norm_backward");
  check_saved(g_in, x_in, mean, C, "mean", "layer_norm_backward");
  check_saved(g_in, x_in, rstd, C, "rstd", "layer_norm_backward");
  Tensor g = g_in.contiguous(), x = x_in.contiguous(), w = weight.defined() ? weight.contiguous() : weight;
  Tensor m = mean.contiguous(), rs = rstd.contiguous();
  NormGrads out{Tensor::empty(x.shape(), x.dtype()), need_dweight ? Tensor::empty({C}, x.dtype()) : Tensor(),
                need_dbias ? Tensor::empty({C}, x.dtype()) : Tensor()};
  dispatch_float(x.dtype(), "layer_norm_backward", [&](auto tag) {
    using T = decltype(tag);
    std::vector<T> ones;
    const T* wp = param_or(w, ones, C, T(1));
    layer_norm_bwd_rows(g.data<T>(), x.data<T>(), wp, m.data<T>(), rs.data<T>(), out.dx.data<T>(),
                        need_dweight ? out.dweight.data<T>() : nullptr,
                        need_dbias ? out.dbias.data<T>() : nullptr, x.numel() / C, C);
  });
  return out;
}

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  NormForward f = layer_norm_forward(x, weight, bias, eps);
  if (autograd::should_record({x, weight, bias})) {
    Tensor xs = x.detach().contiguous(), ws = weight.defined() ? weight.detach() : Tensor();
    bool need_w = weight.defined() && weight.requires_grad(), need_b = bias.defined() && bias.requires_grad();
    Tensor mean = f.mean, rstd = f.rstd;
    autograd::record("layer_norm", {x, weight, bias}, f.y, [xs, ws, mean, rstd, need_w, need_b](const Tensor& g) {
      NormGrads d = layer_norm_backward(g, xs, ws, mean, rstd, need_w, need_b);
      return std::vector<Tensor>{d.dx, d.dweight, d.dbias};
    });
  }
  return f.y;
}

// ---- rms_norm ----
// x, y: [N, C]; weight: [C]; rstd: [N]. y = x * rstd * weight, rstd = 1 / sqrt(mean_c(x^2) + eps).
// Backward: dx = rstd * (dn - n * mean_c(dn * n)), n = x * rstd, dn = g * weight;
// dweight = sum_N g * n.

NormForward rms_norm_forward(const Tensor& x_in, const Tensor& weight, double eps) {
  int64_t C = check_norm_args(x_in, weight, Tensor(), eps, "rms_norm");
  Tensor x = x_in.contiguous(), w = weight.defined() ? weight.contiguous() : weight;
  NormForward f{Tensor::empty(x.shape(), x.dtype()), Tensor(), row_stats(x, C)};
  dispatch_float(x.dtype(), "rms_norm", [&](auto tag) {
    using T = decltype(tag);
    std::vector<T> ones;
    const T* wp = param_or(w, ones, C, T(1));
    rms_norm_fwd_rows(x.data<T>(), wp, f.y.data<T>(), f.rstd.data<T>(), x.numel() / C, C, eps);
  });
  return f;
}

NormGrads rms_norm_backward(const Tensor& g_in, const Tensor& x_in, const Tensor& weight, const Tensor& rstd,
                            bool need_dweight) {
  int64_t C = check_norm_args(x_in, weight, Tensor(), 0, "rms_norm_backward");
  check_saved(g_in, x_in, rstd, C, "rstd", "rms_norm_backward");
  Tensor g = g_in.contiguous(), x = x_in.contiguous(), w = weight.defined() ? weight.contiguous() : weight;
  Tensor rs = rstd.contiguous();
  NormGrads out{Tensor::empty(x.shape(), x.dtype()), need_dweight ? Tensor::empty({C}, x.dtype()) : Tensor(),
                Tensor()};
  dispatch_float(x.dtype(), "rms_norm_backward", [&](auto tag) {
    using T = decltype(tag);
    std::vector<T> ones;
    const T* wp = param_or(w, ones, C, T(1));
    rms_norm_bwd_rows(g.data<T>(), x.data<T>(), wp, rs.data<T>(), out.dx.data<T>(),
                      need_dweight ? out.dweight.data<T>() : nullptr, x.numel() / C, C);
  });
  return out;
}

Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps) {
  NormForward f = rms_norm_forward(x, weight, eps);
  if (autograd::should_record({x, weight})) {
    Tensor xs = x.detach().contiguous(), ws = weight.defined() ? weight.detach() : Tensor();
    bool need_w = weight.defined() && weight.requires_grad();
    Tensor rstd = f.rstd;
    autograd::record("rms_norm", {x, weight}, f.y, [xs, ws, rstd, need_w](const Tensor& g) {
      NormGrads d = rms_norm_backward(g, xs, ws, rstd, need_w);
      return std::vector<Tensor>{d.dx, d.dweight};
    });
  }
  return f.y;
}

// ---- l2_normalize ----
// x, y: [N, C]; rnorm: [N]. y = x * rnorm, rnorm = 1 / sqrt(sum_c x^2 + eps).
// Backward: dx = rnorm * (g - y * sum_c(g * y)) (the projection of g off y, over the norm).

namespace {
template <class T>
void l2_normalize_fwd_rows(const T* x, T* y, T* rnorm, int64_t rows, int64_t C, double eps) {
  parallel_for(0, rows, std::max<int64_t>(1, kGrain / C), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * C;
      T* yr = y + r * C;
      T rn = T(1.0 / std::sqrt(lane_sum_of<T>(C, [xr](int64_t i) { return xr[i] * xr[i]; }) + eps));
      for (int64_t j = 0; j < C; ++j) yr[j] = xr[j] * rn;
      rnorm[r] = rn;
    }
  });
}

template <class T>
void l2_normalize_bwd_rows(const T* g, const T* y, const T* rnorm, T* dx, int64_t rows, int64_t C) {
  parallel_for(0, rows, std::max<int64_t>(1, kGrain / C), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* gr = g + r * C;
      const T* yr = y + r * C;
      T gy = T(lane_sum_of<T>(C, [gr, yr](int64_t i) { return gr[i] * yr[i]; }));
      for (int64_t j = 0; j < C; ++j) dx[r * C + j] = (gr[j] - yr[j] * gy) * rnorm[r];
    }
  });
}
}  // namespace

Tensor l2_normalize(const Tensor& x_in, double eps) {
  int64_t C = check_norm_args(x_in, Tensor(), Tensor(), eps, "l2_normalize");
  Tensor x = x_in.contiguous();
  Tensor y = Tensor::empty(x.shape(), x.dtype()), rnorm = row_stats(x, C);
  dispatch_float(x.dtype(), "l2_normalize", [&](auto tag) {
    using T = decltype(tag);
    l2_normalize_fwd_rows(x.data<T>(), y.data<T>(), rnorm.data<T>(), x.numel() / C, C, eps);
  });
  if (autograd::should_record({x_in})) {
    Tensor ys = y.detach();
    autograd::record("l2_normalize", {x_in}, y, [ys, rnorm, C](const Tensor& g_in) {
      Tensor g = g_in.contiguous(), dx = Tensor::empty(ys.shape(), ys.dtype());
      check_saved(g, ys, rnorm, C, "rnorm", "l2_normalize_backward");
      dispatch_float(ys.dtype(), "l2_normalize_backward", [&](auto tag) {
        using T = decltype(tag);
        l2_normalize_bwd_rows(g.data<T>(), ys.data<T>(), rnorm.data<T>(), dx.data<T>(), ys.numel() / C, C);
      });
      return std::vector<Tensor>{dx};
    });
  }
  return y;
}

// ---- gradient-check cases ----

void add_norm_gradcases(std::vector<autograd::GradCase>& cases) {
  using Inputs = std::vector<Tensor>;
  auto input = [](Rng& rng, const Shape& s) {
    return Tensor::randn(s, rng, DType::F64).set_requires_grad(true);
  };
  auto around_one = [](Rng& rng, int64_t C) {  // a weight near 1 with some spread
    return Tensor::uniform({C}, rng, 0.5, 1.5, DType::F64).set_requires_grad(true);
  };
  cases.push_back({"layer_norm", "[3, 7] weight and bias",
                   [=](Rng& r) { return Inputs{input(r, {3, 7}), around_one(r, 7), input(r, {7})}; },
                   [](const Inputs& x) { return layer_norm(x[0], x[1], x[2], 1e-5); }});
  cases.push_back({"layer_norm", "[2, 3, 63] weight and bias",
                   [=](Rng& r) { return Inputs{input(r, {2, 3, 63}), around_one(r, 63), input(r, {63})}; },
                   [](const Inputs& x) { return layer_norm(x[0], x[1], x[2], 1e-5); }});
  cases.push_back({"layer_norm", "[5, 11] no weight, no bias", [=](Rng& r) { return Inputs{input(r, {5, 11})}; },
                   [](const Inputs& x) { return layer_norm(x[0], Tensor(), Tensor(), 1e-5); }});
  cases.push_back({"layer_norm", "[4, 3] weight only, C = 3",
                   [=](Rng& r) { return Inputs{input(r, {4, 3}), around_one(r, 3)}; },
                   [](const Inputs& x) { return layer_norm(x[0], x[1], Tensor(), 1e-5); }});
  cases.push_back({"rms_norm", "[3, 7] weight", [=](Rng& r) { return Inputs{input(r, {3, 7}), around_one(r, 7)}; },
                   [](const Inputs& x) { return rms_norm(x[0], x[1], 1e-6); }});
  cases.push_back({"rms_norm", "[2, 3, 63] weight",
                   [=](Rng& r) { return Inputs{input(r, {2, 3, 63}), around_one(r, 63)}; },
                   [](const Inputs& x) { return rms_norm(x[0], x[1], 1e-6); }});
  // With C = 1 and a tiny eps the output is sign(x) and the gradient vanishes below what
  // finite differences resolve; a large eps keeps it O(1).
  cases.push_back({"rms_norm", "[5, 1] no weight, C = 1, eps 0.5", [=](Rng& r) { return Inputs{input(r, {5, 1})}; },
                   [](const Inputs& x) { return rms_norm(x[0], Tensor(), 0.5); }});
  cases.push_back({"l2_normalize", "[3, 7]", [=](Rng& r) { return Inputs{input(r, {3, 7})}; },
                   [](const Inputs& x) { return l2_normalize(x[0]); }});
  cases.push_back({"l2_normalize", "[2, 3, 63]", [=](Rng& r) { return Inputs{input(r, {2, 3, 63})}; },
                   [](const Inputs& x) { return l2_normalize(x[0]); }});
  // A strided input (a transposed view), and eps large enough to matter.
  cases.push_back({"l2_normalize", "[4, 5] transposed, eps 0.5", [=](Rng& r) { return Inputs{input(r, {5, 4})}; },
                   [](const Inputs& x) { return l2_normalize(transpose(x[0], 0, 1), 0.5); }});
}

}  // namespace attnlab::ops
