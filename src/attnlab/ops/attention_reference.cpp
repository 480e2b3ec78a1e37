// The oracle for ops/attention.cpp (DESIGN.md convention 2): the definition written
// as plainly as possible, one (b, h, i) row at a time over every key, in double.
// Quadratic in memory per row (one Tk-long row of weights), never used for speed.
#include <cmath>
#include <limits>

#include "attnlab/ops/attention.h"

namespace attnlab::ops {

namespace {

bool key_visible(const kernels::AttentionDims& d, int64_t i, int64_t j) {
  const int64_t pos = d.q_offset + i;
  if (d.causal && j > pos) return false;
  if (d.window > 0 && pos - j >= d.window) return false;
  return true;
}

struct Reference {
  kernels::AttentionDims d;
  std::vector<double> q, k, v;  // row-major [B, H, Tq, D], [B, Hkv, Tk, D], [B, Hkv, Tk, Dv]

  const double* q_row(int64_t b, int64_t h, int64_t i) const {
    return &q[size_t(((b * d.H + h) * d.Tq + i) * d.D)];
  }
  const double* k_row(int64_t b, int64_t g, int64_t j) const {
    return &k[size_t(((b * d.Hkv + g) * d.Tk + j) * d.D)];
  }
  const double* v_row(int64_t b, int64_t g, int64_t j) const {
    return &v[size_t(((b * d.Hkv + g) * d.Tk + j) * d.Dv)];
  }

  // Softmax weights of row (b, h, i) over all keys (0 where masked); returns the
  // log-sum-exp, -inf when no key is visible (and then all weights are 0).
  double weights(int64_t b, int64_t h, int64_t i, std::vector<double>& w) const {
    const int64_t g = h / (d.H / d.Hkv);
    const double slope = d.alibi_slopes ? double(d.alibi_slopes[h]) : 0.0;
    const double neg_inf = -std::numeric_limits<double>::infinity();
    const double* qi = q_row(b, h, i);
    double mx = neg_inf;
    for (int64_t j = 0; j < d.Tk; ++j) {
      if (!key_visible(d, i, j)) {
        w[size_t(j)] = neg_inf;
        continue;
      }
      const double* kj = k_row(b, g, j);
      double dot = 0;
      for (int64_t c = 0; c < d.D; ++c) dot += qi[c] * kj[c];
      w[size_t(j)] = d.scale * dot - slope * double(d.q_offset + i - j);
      mx = std::max(mx, w[size_t(j)]);
    }
    if (mx == neg_inf) {
      for (double& x : w) x = 0;
      return neg_inf;
    }
    double sum = 0;
    for (int64_t j = 0; j < d.Tk; ++j) sum += std::exp(w[size_t(j)] - mx);
    for (int64_t j = 0; j < d.Tk; ++j) w[size_t(j)] = std::exp(w[size_t(j)] - mx) / sum;
    return mx + std::log(sum);
  }
};

Reference make_reference(const char* op, const Tensor& q, const Tensor& k, const Tensor& v,
                         const AttentionOptions& opt) {
  return {attention_check(op, q, k, v, opt), q.to_vector(), k.to_vector(), v.to_vector()};
}

}  // namespace

Tensor attention_reference(const Tensor& q, const Tensor& k, const Tensor& v,
                           const AttentionOptions& opt, Tensor* lse_out) {
  const Reference ref = make_reference("attention_reference", q, k, v, opt);
  const kernels::AttentionDims& d = ref.d;
  std::vector<double> o(size_t(d.B * d.H * d.Tq * d.Dv), 0.0), lse(size_t(d.B * d.H * d.Tq));
  std::vector<double> w(size_t(d.Tk));
  for (int64_t b = 0; b < d.B; ++b)
    for (int64_t h = 0; h < d.H; ++h)
      for (int64_t i = 0; i < d.Tq; ++i) {
        const int64_t row = (b * d.H + h) * d.Tq + i;
        lse[size_t(row)] = ref.weights(b, h, i, w);
        double* oi = &o[size_t(row * d.Dv)];
        for (int64_t j = 0; j < d.Tk; ++j) {
          const double* vj = ref.v_row(b, h / (d.H / d.Hkv), j);
          for (int64_t c = 0; c < d.Dv; ++c) oi[c] += w[size_t(j)] * vj[c];
        }
      }
  if (lse_out) *lse_out = Tensor::from_vector(lse, {d.B, d.H, d.Tq});
  return Tensor::from_vector(o, {d.B, d.H, d.Tq, d.Dv});
}

// With P the weights of a row and o_i = sum_j P_ij v_j:
//   dv_j += P_ij dout_i,  dP_ij = dout_i . v_j,  dS_ij = scale P_ij (dP_ij - sum_l P_il dP_il),
//   dq_i += sum_j dS_ij k_j,  dk_j += dS_ij q_i  (the ALiBi term is constant).
std::vector<Tensor> attention_reference_backward(const Tensor& q, const Tensor& k, const Tensor& v,
                                                 const Tensor& dout, const AttentionOptions& opt) {
  const Reference ref = make_reference("attention_reference_backward", q, k, v, opt);
  const kernels::AttentionDims& d = ref.d;
  ATTNLAB_CHECK(dout.shape() == Shape({d.B, d.H, d.Tq, d.Dv}), "attention_reference_backward: dout ",
                shape_str(dout.shape()), ", expected ", shape_str({d.B, d.H, d.Tq, d.Dv}));
  const std::vector<double> g = dout.to_vector();
  std::vector<double> dq(ref.q.size(), 0.0), dk(ref.k.size(), 0.0), dv(ref.v.size(), 0.0);
  std::vector<double> w(size_t(d.Tk)), dp(size_t(d.Tk));
  for (int64_t b = 0; b < d.B; ++b)
    for (int64_t h = 0; h < d.H; ++h) {
      const int64_t kv = h / (d.H / d.Hkv);
      for (int64_t i = 0; i < d.Tq; ++i) {
        const int64_t row = (b * d.H + h) * d.Tq + i;
        const double* gi = &g[size_t(row * d.Dv)];
        const double* qi = ref.q_row(b, h, i);
        double* dqi = &dq[size_t(row * d.D)];
        ref.weights(b, h, i, w);
        double pdp = 0;
        for (int64_t j = 0; j < d.Tk; ++j) {
          const double* vj = ref.v_row(b, kv, j);
          dp[size_t(j)] = 0;
          for (int64_t c = 0; c < d.Dv; ++c) dp[size_t(j)] += gi[c] * vj[c];
          pdp += w[size_t(j)] * dp[size_t(j)];
        }
        for (int64_t j = 0; j < d.Tk; ++j) {
          const double p = w[size_t(j)], ds = d.scale * p * (dp[size_t(j)] - pdp);
          if (p == 0) continue;  // masked (or underflowed): contributes nothing
          const int64_t kv_row = (b * d.Hkv + kv) * d.Tk + j;
          const double* kj = ref.k_row(b, kv, j);
          double* dkj = &dk[size_t(kv_row * d.D)];
          double* dvj = &dv[size_t(kv_row * d.Dv)];
          for (int64_t c = 0; c < d.Dv; ++c) dvj[c] += p * gi[c];
          for (int64_t c = 0; c < d.D; ++c) {
            dkj[c] += ds * qi[c];
            dqi[c] += ds * kj[c];
          }
        }
      }
    }
  return {Tensor::from_vector(dq, q.shape()), Tensor::from_vector(dk, k.shape()),
          Tensor::from_vector(dv, v.shape())};
}

}  // namespace attnlab::ops
