#include "attnlab/ops/conv.h"

#include <algorithm>
#include <vector>

#include "attnlab/autograd/node.h"
#include "attnlab/core/parallel.h"
#include "attnlab/ops/gradcases.h"

namespace attnlab::ops {

ConvOptions ConvOptions::same(int64_t kernel, int64_t dilation, int64_t groups) {
  ATTNLAB_CHECK(kernel >= 1 && dilation >= 1, "ConvOptions::same: kernel ", kernel, " and dilation ",
                dilation, " must be >= 1");
  int64_t total = dilation * (kernel - 1);
  return {total / 2, total - total / 2, dilation, groups};
}

ConvOptions ConvOptions::causal(int64_t kernel, int64_t dilation, int64_t groups) {
  ATTNLAB_CHECK(kernel >= 1 && dilation >= 1, "ConvOptions::causal: kernel ", kernel,
                " and dilation ", dilation, " must be >= 1");
  return {dilation * (kernel - 1), 0, dilation, groups};
}

namespace {

// Enough multiply-adds per parallel chunk that fork/join costs little against them.
constexpr int64_t kGrainWork = 1 << 15;

struct ConvDims {
  int64_t B, C_in, T, C_out, K, T_out;
  int64_t groups, cin_g, cout_g;  // channels per group
  int64_t pad_left, dilation;
};

ConvDims conv_check(const Tensor& x, const Tensor& w, const Tensor& bias, const ConvOptions& o) {
  ATTNLAB_CHECK(x.dim() == 3, "conv1d: x must be [B, C_in, T], got ", shape_str(x.shape()));
  ATTNLAB_CHECK(w.dim() == 3, "conv1d: weight must be [C_out, C_in/groups, K], got ",
                shape_str(w.shape()));
  ATTNLAB_CHECK(x.dtype() == DType::F32 || x.dtype() == DType::F64,
                "conv1d: expected a float32 or float64 x, got ", dtype_name(x.dtype()));
  ATTNLAB_CHECK(w.dtype() == x.dtype(), "conv1d: weight is ", dtype_name(w.dtype()), ", x is ",
                dtype_name(x.dtype()));
  ATTNLAB_CHECK(o.groups >= 1, "conv1d: groups must be >= 1, got ", o.groups);
  ATTNLAB_CHECK(o.dilation >= 1, "conv1d: dilation must be >= 1, got ", o.dilation);
  ATTNLAB_CHECK(o.padding_left >= 0 && o.padding_right >= 0, "conv1d: padding must be >= 0, got left ",
                o.padding_left, " and right ", o.padding_right);
  ConvDims d{};
  d.B = x.size(0), d.C_in = x.size(1), d.T = x.size(2);
  d.C_out = w.size(0), d.K = w.size(2);
  d.groups = o.groups, d.pad_left = o.padding_left, d.dilation = o.dilation;
  ATTNLAB_CHECK(d.C_in % d.groups == 0 && d.C_out % d.groups == 0, "conv1d: groups = ", d.groups,
                " must divide C_in = ", d.C_in, " and C_out = ", d.C_out);
  d.cin_g = d.C_in / d.groups, d.cout_g = d.C_out / d.groups;
  ATTNLAB_CHECK(w.size(1) == d.cin_g && d.K >= 1, "conv1d: weight ", shape_str(w.shape()),
                " does not fit x ", shape_str(x.shape()), " with groups = ", d.groups, " (expected [",
                d.C_out, ", ", d.cin_g, ", K >= 1])");
  if (bias.defined()) {
    ATTNLAB_CHECK(bias.dim() == 1 && bias.size(0) == d.C_out, "conv1d: bias must be [C_out] = [",
                  d.C_out, "], got ", shape_str(bias.shape()));
    ATTNLAB_CHECK(bias.dtype() == x.dtype(), "conv1d: bias is ", dtype_name(bias.dtype()), ", x is ",
                  dtype_name(x.dtype()));
  }
  d.T_out = d.T + o.padding_left + o.padding_right - d.dilation * (d.K - 1);
  ATTNLAB_CHECK(d.T_out >= 1, "conv1d: output length T + padding_left + padding_right - dilation*(K-1) = ",
                d.T, " + ", o.padding_left, " + ", o.padding_right, " - ", d.dilation, "*", d.K - 1,
                " = ", d.T_out, " must be >= 1");
  return d;
}

// A dot product with independent lanes so the compiler vectorises it without
// reassociating; the summation order is fixed, so results do not depend on threads.
template <class T>
T dot_lanes(const T* __restrict a, const T* __restrict b, int64_t n) {
  constexpr int kLanes = 128 / int(sizeof(T));  // two 512-bit (four 256-bit) registers
  T acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] += a[i + j] * b[i + j];
  for (int j = 0; i < n; ++i, ++j) acc[j] += a[i] * b[i];
  for (int w = kLanes / 2; w >= 1; w /= 2)
    for (int j = 0; j < w; ++j) acc[j] += acc[j + w];
  return acc[0];
}

template <class T>
T sum_lanes(const T* __restrict a, int64_t n) {
  constexpr int kLanes = 128 / int(sizeof(T));
  T acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] += a[i + j];
  for (int j = 0; i < n; ++i, ++j) acc[j] += a[i];
  for (int w = kLanes / 2; w >= 1; w /= 2)
    for (int j = 0; j < w; ++j) acc[j] += acc[j + w];
  return acc[0];
}

// One output row: y[t] = init + sum_k w[k] * x[t + k * dilation - pad] for t in [0, Ty),
// x read as zero outside [0, Tx); init is y[t] itself (accumulate) or b0. pad may be
// negative (the backward's flipped taps). With the kernel size KK fixed at compile
// time the taps are fused into one pass over the row, which keeps depthwise
// convolution at memory speed; KK = 0 takes any K, one pass per tap.
template <class T, int KK>
void conv_row(const T* x, int64_t Tx, T* y, int64_t Ty, const T* w, int64_t K, int64_t dilation,
              int64_t pad, bool accumulate, T b0) {
  const int64_t Kn = KK > 0 ? KK : K;
  // [lo, hi): outputs whose taps all lie inside x; the few others check each tap.
  const int64_t lo = std::clamp<int64_t>(pad, 0, Ty);
  const int64_t hi = std::clamp<int64_t>(Tx - (Kn - 1) * dilation + pad, lo, Ty);
  auto edge = [&](int64_t t) {
    T a = accumulate ? y[t] : b0;
    for (int64_t k = 0; k < Kn; ++k) {
      int64_t src = t + k * dilation - pad;
      if (src >= 0 && src < Tx) a += w[k] * x[src];
    }
    y[t] = a;
  };
  for (int64_t t = 0; t < lo; ++t) edge(t);
  for (int64_t t = hi; t < Ty; ++t) edge(t);
  const int64_t n = hi - lo;
  if (n == 0) return;
  const T* __restrict xs = x + (lo - pad);
  T* __restrict ys = y + lo;
  if constexpr (KK > 0) {
    T wk[KK];
    for (int k = 0; k < KK; ++k) wk[k] = w[k];
    if (accumulate) {
      for (int64_t t = 0; t < n; ++t) {
        T a = ys[t];
        for (int k = 0; k < KK; ++k) a += wk[k] * xs[t + k * dilation];
        ys[t] = a;
      }
    } else {
      for (int64_t t = 0; t < n; ++t) {
        T a = b0;
        for (int k = 0; k < KK; ++k) a += wk[k] * xs[t + k * dilation];
        ys[t] = a;
      }
    }
  } else {
    if (!accumulate)
      for (int64_t t = 0; t < n; ++t) ys[t] = b0;
    for (int64_t k = 0; k < K; ++k) {
      const T* __restrict xk = xs + k * dilation;
      T wk = w[k];
      for (int64_t t = 0; t < n; ++t) ys[t] += wk * xk[t];
    }
  }
}

template <class T>
using ConvRowFn = void (*)(const T*, int64_t, T*, int64_t, const T*, int64_t, int64_t, int64_t, bool, T);

// Short kernels (token mixing uses 3 or 4) get the fused row; longer ones the generic one.
template <class T>
ConvRowFn<T> conv_row_for(int64_t K) {
  switch (K) {
    case 1: return conv_row<T, 1>;
    case 2: return conv_row<T, 2>;
    case 3: return conv_row<T, 3>;
    case 4: return conv_row<T, 4>;
    case 5: return conv_row<T, 5>;
    case 6: return conv_row<T, 6>;
    case 7: return conv_row<T, 7>;
    case 8: return conv_row<T, 8>;
    default: return conv_row<T, 0>;
  }
}

// ---- forward ----
// One task per output row (b, o): y[b, o, :] = bias[o] + the rows of o's group's inputs,
// each convolved with its taps. The row stays in L1 across the C_in/groups passes, so
// depthwise convolution streams x and y through memory once.
template <class T>
void conv1d_fwd(const ConvDims& d, const T* x, const T* w, const T* bias, T* y) {
  int64_t rows = d.B * d.C_out, work = std::max<int64_t>(1, d.cin_g * d.K * d.T_out);
  ConvRowFn<T> row = conv_row_for<T>(d.K);
  parallel_for(0, rows, std::max<int64_t>(1, kGrainWork / work), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t b = r / d.C_out, o = r % d.C_out, g = o / d.cout_g;
      T* yr = y + r * d.T_out;
      T b0 = bias ? bias[o] : T(0);
      if (d.cin_g == 0) std::fill(yr, yr + d.T_out, b0);  // no inputs: the bias alone
      for (int64_t c = 0; c < d.cin_g; ++c)
        row(x + (b * d.C_in + g * d.cin_g + c) * d.T, d.T, yr, d.T_out, w + (o * d.cin_g + c) * d.K, d.K,
            d.dilation, d.pad_left, c > 0, b0);
    }
  });
}

// ---- backward ----
// dx[s] = sum_k w[k] gy[s - k*dilation + pad_left]: the forward's row with the taps
// flipped (tap k' = K-1-k) and pad_left' = (K-1)*dilation - pad_left, reading gy. One
// task per input row (b, i), adding the rows of every output channel of i's group.
template <class T>
void conv1d_bwd_x(const ConvDims& d, const T* gy, const T* w, T* gx) {
  int64_t rows = d.B * d.C_in, work = std::max<int64_t>(1, d.cout_g * d.K * d.T_out);
  ConvRowFn<T> row = conv_row_for<T>(d.K);
  const int64_t pad = (d.K - 1) * d.dilation - d.pad_left;
  parallel_for(0, rows, std::max<int64_t>(1, kGrainWork / work), [&](int64_t r0, int64_t r1) {
    std::vector<T> flipped(size_t(d.K));
    for (int64_t r = r0; r < r1; ++r) {
      int64_t b = r / d.C_in, i = r % d.C_in, g = i / d.cin_g, c = i % d.cin_g;
      T* xr = gx + r * d.T;
      if (d.cout_g == 0) std::fill(xr, xr + d.T, T(0));  // no outputs read this input
      for (int64_t o = g * d.cout_g; o < (g + 1) * d.cout_g; ++o) {
        const T* wr = w + (o * d.cin_g + c) * d.K;
        for (int64_t k = 0; k < d.K; ++k) flipped[size_t(k)] = wr[d.K - 1 - k];
        row(gy + (b * d.C_out + o) * d.T_out, d.T_out, xr, d.T, flipped.data(), d.K, d.dilation, pad,
            o > g * d.cout_g, T(0));
      }
    }
  });
}

// acc[k] += sum_t g[t] * x[t + k * dilation - pad] over t in [0, Tg), x zero outside
// [0, Tx): the weight gradient of one (output row, input row) pair, one dot product
// per tap over the outputs that tap reads inside x. The rows stay in L1 across the
// taps. (Fusing the taps into one pass measured 2x slower: the compiler keeps the
// per-tap lanes in memory.)
template <class T>
void conv_row_dw(const T* g, int64_t Tg, const T* x, int64_t Tx, int64_t K, int64_t dilation, int64_t pad,
                 double* acc) {
  for (int64_t k = 0; k < K; ++k) {
    int64_t shift = k * dilation - pad;
    int64_t lo = std::clamp<int64_t>(-shift, 0, Tg), hi = std::clamp<int64_t>(Tx - shift, lo, Tg);
    if (hi > lo) acc[k] += double(dot_lanes(g + lo, x + (lo + shift), hi - lo));
  }
}

// dweight and dbias: one task per output channel o, summing over the batch in order, so
// no two threads write the same weight and the sum order is fixed. Batch partial sums
// are kept in double: they add B dot products of length T_out each.
template <class T>
void conv1d_bwd_w(const ConvDims& d, const T* gy, const T* x, T* gw, T* gb) {
  int64_t work = std::max<int64_t>(1, d.B * d.cin_g * d.K * d.T_out);
  parallel_for(0, d.C_out, std::max<int64_t>(1, kGrainWork / work), [&](int64_t o0, int64_t o1) {
    std::vector<double> acc(size_t(d.cin_g * d.K));
    for (int64_t o = o0; o < o1; ++o) {
      int64_t g = o / d.cout_g;
      std::fill(acc.begin(), acc.end(), 0.0);
      double bias_acc = 0;
      for (int64_t b = 0; b < d.B; ++b) {
        const T* gr = gy + (b * d.C_out + o) * d.T_out;
        if (gb) bias_acc += double(sum_lanes(gr, d.T_out));
        if (!gw) continue;
        for (int64_t c = 0; c < d.cin_g; ++c)
          conv_row_dw(gr, d.T_out, x + (b * d.C_in + g * d.cin_g + c) * d.T, d.T, d.K, d.dilation, d.pad_left,
                      acc.data() + c * d.K);
      }
      if (gb) gb[o] = T(bias_acc);
      if (gw)
        for (int64_t j = 0; j < d.cin_g * d.K; ++j) gw[o * d.cin_g * d.K + j] = T(acc[size_t(j)]);
    }
  });
}

}  // namespace

Tensor conv1d(const Tensor& x_in, const Tensor& w_in, const Tensor& bias_in, const ConvOptions& options) {
  ConvDims d = conv_check(x_in, w_in, bias_in, options);
  Tensor x = x_in.contiguous(), w = w_in.contiguous();
  Tensor bias = bias_in.defined() ? bias_in.contiguous() : Tensor();
  Tensor y = Tensor::empty({d.B, d.C_out, d.T_out}, x.dtype());
  dispatch_float(x.dtype(), "conv1d", [&](auto tag) {
    using T = decltype(tag);
    conv1d_fwd<T>(d, x.data<T>(), w.data<T>(), bias.defined() ? bias.data<T>() : nullptr, y.data<T>());
  });
  if (autograd::should_record({x_in, w_in, bias_in})) {
    bool need_x = x_in.requires_grad(), need_w = w_in.requires_grad();
    bool need_b = bias_in.defined() && bias_in.requires_grad();
    // Save only what the wanted gradients read: dx needs the weight, dweight needs x.
    Tensor x_saved = need_w ? x.detach() : Tensor(), w_saved = need_x ? w.detach() : Tensor();
    autograd::record("conv1d", {x_in, w_in, bias_in}, y,
                     [d, x_saved, w_saved, need_x, need_w, need_b](const Tensor& gy) {
      Tensor gx = need_x ? Tensor::empty({d.B, d.C_in, d.T}, gy.dtype()) : Tensor();
      Tensor gw = need_w ? Tensor::empty({d.C_out, d.cin_g, d.K}, gy.dtype()) : Tensor();
      Tensor gb = need_b ? Tensor::empty({d.C_out}, gy.dtype()) : Tensor();
      dispatch_float(gy.dtype(), "conv1d backward", [&](auto tag) {
        using T = decltype(tag);
        if (need_x) conv1d_bwd_x<T>(d, gy.data<T>(), w_saved.data<T>(), gx.data<T>());
        if (need_w || need_b)
          conv1d_bwd_w<T>(d, gy.data<T>(), need_w ? x_saved.data<T>() : nullptr,
                          need_w ? gw.data<T>() : nullptr, need_b ? gb.data<T>() : nullptr);
      });
      return std::vector<Tensor>{gx, gw, gb};
    });
  }
  return y;
}

// ---- gradient-check cases ----

void add_conv_gradcases(std::vector<autograd::GradCase>& cases) {
  using Inputs = std::vector<Tensor>;
  auto input = [](Rng& rng, const Shape& s) {
    return Tensor::randn(s, rng, DType::F64).set_requires_grad(true);
  };
  struct Case {
    const char* label;
    int64_t B, C_in, C_out, T, K;
    ConvOptions opt;
    bool bias;
  };
  const Case list[] = {
      {"plain [2, 3, 7] K=3, bias", 2, 3, 4, 7, 3, {}, true},
      {"plain, no bias, T=1 K=1", 1, 2, 3, 1, 1, {}, false},
      {"padded left 2 right 1, no bias", 2, 3, 2, 5, 3, {2, 1, 1, 1}, false},
      {"grouped 6 -> 4, groups 2, K=4 same (1 left, 2 right)", 2, 6, 4, 9, 4, ConvOptions::same(4, 1, 2), true},
      {"depthwise 5 channels K=4 causal", 2, 5, 5, 11, 4, ConvOptions::causal_depthwise(4, 5), true},
      {"depthwise multiplier 2 (5 -> 10)", 1, 5, 10, 6, 2, {1, 0, 1, 5}, false},
      {"dilated 2, K=4, same", 1, 3, 2, 13, 4, ConvOptions::same(4, 2), true},
      {"causal dilated 3, K=2, no bias", 2, 2, 3, 10, 2, ConvOptions::causal(2, 3), false},
      {"kernel longer than input, padded", 1, 2, 2, 3, 5, {3, 2, 1, 1}, true},
  };
  for (const Case& c : list) {
    cases.push_back({"conv1d", c.label,
                     [=](Rng& r) {
                       Inputs in{input(r, {c.B, c.C_in, c.T}), input(r, {c.C_out, c.C_in / c.opt.groups, c.K})};
                       if (c.bias) in.push_back(input(r, {c.C_out}));
                       return in;
                     },
                     [=](const Inputs& in) {
                       return conv1d(in[0], in[1], in.size() > 2 ? in[2] : Tensor(), c.opt);
                     }});
  }
}

}  // namespace attnlab::ops
