#include "attnlab/ops/linear_attention.h"

#include <algorithm>
#include <vector>

#include "attnlab/autograd/node.h"
#include "attnlab/kernels/cpu/decayed_scan.h"
#include "attnlab/ops/elementwise.h"
#include "attnlab/ops/gradcases.h"
#include "attnlab/ops/matmul.h"
#include "attnlab/ops/shape.h"

namespace attnlab::ops {

namespace {

kernels::cpu::DecayedScanDims check(const char* op, const Tensor& q, const Tensor& k, const Tensor& v,
                                    const Tensor& log_gamma, const Tensor& s0, const DecayedLinearOptions& opt) {
  ATTNLAB_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, op, ": q, k, v must be [B, H, T, D], got ",
                shape_str(q.shape()), ", ", shape_str(k.shape()), ", ", shape_str(v.shape()));
  ATTNLAB_CHECK(q.dtype() == DType::F32 || q.dtype() == DType::F64, op, ": expected float32 or float64, got ",
                dtype_name(q.dtype()));
  kernels::cpu::DecayedScanDims d;
  d.B = q.size(0), d.H = q.size(1), d.T = q.size(2), d.Dk = q.size(3), d.Dv = v.size(3);
  d.chunk = opt.chunk;
  ATTNLAB_CHECK(k.shape() == q.shape() && v.size(0) == d.B && v.size(1) == d.H && v.size(2) == d.T, op,
                ": shapes do not fit: q ", shape_str(q.shape()), ", k ", shape_str(k.shape()), ", v ",
                shape_str(v.shape()), " (expected k = q's shape, v [B, H, T, Dv])");
  ATTNLAB_CHECK(log_gamma.dim() == 1 && log_gamma.size(0) == d.H, op, ": log_gamma must be [H] = [", d.H,
                "], got ", shape_str(log_gamma.shape()));
  for (const Tensor* t : {&k, &v, &log_gamma})
    ATTNLAB_CHECK(t->dtype() == q.dtype(), op, ": mixed dtypes (", dtype_name(q.dtype()), " and ",
                  dtype_name(t->dtype()), ")");
  if (s0.defined()) {
    ATTNLAB_CHECK(s0.shape() == Shape({d.B, d.H, d.Dk, d.Dv}) && s0.dtype() == q.dtype(), op,
                  ": initial state must be [B, H, Dk, Dv] = ", shape_str({d.B, d.H, d.Dk, d.Dv}), " in ",
                  dtype_name(q.dtype()), ", got ", shape_str(s0.shape()), " in ", dtype_name(s0.dtype()));
  }
  ATTNLAB_CHECK(opt.chunk >= 1, op, ": chunk must be >= 1, got ", opt.chunk);
  Tensor lg = log_gamma.to(DType::F64);
  for (int64_t h = 0; h < d.H; ++h)
    ATTNLAB_CHECK(lg.data<double>()[h] <= 0.0, op, ": log_gamma[", h, "] = ", lg.data<double>()[h],
                  " must be <= 0 (a decay gamma in (0, 1])");
  return d;
}

// [1, 1, rows, cols] of f(i, j) in dtype.
template <class F>
Tensor position_table(int64_t rows, int64_t cols, DType dtype, F f) {
  std::vector<double> t(size_t(rows * cols));
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) t[size_t(i * cols + j)] = f(i, j);
  return Tensor::from_vector(t, {1, 1, rows, cols}).to(dtype);
}

}  // namespace

Tensor decayed_linear_attention(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in,
                                const Tensor& lg_in, const Tensor& s0_in, const DecayedLinearOptions& opt,
                                Tensor* state_out) {
  const kernels::cpu::DecayedScanDims d = check("decayed_linear_attention", q_in, k_in, v_in, lg_in, s0_in, opt);
  Tensor q = q_in.contiguous(), k = k_in.contiguous(), v = v_in.contiguous(), lg = lg_in.contiguous();
  Tensor s0 = s0_in.defined() ? s0_in.contiguous() : Tensor();
  Tensor o = Tensor::empty({d.B, d.H, d.T, d.Dv}, q.dtype());
  Tensor s_out = state_out ? Tensor::empty({d.B, d.H, d.Dk, d.Dv}, q.dtype()) : Tensor();
  dispatch_float(q.dtype(), "decayed_linear_attention", [&](auto tag) {
    using T = decltype(tag);
    const T* s0p = s0.defined() ? s0.data<T>() : nullptr;
    T* sp = s_out.defined() ? s_out.data<T>() : nullptr;
    if (opt.recurrent)
      kernels::cpu::decayed_scan_recurrent_fwd<T>(d, q.data<T>(), k.data<T>(), v.data<T>(), lg.data<T>(), s0p,
                                                  o.data<T>(), sp);
    else
      kernels::cpu::decayed_scan_chunk_fwd<T>(d, q.data<T>(), k.data<T>(), v.data<T>(), lg.data<T>(), s0p,
                                              o.data<T>(), sp);
  });
  if (state_out) *state_out = s_out;
  if (autograd::should_record({q_in, k_in, v_in, lg_in, s0_in})) {
    Tensor qs = q.detach(), ks = k.detach(), vs = v.detach(), lgs = lg.detach();
    Tensor s0s = s0.defined() ? s0.detach() : Tensor();
    const bool need_s0 = s0_in.defined() && s0_in.requires_grad();
    autograd::record("decayed_linear_attention", {q_in, k_in, v_in, lg_in, s0_in}, o,
                     [d, qs, ks, vs, lgs, s0s, need_s0](const Tensor& gout) {
      Tensor go = gout.contiguous();
      Tensor dq = Tensor::empty(qs.shape(), qs.dtype()), dk = Tensor::empty(ks.shape(), ks.dtype());
      Tensor dv = Tensor::empty(vs.shape(), vs.dtype()), dlg = Tensor::empty({d.H}, qs.dtype());
      Tensor ds0 = need_s0 ? Tensor::empty({d.B, d.H, d.Dk, d.Dv}, qs.dtype()) : Tensor();
      dispatch_float(qs.dtype(), "decayed_linear_attention backward", [&](auto tag) {
        using T = decltype(tag);
        kernels::cpu::decayed_scan_chunk_bwd<T>(d, qs.data<T>(), ks.data<T>(), vs.data<T>(), lgs.data<T>(),
                                                s0s.defined() ? s0s.data<T>() : nullptr, go.data<T>(),
                                                dq.data<T>(), dk.data<T>(), dv.data<T>(), dlg.data<T>(),
                                                need_s0 ? ds0.data<T>() : nullptr);
      });
      return std::vector<Tensor>{dq, dk, dv, dlg, ds0};
    });
  }
  return o;
}

Tensor decayed_linear_state(const Tensor& k, const Tensor& v, const Tensor& log_gamma, const Tensor& s0) {
  const int64_t H = k.size(1), T = k.size(2);
  Tensor lg4 = reshape(log_gamma, {1, H, 1, 1});
  // gamma^(T-1-j) for each key row: exponents >= 0 counted back from the end.
  Tensor back = position_table(T, 1, k.dtype(), [T](int64_t j, int64_t) { return double(T - 1 - j); });
  Tensor kw = mul(k, exp(mul(lg4, back)));
  Tensor s = bmm(transpose(kw, 2, 3), v);  // [B, H, Dk, Dv]
  if (s0.defined()) s = add(s, mul(exp(scale(lg4, double(T))), s0));
  return s;
}

Tensor decayed_linear_attention_reference(const Tensor& q, const Tensor& k, const Tensor& v,
                                          const Tensor& log_gamma, const Tensor& s0) {
  const int64_t H = q.size(1), T = q.size(2);
  Tensor lg4 = reshape(log_gamma, {1, H, 1, 1});
  Tensor dist = position_table(T, T, q.dtype(), [](int64_t i, int64_t j) { return double(std::max<int64_t>(i - j, 0)); });
  Tensor causal = position_table(T, T, q.dtype(), [](int64_t i, int64_t j) { return j <= i ? 1.0 : 0.0; });
  Tensor decay = mul(exp(mul(lg4, dist)), causal);  // [1, H, T, T]
  Tensor o = bmm(mul(bmm(q, transpose(k, 2, 3)), decay), v);
  if (s0.defined()) {
    Tensor ahead = position_table(T, 1, q.dtype(), [](int64_t i, int64_t) { return double(i + 1); });
    o = add(o, mul(exp(mul(lg4, ahead)), bmm(q, s0)));
  }
  return o;
}

Tensor decayed_linear_attention_normalized(const Tensor& q, const Tensor& k, const Tensor& v,
                                           const Tensor& log_gamma, const Tensor& s0, double eps,
                                           const DecayedLinearOptions& opt, Tensor* state_out) {
  ATTNLAB_CHECK(v.dim() == 4, "decayed_linear_attention_normalized: v must be [B, H, T, Dv], got ",
                shape_str(v.shape()));
  const int64_t Dv = v.size(3);
  Tensor ones = Tensor::full({v.size(0), v.size(1), v.size(2), 1}, 1.0, v.dtype());
  Tensor out = decayed_linear_attention(q, k, concat({v, ones}, 3), log_gamma, s0, opt, state_out);
  return div(slice(out, 3, 0, Dv), add_scalar(slice(out, 3, Dv, Dv + 1), eps));
}

// ---- gradient-check cases ----

void add_linear_attention_gradcases(std::vector<autograd::GradCase>& cases) {
  using Inputs = std::vector<Tensor>;
  struct Config {
    const char* label;
    int64_t B, H, T, Dk, Dv;
    DecayedLinearOptions opt;
    bool with_state, normalized;
  };
  const Config configs[] = {
      {"chunk 3, T=7 (tail of 1), B=2 H=3 Dk=3 Dv=2", 2, 3, 7, 3, 2, DecayedLinearOptions::make(3), false, false},
      {"chunk 4, T=9, initial state", 1, 2, 9, 2, 3, DecayedLinearOptions::make(4), true, false},
      {"one chunk larger than T=5, initial state", 2, 2, 5, 3, 3, DecayedLinearOptions::make(64), true, false},
      {"T=1, initial state", 2, 2, 1, 2, 2, DecayedLinearOptions::make(2), true, false},
      {"recurrent forward, T=6, initial state", 1, 3, 6, 2, 2, DecayedLinearOptions::make(4, true), true, false},
      {"normalised, chunk 2, T=5", 1, 2, 5, 3, 2, DecayedLinearOptions::make(2), false, true},
  };
  for (const Config& c : configs) {
    cases.push_back({"decayed_linear_attention", c.label,
                     [=](Rng& r) {
                       auto in = [&](const Shape& s) { return Tensor::randn(s, r, DType::F64).set_requires_grad(true); };
                       // Positive features for the normalised case (its denominator), any sign otherwise.
                       auto feat = [&](const Shape& s) {
                         Tensor t = Tensor::uniform(s, r, 0.2, 1.0, DType::F64);
                         return c.normalized ? t.set_requires_grad(true) : in(s);
                       };
                       Inputs x{feat({c.B, c.H, c.T, c.Dk}), feat({c.B, c.H, c.T, c.Dk}), in({c.B, c.H, c.T, c.Dv}),
                                Tensor::uniform({c.H}, r, -1.0, -0.05, DType::F64).set_requires_grad(true)};
                       if (c.with_state) x.push_back(in({c.B, c.H, c.Dk, c.Dv}));
                       return x;
                     },
                     [=](const Inputs& x) {
                       Tensor s0 = x.size() > 4 ? x[4] : Tensor();
                       return c.normalized ? decayed_linear_attention_normalized(x[0], x[1], x[2], x[3], s0, 0.1, c.opt)
                                           : decayed_linear_attention(x[0], x[1], x[2], x[3], s0, c.opt);
                     }});
  }
}

}  // namespace attnlab::ops
