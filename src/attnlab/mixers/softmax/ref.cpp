// The definition of causal softmax attention, as explicit T x T matrices built from
// autograd ops (so its gradients come from the ops' own, independently checked, rules):
//   S = scale * Q K^T - m_h (i - j)     (ALiBi term only when slopes are given)
//       - p_h log(1 + a_h |i - j|)      (Kerple term only with terms.kerple())
//   S_ij = -inf where j > i (causal) or i - j >= window
//   O = softmax(S) V
// Grouped-query heads: query head h reads kv head h / (H / Hkv), done by viewing q as
// [B, Hkv, G, T, D] and broadcasting k over the group dimension.
// With DAPE the whole T x T score tensor goes through scores.h's dape_attention_rows.
#include "attnlab/mixers/softmax/softmax.h"
#include "attnlab/ops/ops.h"
#include "attnlab/position/kerple.h"

#include <cmath>
#include <vector>

namespace attnlab::mixers {

Tensor softmax_attention_probs_ref(const Tensor& q, const Tensor& k, const ops::AttentionOptions& opt,
                                   const ScoreTerms& terms) {
  int64_t B = q.size(0), H = q.size(1), Tq = q.size(2), D = q.size(3);
  int64_t Hkv = k.size(1), Tk = k.size(2), G = H / Hkv;
  int64_t offset = opt.q_offset >= 0 ? opt.q_offset : Tk - Tq;
  ATTNLAB_CHECK(!terms.dape, "softmax_attention_probs_ref: DAPE rows come from dape_attention_rows");
  Tensor q5 = ops::reshape(q, {B, Hkv, G, Tq, D});
  Tensor k5 = ops::reshape(k, {B, Hkv, 1, Tk, D});
  Tensor s = ops::scale(ops::bmm(q5, ops::transpose(k5, 3, 4)), opt.scale);  // [B, Hkv, G, Tq, Tk]
  if (!opt.alibi_slopes.empty()) {
    std::vector<double> bias(size_t(H * Tq * Tk));
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < Tq; ++i)
        for (int64_t j = 0; j < Tk; ++j)
          bias[size_t((h * Tq + i) * Tk + j)] = -double(opt.alibi_slopes[size_t(h)]) * double(offset + i - j);
    s = ops::add(s, Tensor::from_vector(bias, {Hkv, G, Tq, Tk}).to(q.dtype()));
  }
  if (terms.kerple())
    s = ops::add(s, ops::reshape(position::kerple_bias(terms.kerple_p, terms.kerple_a, Tq, Tk, offset),
                                 {Hkv, G, Tq, Tk}));
  if (opt.causal) s = ops::causal_mask(s, offset);
  if (opt.window > 0) s = ops::sliding_window_mask(s, opt.window, offset);
  return ops::softmax(s);
}

Tensor softmax_attention_ref(const Tensor& q, const Tensor& k, const Tensor& v,
                             const ops::AttentionOptions& opt, const ScoreTerms& terms) {
  int64_t B = q.size(0), H = q.size(1), Tq = q.size(2), Hkv = k.size(1), Tk = k.size(2);
  if (terms.dape) return dape_attention_rows(q, k, v, opt.q_offset >= 0 ? opt.q_offset : Tk - Tq, opt, terms);
  Tensor v5 = ops::reshape(v, {B, Hkv, 1, Tk, v.size(3)});
  Tensor o = ops::bmm(softmax_attention_probs_ref(q, k, opt, terms), v5);  // [B, Hkv, G, Tq, Dv]
  return ops::reshape(o, {B, H, Tq, v.size(3)});
}

Tensor softmax_attention_weights(const Tensor& q, const Tensor& k, const ops::AttentionOptions& opt) {
  const int64_t B = q.size(0), H = q.size(1), Tq = q.size(2), D = q.size(3);
  const int64_t Hkv = k.size(1), Tk = k.size(2), G = H / Hkv;
  const int64_t offset = opt.q_offset >= 0 ? opt.q_offset : Tk - Tq;
  Tensor qd = q.to(DType::F64).contiguous(), kd = k.to(DType::F64).contiguous();
  const double* Q = qd.data<double>();
  const double* K = kd.data<double>();
  Tensor w = Tensor::zeros({B, H, Tq, Tk}, DType::F64);
  double* W = w.data<double>();
  std::vector<double> logit(static_cast<size_t>(Tk));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < Tq; ++i) {
        const int64_t p = offset + i;
        const double* qi = Q + ((b * H + h) * Tq + i) * D;
        double mx = -INFINITY;
        for (int64_t j = 0; j < Tk; ++j) {
          bool visible = (!opt.causal || j <= p) && (opt.window <= 0 || p - j < opt.window);
          if (!visible) {
            logit[size_t(j)] = -INFINITY;
            continue;
          }
          const double* kj = K + ((b * Hkv + h / G) * Tk + j) * D;
          double dot = 0;
          for (int64_t d = 0; d < D; ++d) dot += qi[d] * kj[d];
          double s = opt.scale * dot;
          if (!opt.alibi_slopes.empty()) s -= double(opt.alibi_slopes[size_t(h)]) * double(p - j);
          logit[size_t(j)] = s;
          mx = std::max(mx, s);
        }
        if (mx == -INFINITY) continue;  // no visible key: a row of zeros
        double total = 0;
        double* row = W + ((b * H + h) * Tq + i) * Tk;
        for (int64_t j = 0; j < Tk; ++j) total += row[j] = logit[size_t(j)] == -INFINITY ? 0.0 : std::exp(logit[size_t(j)] - mx);
        for (int64_t j = 0; j < Tk; ++j) row[j] /= total;
      }
  return w;
}

}  // namespace attnlab::mixers
