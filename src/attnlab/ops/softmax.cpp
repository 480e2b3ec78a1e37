#include "attnlab/ops/softmax.h"

#include <algorithm>
#include <cmath>

#include "attnlab/autograd/node.h"
#include "attnlab/core/parallel.h"
#include "attnlab/kernels/cpu/lanes.h"
#include "attnlab/ops/gradcases.h"

namespace attnlab::ops {

namespace {

using kernels::exp_lane;
using kernels::kNegInf;
using kernels::lane_dot;
using kernels::lane_exp_sum;
using kernels::lane_max;
using kernels::lane_sum;

constexpr int64_t kGrain = 1 << 14;  // elements per thread below which rows stay serial
// A row is processed in blocks that stay in L1 (8 KiB of float32) while they are read a
// second time; a row of up to kBlock elements is one block, and longer rows (vocabulary
// logits, long attention rows) combine their blocks with the running maximum.
constexpr int64_t kBlock = 2048;

// One pass over the row in blocks: each block's maximum mb, e = exp(x - mb) written to y
// and summed, and the running (max m, sum s) rescaled when a block raises the maximum.
// Returns m (-inf for a row with no finite or +inf entry) and sets s; block maxima go to
// block_max. A block whose maximum is -inf writes y = 0 for -inf entries and keeps NaN.
template <class T>
T exp_blocks(const T* x, T* y, int64_t n, T* block_max, double& s) {
  T m = kNegInf<T>;
  s = 0;
  for (int64_t b = 0, k = 0; b < n; b += kBlock, ++k) {
    int64_t len = std::min(kBlock, n - b);
    const T* xb = x + b;
    T* yb = y + b;
    T mb = lane_max(xb, len);
    block_max[k] = mb;
    if (mb == kNegInf<T>) {
      for (int64_t j = 0; j < len; ++j) yb[j] = xb[j] == kNegInf<T> ? T(0) : xb[j];
      continue;
    }
    double sb = lane_exp_sum(xb, yb, len, mb);
    if (mb > m) {
      s = s * std::exp(double(m) - double(mb)) + sb;  // exp(-inf) = 0 on the first block
      m = mb;
    } else {
      s += sb * std::exp(double(mb) - double(m));
    }
  }
  return m;
}

template <class T>
void softmax_rows(const T* x, T* y, int64_t rows, int64_t n) {
  int64_t blocks = (n + kBlock - 1) / kBlock;
  parallel_for(0, rows, std::max<int64_t>(1, kGrain / n), [&](int64_t r0, int64_t r1) {
    std::vector<T> block_max(static_cast<size_t>(blocks));  // once per thread, not per row
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * n;
      T* yr = y + r * n;
      double s;
      T m = exp_blocks(xr, yr, n, block_max.data(), s);
      for (int64_t b = 0, k = 0; b < n; b += kBlock, ++k) {
        int64_t len = std::min(kBlock, n - b);
        // A fully masked row (m = -inf) or block keeps its zeros: factor 0.
        T f = (m == kNegInf<T> || block_max[size_t(k)] == kNegInf<T>)
                  ? T(0)
                  : T(std::exp(double(block_max[size_t(k)]) - double(m)) / s);
        T* yb = yr + b;
        for (int64_t j = 0; j < len; ++j) yb[j] *= f;
      }
    }
  });
}

template <class T>
void log_softmax_rows(const T* x, T* y, int64_t rows, int64_t n) {
  int64_t blocks = (n + kBlock - 1) / kBlock;
  parallel_for(0, rows, std::max<int64_t>(1, kGrain / n), [&](int64_t r0, int64_t r1) {
    std::vector<T> block_max(static_cast<size_t>(blocks));
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * n;
      T* yr = y + r * n;  // scratch for the exponentials, then the result
      double s;
      T m = exp_blocks(xr, yr, n, block_max.data(), s);
      if (m == kNegInf<T>) {  // fully masked: the log of zero probabilities, -inf, is x
        for (int64_t j = 0; j < n; ++j) yr[j] = xr[j];
        continue;
      }
      // (x - m) - log s, not x - (m + log s): x - m is exact for x near m, while m + log s
      // rounded to float32 loses ~1e-3 when the logits are ~1e4.
      T log_s = T(std::log(s));
      for (int64_t j = 0; j < n; ++j) yr[j] = (xr[j] - m) - log_s;
    }
  });
}

// dx = y * (g - sum g*y), per row.
template <class T>
void softmax_bwd_rows(const T* y, const T* g, T* dx, int64_t rows, int64_t n) {
  parallel_for(0, rows, std::max<int64_t>(1, kGrain / n), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* yr = y + r * n;
      const T* gr = g + r * n;
      T* dr = dx + r * n;
      T dot = T(lane_dot(gr, yr, n));
      for (int64_t j = 0; j < n; ++j) dr[j] = yr[j] * (gr[j] - dot);
    }
  });
}

// dx = g - exp(y) * sum g, per row (exp(y) is the softmax).
template <class T>
void log_softmax_bwd_rows(const T* y, const T* g, T* dx, int64_t rows, int64_t n) {
  parallel_for(0, rows, std::max<int64_t>(1, kGrain / n), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* yr = y + r * n;
      const T* gr = g + r * n;
      T* dr = dx + r * n;
      T sg = T(lane_sum(gr, n));
      for (int64_t j = 0; j < n; ++j) dr[j] = gr[j] - exp_lane(yr[j]) * sg;
    }
  });
}

void check_rows(const Tensor& x, const char* op) {
  ATTNLAB_CHECK(x.dim() >= 1, op, ": expected a tensor with at least one dimension [..., C], got a 0-d tensor");
}

// Runs rows(x, y, rows, C) over x's rows into a fresh output.
template <class Rows>
Tensor row_forward(const Tensor& x_in, const char* op, Rows rows_fn) {
  check_rows(x_in, op);
  Tensor x = x_in.contiguous();
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  int64_t n = x.shape().back();
  dispatch_float(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    if (x.numel() == 0) return;
    rows_fn(x.data<T>(), out.data<T>(), x.numel() / n, n);
  });
  return out;
}

template <class Rows>
Tensor row_backward(const Tensor& y_in, const Tensor& g_in, const char* op, Rows rows_fn) {
  check_rows(y_in, op);
  ATTNLAB_CHECK(y_in.shape() == g_in.shape(), op, ": gradient of shape ", shape_str(g_in.shape()),
                " for an output of shape ", shape_str(y_in.shape()));
  ATTNLAB_CHECK(y_in.dtype() == g_in.dtype(), op, ": gradient is ", dtype_name(g_in.dtype()),
                ", the output is ", dtype_name(y_in.dtype()));
  Tensor y = y_in.contiguous(), g = g_in.contiguous();
  Tensor dx = Tensor::empty(y.shape(), y.dtype());
  int64_t n = y.shape().back();
  dispatch_float(y.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    if (y.numel() == 0) return;
    rows_fn(y.data<T>(), g.data<T>(), dx.data<T>(), y.numel() / n, n);
  });
  return dx;
}

}  // namespace

// ---- softmax ----
// x, y: [N, C] (N = all leading dimensions). y = exp(x - max) / sum exp(x - max).
// Backward: dx = y * (g - sum_c g*y).

Tensor softmax(const Tensor& x) {
  Tensor out = row_forward(x, "softmax", [](auto* xp, auto* yp, int64_t rows, int64_t n) {
    softmax_rows(xp, yp, rows, n);
  });
  if (autograd::should_record({x})) {
    Tensor y = out.detach();
    autograd::record("softmax", {x}, out, [y](const Tensor& g) {
      return std::vector<Tensor>{softmax_backward(y, g)};
    });
  }
  return out;
}

Tensor softmax_backward(const Tensor& y, const Tensor& g) {
  return row_backward(y, g, "softmax_backward", [](auto* yp, auto* gp, auto* dp, int64_t rows, int64_t n) {
    softmax_bwd_rows(yp, gp, dp, rows, n);
  });
}

// ---- log_softmax ----
// x, y: [N, C]. y = x - max - log(sum exp(x - max)).
// Backward: dx = g - softmax(x) * sum_c g, with softmax(x) = exp(y).

Tensor log_softmax(const Tensor& x) {
  Tensor out = row_forward(x, "log_softmax", [](auto* xp, auto* yp, int64_t rows, int64_t n) {
    log_softmax_rows(xp, yp, rows, n);
  });
  if (autograd::should_record({x})) {
    Tensor y = out.detach();
    autograd::record("log_softmax", {x}, out, [y](const Tensor& g) {
      return std::vector<Tensor>{log_softmax_backward(y, g)};
    });
  }
  return out;
}

Tensor log_softmax_backward(const Tensor& y, const Tensor& g) {
  return row_backward(y, g, "log_softmax_backward", [](auto* yp, auto* gp, auto* dp, int64_t rows, int64_t n) {
    log_softmax_bwd_rows(yp, gp, dp, rows, n);
  });
}

// ---- gradient-check cases ----

void add_softmax_gradcases(std::vector<autograd::GradCase>& cases) {
  using Inputs = std::vector<Tensor>;
  auto input = [](Rng& rng, const Shape& s, double std) {
    return Tensor::randn(s, rng, DType::F64, std).set_requires_grad(true);
  };
  struct Op { const char* name; Tensor (*fn)(const Tensor&); };
  for (Op op : {Op{"softmax", softmax}, Op{"log_softmax", log_softmax}}) {
    auto fn = op.fn;
    cases.push_back({op.name, "[3, 7]", [=](Rng& r) { return Inputs{input(r, {3, 7}, 1.0)}; },
                     [fn](const Inputs& x) { return fn(x[0]); }});
    cases.push_back({op.name, "[2, 3, 63] large logits", [=](Rng& r) { return Inputs{input(r, {2, 3, 63}, 5.0)}; },
                     [fn](const Inputs& x) { return fn(x[0]); }});
    cases.push_back({op.name, "[1] single column", [=](Rng& r) { return Inputs{input(r, {1}, 1.0)}; },
                     [fn](const Inputs& x) { return fn(x[0]); }});
    // Rows longer than a block go through the online combination. Many outputs make the
    // finite differences noisy at eps 1e-6; the function is smooth enough for 1e-5.
    autograd::GradCase longer{op.name, "[2, 2100] two blocks (online max)",
                              [=](Rng& r) { return Inputs{input(r, {2, 2100}, 2.0)}; },
                              [fn](const Inputs& x) { return fn(x[0]); }};
    longer.eps = 1e-5;
    cases.push_back(longer);
  }
}

}  // namespace attnlab::ops
