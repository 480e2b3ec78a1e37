#include "attnlab/ops/attention.h"

#include <algorithm>
#include <cmath>

#include "attnlab/autograd/node.h"
#include "attnlab/ops/gradcases.h"
#include "attnlab/ops/shape.h"

namespace attnlab::ops {

namespace {

// The kernels take strided B, H, T dimensions but need a contiguous last dimension.
Tensor unit_inner(const Tensor& t) {
  return (t.size(-1) <= 1 || t.strides().back() == 1) ? t : t.contiguous();
}

kernels::AttentionStrides strides_of(const Tensor& t) {
  return {t.strides()[0], t.strides()[1], t.strides()[2]};
}

}  // namespace

kernels::AttentionDims attention_check(const char* op, const Tensor& q, const Tensor& k,
                                       const Tensor& v, const AttentionOptions& opt,
                                       const Tensor& distance_bias) {
  ATTNLAB_CHECK(q.defined() && k.defined() && v.defined(), op, ": q, k and v must all be defined");
  const std::string where = cat(op, ": q ", shape_str(q.shape()), ", k ", shape_str(k.shape()),
                                ", v ", shape_str(v.shape()));
  ATTNLAB_CHECK(q.dtype() == k.dtype() && q.dtype() == v.dtype(), where, ": dtypes differ (",
                dtype_name(q.dtype()), ", ", dtype_name(k.dtype()), ", ", dtype_name(v.dtype()), ")");
  ATTNLAB_CHECK(q.dtype() == DType::F32 || q.dtype() == DType::F64, where,
                ": expected float32 or float64, got ", dtype_name(q.dtype()));
  ATTNLAB_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, where,
                ": expected q [B, H, Tq, D], k [B, Hkv, Tk, D], v [B, Hkv, Tk, Dv] (rank 4)");
  kernels::AttentionDims d;
  d.B = q.size(0);
  d.H = q.size(1);
  d.Tq = q.size(2);
  d.D = q.size(3);
  d.Hkv = k.size(1);
  d.Tk = k.size(2);
  d.Dv = v.size(3);
  ATTNLAB_CHECK(k.size(0) == d.B && v.size(0) == d.B, where, ": batch sizes differ");
  ATTNLAB_CHECK(v.size(1) == d.Hkv && v.size(2) == d.Tk, where,
                ": k and v must have the same kv heads and length");
  ATTNLAB_CHECK(k.size(3) == d.D, where, ": q and k head dims differ (", d.D, " and ", k.size(3), ")");
  ATTNLAB_CHECK(d.Hkv > 0 && d.H % d.Hkv == 0, where, ": ", d.H,
                " query heads is not a multiple of ", d.Hkv, " kv heads");
  ATTNLAB_CHECK(opt.alibi_slopes.empty() || int64_t(opt.alibi_slopes.size()) == d.H, where, ": ",
                opt.alibi_slopes.size(), " ALiBi slopes given, expected one per query head (", d.H, ")");
  ATTNLAB_CHECK(std::isfinite(opt.scale), where, ": scale must be finite, got ", opt.scale);
  ATTNLAB_CHECK(opt.window >= 0, where, ": window must be >= 0 (0 = unlimited), got ", opt.window);
  ATTNLAB_CHECK(opt.q_offset >= -1, where, ": q_offset must be >= 0, or -1 for Tk - Tq, got ",
                opt.q_offset);
  ATTNLAB_CHECK(opt.q_offset >= 0 || d.Tq <= d.Tk, where,
                ": q_offset -1 (queries are the last Tq keys) needs Tq <= Tk");
  d.scale = opt.scale;
  d.causal = opt.causal;
  d.q_offset = opt.q_offset >= 0 ? opt.q_offset : d.Tk - d.Tq;
  d.window = opt.window;
  d.alibi_slopes = opt.alibi_slopes.empty() ? nullptr : opt.alibi_slopes.data();
  if (distance_bias.defined()) {
    const int64_t need = std::max(d.q_offset + d.Tq, d.Tk);
    ATTNLAB_CHECK(distance_bias.dim() == 2 && distance_bias.size(0) == d.H && distance_bias.size(1) >= need &&
                      distance_bias.dtype() == q.dtype() && distance_bias.is_contiguous(),
                  where, ": the distance bias must be a contiguous ", dtype_name(q.dtype()), " [", d.H,
                  ", n] with n >= ", need, " (every distance that occurs), got ",
                  dtype_name(distance_bias.dtype()), " ", shape_str(distance_bias.shape()));
    d.distance_bias = static_cast<const char*>(distance_bias.storage()->data()) +
                      distance_bias.offset() * int64_t(dtype_size(distance_bias.dtype()));
    d.distance_bias_len = distance_bias.size(1);
  }
  return d;
}

// ---- forward: o [B, H, Tq, Dv], lse [B, H, Tq] ----

Tensor attention_forward(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in,
                         const AttentionOptions& opt, Tensor* lse_out, const Tensor& distance_bias) {
  kernels::AttentionDims d = attention_check("attention", q_in, k_in, v_in, opt, distance_bias);
  Tensor q = unit_inner(q_in), k = unit_inner(k_in), v = unit_inner(v_in);
  Tensor o = Tensor::empty({d.B, d.H, d.Tq, d.Dv}, q.dtype());
  Tensor lse = Tensor::empty({d.B, d.H, d.Tq}, q.dtype());
  dispatch_float(q.dtype(), "attention", [&](auto tag) {
    using T = decltype(tag);
    kernels::attention_fused_fwd<T>(d, q.data<T>(), strides_of(q), k.data<T>(), strides_of(k),
                                    v.data<T>(), strides_of(v), o.data<T>(), lse.data<T>());
  });
  if (lse_out) *lse_out = lse;
  return o;
}

// ---- backward: dq [B, H, Tq, D], dk [B, Hkv, Tk, D], dv [B, Hkv, Tk, Dv] ----

std::vector<Tensor> attention_backward(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in,
                                       const Tensor& o_in, const Tensor& lse_in,
                                       const Tensor& dout_in, const AttentionOptions& opt,
                                       const Tensor& distance_bias) {
  kernels::AttentionDims d =
      attention_check("attention_backward", q_in, k_in, v_in, opt, distance_bias);
  const Shape o_shape{d.B, d.H, d.Tq, d.Dv};
  for (const Tensor* t : {&o_in, &dout_in})
    ATTNLAB_CHECK(t->defined() && t->shape() == o_shape && t->dtype() == q_in.dtype(),
                  "attention_backward: o and dout must be ", dtype_name(q_in.dtype()), " ",
                  shape_str(o_shape), ", got ", t->defined() ? shape_str(t->shape()) : "undefined");
  ATTNLAB_CHECK(lse_in.defined() && lse_in.shape() == Shape({d.B, d.H, d.Tq}) &&
                    lse_in.dtype() == q_in.dtype(),
                "attention_backward: lse must be ", dtype_name(q_in.dtype()), " ",
                shape_str({d.B, d.H, d.Tq}));
  Tensor q = unit_inner(q_in), k = unit_inner(k_in), v = unit_inner(v_in);
  Tensor o = o_in.contiguous(), lse = lse_in.contiguous(), dout = dout_in.contiguous();
  Tensor dq = Tensor::empty({d.B, d.H, d.Tq, d.D}, q.dtype());
  Tensor dk = Tensor::empty({d.B, d.Hkv, d.Tk, d.D}, q.dtype());
  Tensor dv = Tensor::empty({d.B, d.Hkv, d.Tk, d.Dv}, q.dtype());
  Tensor dbias = distance_bias.defined() ? Tensor::empty(distance_bias.shape(), q.dtype()) : Tensor();
  dispatch_float(q.dtype(), "attention_backward", [&](auto tag) {
    using T = decltype(tag);
    kernels::attention_fused_bwd<T>(d, q.data<T>(), strides_of(q), k.data<T>(), strides_of(k),
                                    v.data<T>(), strides_of(v), o.data<T>(), lse.data<T>(),
                                    dout.data<T>(), dq.data<T>(), dk.data<T>(), dv.data<T>(),
                                    dbias.defined() ? dbias.data<T>() : nullptr);
  });
  if (dbias.defined()) return {dq, dk, dv, dbias};
  return {dq, dk, dv};
}

// ---- the op: saves q, k, v, o and lse (all O(T * D)) for the backward ----

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& opt) {
  attention_check("attention", q, k, v, opt);
  // Copied at most once (only when the last dimension is strided), for both passes.
  Tensor qs = unit_inner(q).detach(), ks = unit_inner(k).detach(), vs = unit_inner(v).detach();
  Tensor lse;
  Tensor o = attention_forward(qs, ks, vs, opt, &lse);
  if (autograd::should_record({q, k, v})) {
    Tensor os = o.detach();
    autograd::record("attention", {q, k, v}, o, [qs, ks, vs, os, lse, opt](const Tensor& g) {
      return attention_backward(qs, ks, vs, os, lse, g, opt);
    });
  }
  return o;
}

Tensor attention_distance_bias(const Tensor& q, const Tensor& k, const Tensor& v,
                               const Tensor& bias, const AttentionOptions& opt) {
  ATTNLAB_CHECK(bias.defined(), "attention_distance_bias: the bias table is undefined");
  Tensor bs = bias.contiguous().detach();
  attention_check("attention_distance_bias", q, k, v, opt, bs);
  Tensor qs = unit_inner(q).detach(), ks = unit_inner(k).detach(), vs = unit_inner(v).detach();
  Tensor lse;
  Tensor o = attention_forward(qs, ks, vs, opt, &lse, bs);
  if (autograd::should_record({q, k, v, bias})) {
    Tensor os = o.detach();
    autograd::record("attention_distance_bias", {q, k, v, bias}, o,
                     [qs, ks, vs, bs, os, lse, opt](const Tensor& g) {
                       return attention_backward(qs, ks, vs, os, lse, g, opt, bs);
                     });
  }
  return o;
}

// ---- gradient-check cases ----

void add_attention_gradcases(std::vector<autograd::GradCase>& cases) {
  using Inputs = std::vector<Tensor>;
  auto input = [](Rng& rng, const Shape& s) {
    return Tensor::randn(s, rng, DType::F64).set_requires_grad(true);
  };
  struct Config {
    const char* label;
    int64_t B, H, Hkv, Tq, Tk, D, Dv;
    AttentionOptions opt;
  };
  auto alibi = [](int64_t h) {
    std::vector<float> s;
    for (int64_t i = 0; i < h; ++i) s.push_back(std::pow(2.0f, -float(i + 1)));
    return s;
  };
  const Config configs[] = {
      {"causal B=2 H=2 T=5 D=3", 2, 2, 2, 5, 5, 3, 3, AttentionOptions::make(0.6)},
      {"GQA H=6 Hkv=2, Dv=4 != D=3, ALiBi, T=7", 1, 6, 2, 7, 7, 3, 4, AttentionOptions::make(0.5, true, -1, alibi(6))},
      {"non-causal Tq=3 Tk=7", 1, 2, 1, 3, 7, 4, 2, AttentionOptions::make(0.5, false)},
      {"decoding Tq=1 Tk=9, MQA H=3", 2, 3, 1, 1, 9, 3, 3, AttentionOptions::make(0.7)},
      {"window 3, q_offset 5: the last row sees no key", 1, 2, 2, 4, 6, 3, 3, AttentionOptions::make(0.8, true, 5, {}, 3)},
      {"non-causal window 4 with ALiBi, Tq=5 Tk=8", 1, 2, 1, 5, 8, 2, 3,
       AttentionOptions::make(0.9, false, -1, {0.3f, 0.1f}, 4)},
      // Crosses the 64-row and 64-key tiles; with one kv head the backward also splits
      // the key tiles into chunks with separate dq sums.
      {"two tiles each way: T=67, D=1, MQA", 1, 2, 1, 67, 67, 1, 1, AttentionOptions::make(1.5)},
      {"peaked logits, scale 2, D=9 Dv=8", 1, 1, 1, 6, 6, 9, 8, AttentionOptions::make(2.0)},
  };
  for (const Config& c : configs) {
    cases.push_back({"attention", c.label,
                     [=](Rng& r) {
                       return Inputs{input(r, {c.B, c.H, c.Tq, c.D}), input(r, {c.B, c.Hkv, c.Tk, c.D}),
                                     input(r, {c.B, c.Hkv, c.Tk, c.Dv})};
                     },
                     [opt = c.opt](const Inputs& x) { return attention(x[0], x[1], x[2], opt); }});
  }
  // Strided inputs: [B, T, H, D] projections viewed as [B, H, T, D] without a copy.
  cases.push_back({"attention", "transposed [B, T, H, D] views, GQA H=4 Hkv=2",
                   [=](Rng& r) {
                     return Inputs{input(r, {2, 6, 4, 3}), input(r, {2, 6, 2, 3}), input(r, {2, 6, 2, 5})};
                   },
                   [](const Inputs& x) {
                     AttentionOptions o;
                     o.scale = 0.5;
                     return attention(transpose(x[0], 1, 2), transpose(x[1], 1, 2), transpose(x[2], 1, 2), o);
                   }});
  // The distance bias: its table is the fourth input (the kernel's per-distance sums of
  // dS). position/kerple.cpp checks it composed with Kerple's parametrisation.
  struct BiasConfig {
    const char* label;
    int64_t B, H, Hkv, Tq, Tk, D, n;
    AttentionOptions opt;
  };
  const BiasConfig bias_configs[] = {
      {"distance bias, B=2 GQA H=4 Hkv=2, T=7, table n=9", 2, 4, 2, 7, 7, 3, 9, AttentionOptions::make(0.6)},
      {"distance bias with ALiBi, decoding Tq=1 Tk=9", 2, 2, 2, 1, 9, 3, 9,
       AttentionOptions::make(0.7, true, -1, {0.25f, 0.5f})},
      {"distance bias non-causal window 4, Tq=5 Tk=8 (|p - j| both ways)", 1, 2, 1, 5, 8, 2, 8,
       AttentionOptions::make(0.9, false, -1, {}, 4)},
      {"distance bias over two tiles each way: T=67, D=1, MQA", 1, 2, 1, 67, 67, 1, 67,
       AttentionOptions::make(1.5)},
  };
  for (const BiasConfig& c : bias_configs) {
    cases.push_back({"attention_distance_bias", c.label,
                     [=](Rng& r) {
                       return Inputs{input(r, {c.B, c.H, c.Tq, c.D}), input(r, {c.B, c.Hkv, c.Tk, c.D}),
                                     input(r, {c.B, c.Hkv, c.Tk, c.D}), input(r, {c.H, c.n})};
                     },
                     [opt = c.opt](const Inputs& x) { return attention_distance_bias(x[0], x[1], x[2], x[3], opt); }});
  }
}

}  // namespace attnlab::ops
