#include "attnlab/ops/elementwise.h"

#include <cmath>

#include "attnlab/autograd/node.h"
#include "attnlab/core/parallel.h"
#include "attnlab/kernels/cpu/lanes.h"
#include "attnlab/ops/broadcast.h"
#include "attnlab/ops/gradcases.h"

namespace attnlab::ops {

namespace {

constexpr int64_t kGrain = 1 << 14;

// 1 / (1 + exp(-x)) through kernels::exp_lane: for float a branch-free exp the compiler
// vectorises (glibc's expf, tanhf and expm1f are one call per element and made GELU and
// SiLU about 8% of a training step); for double std::exp, exact as before. Large |x|
// gives exactly 0 or 1 (exp_lane returns +inf above 88), NaN stays NaN.
template <class T>
inline T sigmoid_lane(T x) {
  return T(1) / (T(1) + kernels::exp_lane(-x));
}

void check_same_dtype(const Tensor& a, const Tensor& b, const char* op) {
  ATTNLAB_CHECK(a.dtype() == b.dtype(), op, ": dtypes differ (", dtype_name(a.dtype()), " and ",
                dtype_name(b.dtype()), ")");
}

// out[i] = f(a[i], b[i]) over the broadcast shape. Same-shape contiguous inputs take a
// flat loop; everything else walks strides (0 along broadcast dimensions).
template <class F>
Tensor binary_forward(const Tensor& a, const Tensor& b, const char* op, F f) {
  check_same_dtype(a, b, op);
  Shape shape = broadcast_shapes(a.shape(), b.shape(), op);
  Tensor out = Tensor::empty(shape, a.dtype());
  dispatch_float(a.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    T* o = out.data<T>();
    if (a.shape() == b.shape() && a.is_contiguous() && b.is_contiguous()) {
      const T* x = a.data<T>();
      const T* y = b.data<T>();
      parallel_for(0, out.numel(), kGrain, [&](int64_t s, int64_t e) {
        for (int64_t i = s; i < e; ++i) o[i] = f(x[i], y[i]);
      });
      return;
    }
    Shape sa = broadcast_strides(a, shape), sb = broadcast_strides(b, shape);
    const T* x = static_cast<const T*>(a.storage()->data()) + a.offset();
    const T* y = static_cast<const T*>(b.storage()->data()) + b.offset();
    int64_t nd = int64_t(shape.size());
    if (out.numel() == 0) return;
    int64_t inner = nd ? shape[size_t(nd - 1)] : 1;
    int64_t ia = nd ? sa[size_t(nd - 1)] : 0, ib = nd ? sb[size_t(nd - 1)] : 0;
    int64_t outer = out.numel() / inner;
    parallel_for(0, outer, std::max<int64_t>(1, kGrain / inner), [&](int64_t s, int64_t e) {
      for (int64_t r = s; r < e; ++r) {
        int64_t rem = r, oa = 0, ob = 0;
        for (int64_t d = nd - 2; d >= 0; --d) {
          int64_t idx = rem % shape[size_t(d)];
          rem /= shape[size_t(d)];
          oa += idx * sa[size_t(d)];
          ob += idx * sb[size_t(d)];
        }
        T* orow = o + r * inner;
        for (int64_t j = 0; j < inner; ++j) orow[j] = f(x[oa + j * ia], y[ob + j * ib]);
      }
    });
  });
  return out;
}

// out[i] = f(a[i]); the backward is given (x, y, g) -> dx for each element.
template <class Fwd, class Bwd>
Tensor unary_op(const Tensor& a_in, const char* op, Fwd fwd, Bwd bwd) {
  Tensor a = a_in.contiguous();
  Tensor out = Tensor::empty(a.shape(), a.dtype());
  dispatch_float(a.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    const T* x = a.data<T>();
    T* y = out.data<T>();
    parallel_for(0, a.numel(), kGrain, [&](int64_t s, int64_t e) {
      ATTNLAB_SIMD for (int64_t i = s; i < e; ++i) y[i] = fwd(x[i]);
    });
  });
  if (autograd::should_record({a_in})) {
    Tensor y_saved = out.detach();
    autograd::record(op, {a_in}, out, [a, y_saved, bwd, op](const Tensor& g) {
      Tensor gx = Tensor::empty(a.shape(), a.dtype());
      dispatch_float(a.dtype(), op, [&](auto tag) {
        using T = decltype(tag);
        const T* x = a.data<T>();
        const T* y = y_saved.data<T>();
        const T* gg = g.data<T>();
        T* d = gx.data<T>();
        parallel_for(0, a.numel(), kGrain, [&](int64_t s, int64_t e) {
          ATTNLAB_SIMD for (int64_t i = s; i < e; ++i) d[i] = bwd(x[i], y[i], gg[i]);
        });
      });
      return std::vector<Tensor>{gx};
    });
  }
  return out;
}

}  // namespace

// ---- binary ----

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(a, b, "add", [](auto x, auto y) { return x + y; });
  if (autograd::should_record({a, b})) {
    Shape sa = a.shape(), sb = b.shape();
    autograd::record("add", {a, b}, out, [sa, sb](const Tensor& g) {
      return std::vector<Tensor>{sum_to_shape(g, sa), sum_to_shape(g, sb)};
    });
  }
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(a, b, "sub", [](auto x, auto y) { return x - y; });
  if (autograd::should_record({a, b})) {
    Shape sa = a.shape(), sb = b.shape();
    autograd::record("sub", {a, b}, out, [sa, sb](const Tensor& g) {
      return std::vector<Tensor>{sum_to_shape(g, sa), sum_to_shape(neg(g), sb)};
    });
  }
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(a, b, "mul", [](auto x, auto y) { return x * y; });
  if (autograd::should_record({a, b})) {
    Tensor as = a.detach(), bs = b.detach();
    bool need_a = a.requires_grad(), need_b = b.requires_grad();
    autograd::record("mul", {a, b}, out, [as, bs, need_a, need_b](const Tensor& g) {
      Tensor ga = need_a ? sum_to_shape(mul(g, bs), as.shape()) : Tensor();
      Tensor gb = need_b ? sum_to_shape(mul(g, as), bs.shape()) : Tensor();
      return std::vector<Tensor>{ga, gb};
    });
  }
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(a, b, "div", [](auto x, auto y) { return x / y; });
  if (autograd::should_record({a, b})) {
    Tensor as = a.detach(), bs = b.detach(), os = out.detach();
    bool need_a = a.requires_grad(), need_b = b.requires_grad();
    autograd::record("div", {a, b}, out, [as, bs, os, need_a, need_b](const Tensor& g) {
      Tensor g_over_b = div(g, bs);
      Tensor ga = need_a ? sum_to_shape(g_over_b, as.shape()) : Tensor();
      // d(a/b)/db = -(a/b)/b
      Tensor gb = need_b ? sum_to_shape(neg(mul(g_over_b, os)), bs.shape()) : Tensor();
      return std::vector<Tensor>{ga, gb};
    });
  }
  return out;
}

// ---- scalar ----

Tensor scale(const Tensor& a, double s) {
  return unary_op(a, "scale", [s](auto x) { return decltype(x)(x * s); },
                  [s](auto, auto, auto g) { return decltype(g)(g * s); });
}

Tensor add_scalar(const Tensor& a, double s) {
  return unary_op(a, "add_scalar", [s](auto x) { return decltype(x)(x + s); },
                  [](auto, auto, auto g) { return g; });
}

// ---- unary ----

Tensor neg(const Tensor& a) {
  return unary_op(a, "neg", [](auto x) { return -x; }, [](auto, auto, auto g) { return -g; });
}

Tensor exp(const Tensor& a) {
  return unary_op(a, "exp", [](auto x) { return std::exp(x); },
                  [](auto, auto y, auto g) { return g * y; });
}

Tensor log(const Tensor& a) {
  return unary_op(a, "log", [](auto x) { return std::log(x); },
                  [](auto x, auto, auto g) { return g / x; });
}

Tensor sqrt(const Tensor& a) {
  return unary_op(a, "sqrt", [](auto x) { return std::sqrt(x); },
                  [](auto, auto y, auto g) { return g / (y + y); });
}

Tensor sigmoid(const Tensor& a) {
  return unary_op(a, "sigmoid", [](auto x) { return sigmoid_lane(x); },
                  [](auto, auto y, auto g) { return g * y * (decltype(y)(1) - y); });
}

Tensor silu(const Tensor& a) {
  return unary_op(a, "silu", [](auto x) { return x * sigmoid_lane(x); },
                  [](auto x, auto, auto g) {
                    using T = decltype(x);
                    T s = sigmoid_lane(x);
                    return g * s * (T(1) + x * (T(1) - s));
                  });
}

Tensor gelu(const Tensor& a) {
  return unary_op(a, "gelu",
                  [](auto x) {
                    using T = decltype(x);
                    return T(0.5) * x * (T(1) + std::erf(x * T(0.70710678118654752440)));
                  },
                  [](auto x, auto, auto g) {
                    using T = decltype(x);
                    T cdf = T(0.5) * (T(1) + std::erf(x * T(0.70710678118654752440)));
                    T pdf = T(0.39894228040143267794) * std::exp(T(-0.5) * x * x);
                    return g * (cdf + x * pdf);
                  });
}

Tensor gelu_tanh(const Tensor& a) {
  // 0.5 x (1 + tanh(u)), u = c (x + 0.044715 x^3), c = sqrt(2/pi); since 1 + tanh(u) =
  // 2 sigmoid(2u) this is x sigmoid(2u), one vectorisable exp (sigmoid_lane).
  // Backward: with s = sigmoid(2u), tanh(u) = 2s - 1 and 1 - tanh^2 = 4 s (1 - s), so
  // d/dx = s + 2 x s (1 - s) u'.
  return unary_op(a, "gelu_tanh",
                  [](auto x) {
                    using T = decltype(x);
                    T u = T(0.79788456080286535588) * (x + T(0.044715) * x * x * x);
                    return x * sigmoid_lane(u + u);
                  },
                  [](auto x, auto, auto g) {
                    using T = decltype(x);
                    T u = T(0.79788456080286535588) * (x + T(0.044715) * x * x * x);
                    T s = sigmoid_lane(u + u);
                    T du = T(0.79788456080286535588) * (T(1) + T(3 * 0.044715) * x * x);
                    return g * (s + T(2) * x * s * (T(1) - s) * du);
                  });
}

Tensor swiglu(const Tensor& gate, const Tensor& up) {
  const char* op = "swiglu";
  check_same_dtype(gate, up, op);
  ATTNLAB_CHECK(gate.shape() == up.shape(), op, ": gate ", shape_str(gate.shape()), " and up ",
                shape_str(up.shape()), " differ in shape");
  Tensor g = gate.contiguous(), u = up.contiguous();
  Tensor out = Tensor::empty(g.shape(), g.dtype());
  dispatch_float(g.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    const T* pg = g.data<T>();
    const T* pu = u.data<T>();
    T* o = out.data<T>();
    parallel_for(0, out.numel(), kGrain, [&](int64_t s, int64_t e) {
      ATTNLAB_SIMD for (int64_t i = s; i < e; ++i) o[i] = pg[i] * sigmoid_lane(pg[i]) * pu[i];
    });
  });
  if (autograd::should_record({gate, up})) {
    autograd::record(op, {gate, up}, out, [g, u](const Tensor& dout_in) {
      Tensor dout = dout_in.contiguous();
      Tensor dg = Tensor::empty(g.shape(), g.dtype()), du = Tensor::empty(u.shape(), u.dtype());
      dispatch_float(g.dtype(), "swiglu", [&](auto tag) {
        using T = decltype(tag);
        const T* pg = g.data<T>();
        const T* pu = u.data<T>();
        const T* d = dout.data<T>();
        T* a = dg.data<T>();
        T* b = du.data<T>();
        parallel_for(0, g.numel(), kGrain, [&](int64_t s, int64_t e) {
          ATTNLAB_SIMD for (int64_t i = s; i < e; ++i) {
            T sg = sigmoid_lane(pg[i]);
            T silu = pg[i] * sg;
            b[i] = d[i] * silu;
            a[i] = d[i] * pu[i] * sg * (T(1) + pg[i] * (T(1) - sg));
          }
        });
      });
      return std::vector<Tensor>{dg, du};
    });
  }
  return out;
}

Tensor tanh(const Tensor& a) {
  return unary_op(a, "tanh", [](auto x) { return std::tanh(x); },
                  [](auto, auto y, auto g) { return g * (decltype(y)(1) - y * y); });
}

Tensor relu(const Tensor& a) {
  return unary_op(a, "relu", [](auto x) { return x > 0 ? x : decltype(x)(0); },
                  [](auto x, auto, auto g) { return x > 0 ? g : decltype(g)(0); });
}

// ---- gradient-check cases ----

void add_elementwise_gradcases(std::vector<autograd::GradCase>& cases) {
  using Inputs = std::vector<Tensor>;
  auto input = [](Rng& rng, const Shape& s) {
    return Tensor::randn(s, rng, DType::F64).set_requires_grad(true);
  };
  auto positive = [](Rng& rng, const Shape& s) {  // away from 0 for log, sqrt and division
    return Tensor::uniform(s, rng, 0.5, 2.0, DType::F64).set_requires_grad(true);
  };
  struct Binary { const char* name; Tensor (*fn)(const Tensor&, const Tensor&); };
  for (Binary op : {Binary{"add", add}, Binary{"sub", sub}, Binary{"mul", mul}, Binary{"div", div}}) {
    auto fn = op.fn;
    bool is_div = std::string(op.name) == "div";
    cases.push_back({op.name, "same shape [3, 7]",
                     [=](Rng& r) { return Inputs{input(r, {3, 7}), is_div ? positive(r, {3, 7}) : input(r, {3, 7})}; },
                     [fn](const Inputs& x) { return fn(x[0], x[1]); }});
    cases.push_back({op.name, "broadcast [3, 1, 5] with [4, 5]",
                     [=](Rng& r) { return Inputs{input(r, {3, 1, 5}), is_div ? positive(r, {4, 5}) : input(r, {4, 5})}; },
                     [fn](const Inputs& x) { return fn(x[0], x[1]); }});
    cases.push_back({op.name, "row vector [63] with [2, 63]",
                     [=](Rng& r) { return Inputs{input(r, {63}), is_div ? positive(r, {2, 63}) : input(r, {2, 63})}; },
                     [fn](const Inputs& x) { return fn(x[0], x[1]); }});
  }
  cases.push_back({"scale", "[127] * -1.7", [=](Rng& r) { return Inputs{input(r, {127})}; },
                   [](const Inputs& x) { return scale(x[0], -1.7); }});
  cases.push_back({"add_scalar", "[3, 5] + 0.25", [=](Rng& r) { return Inputs{input(r, {3, 5})}; },
                   [](const Inputs& x) { return add_scalar(x[0], 0.25); }});
  struct Unary { const char* name; Tensor (*fn)(const Tensor&); bool needs_positive; };
  for (Unary op : {Unary{"neg", neg, false}, Unary{"exp", exp, false}, Unary{"log", log, true},
                   Unary{"sqrt", sqrt, true}, Unary{"sigmoid", sigmoid, false},
                   Unary{"silu", silu, false}, Unary{"gelu", gelu, false},
                   Unary{"gelu_tanh", gelu_tanh, false}, Unary{"tanh", tanh, false},
                   Unary{"relu", relu, false}}) {
    auto fn = op.fn;
    bool pos = op.needs_positive;
    cases.push_back({op.name, "[3, 63]",
                     [=](Rng& r) { return Inputs{pos ? positive(r, {3, 63}) : input(r, {3, 63})}; },
                     [fn](const Inputs& x) { return fn(x[0]); }});
  }
  cases.push_back({"swiglu", "gate, up [3, 37]",
                   [=](Rng& r) { return Inputs{input(r, {3, 37}), input(r, {3, 37})}; },
                   [](const Inputs& x) { return swiglu(x[0], x[1]); }});
}

}  // namespace attnlab::ops
