#include "attnlab/mixers/softmax/scores.h"

#include <algorithm>
#include <limits>

#include "attnlab/ops/ops.h"
#include "attnlab/position/kerple.h"

namespace attnlab::mixers {

Tensor position_bias(const ops::AttentionOptions& opt, const ScoreTerms& terms, int64_t H,
                     int64_t rows, int64_t Tk, int64_t offset, DType dtype) {
  Tensor bias;
  if (!opt.alibi_slopes.empty()) {
    std::vector<double> b(static_cast<size_t>(H * rows * Tk));
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < Tk; ++j)
          b[size_t((h * rows + i) * Tk + j)] = -double(opt.alibi_slopes[size_t(h)]) * double(offset + i - j);
    bias = Tensor::from_vector(b, {H, rows, Tk}).to(dtype);
  }
  if (terms.kerple()) {
    Tensor kb = position::kerple_bias(terms.kerple_p, terms.kerple_a, rows, Tk, offset);
    bias = bias.defined() ? ops::add(bias, kb) : kb;
  }
  return bias;
}

void KerpleParams::declare(const MixerContext& ctx, int64_t heads) {
  using position::softplus_inverse;
  const double lo = softplus_inverse(position::kKerpleMinInit);
  rho_p = ctx.params->declare(ctx.prefix + "kerple.rho_p", {heads},
                              model::Init::uniform(lo, softplus_inverse(position::kKerpleMaxP)), false);
  rho_a = ctx.params->declare(ctx.prefix + "kerple.rho_a", {heads},
                              model::Init::uniform(lo, softplus_inverse(position::kKerpleMaxA)), false);
}

void KerpleParams::add_to(ScoreTerms& terms) const {
  if (!rho_p) return;
  terms.kerple_p = position::softplus(rho_p->value);
  terms.kerple_a = position::softplus(rho_a->value);
}

Tensor kerple_table(const ScoreTerms& terms, int64_t n) {
  return position::kerple_distance_table(terms.kerple_p, terms.kerple_a, n);
}

namespace {
Tensor leaky_relu(const Tensor& x, double slope) {
  return ops::add(ops::scale(x, slope), ops::scale(ops::relu(x), 1.0 - slope));
}
}  // namespace

namespace {
// The keys a row sees kept, every other entry `fill`: the causal triangle, cut to the
// last `window` keys when window > 0.
Tensor visible_only(const Tensor& s, int64_t offset, int64_t window, double fill) {
  Tensor m = ops::causal_mask(s, offset, fill);
  return window > 0 ? ops::sliding_window_mask(m, window, offset, fill) : m;
}
}  // namespace

Tensor dape_scores(const Tensor& A, const Tensor& bias, int64_t offset, const DapeWeights& w, int64_t window) {
  const int64_t B = A.size(0), H = A.size(1), R = A.size(2), Tk = A.size(3);
  const int64_t pad = w.kernel / 2, C = w.with_bias ? 2 * H : H;
  ATTNLAB_CHECK(!w.with_bias || bias.defined(), "dape_scores: the weights expect a position bias, none given");
  ATTNLAB_CHECK(w.w1.dim() == 3 && w.w1.size(1) == C && w.w1.size(2) == w.kernel && w.w2.dim() == 3 &&
                    w.w2.size(0) == H && w.w2.size(1) == w.w1.size(0) && w.w2.size(2) == w.kernel,
                "dape_scores: conv weights ", shape_str(w.w1.shape()), " and ", shape_str(w.w2.shape()),
                " do not fit ", C, " channels, ", H, " heads, kernel ", w.kernel);
  // The causal triangle with zeros for the future (the reference's tril), and with a
  // window zeros before it too, as [B, R, C, Tk] so each query row is one sequence of the
  // convolution along keys.
  Tensor x = ops::transpose(visible_only(A, offset, window, 0.0), 1, 2);
  if (w.with_bias) {
    Tensor b0 = ops::reshape(ops::transpose(visible_only(bias, offset, window, 0.0), 0, 1), {1, R, H, Tk});
    x = ops::concat({x, ops::add(b0, Tensor::zeros({B, R, H, Tk}, A.dtype()))}, 2);
  }
  // k/2 zero columns past the last key: rows near the end see the same extended, zeroed
  // future as every other row (scores.h).
  if (pad) x = ops::concat({x, Tensor::zeros({B, R, C, pad}, A.dtype())}, 3);
  x = ops::reshape(ops::contiguous(x), {B * R, C, Tk + pad});
  ops::ConvOptions same;
  same.padding_left = same.padding_right = pad;
  Tensor hid = leaky_relu(ops::conv1d(x, w.w1, w.b1, same), 0.01);
  Tensor g = ops::slice(ops::conv1d(hid, w.w2, w.b2, same), 2, 0, Tk);  // [B R, H, Tk]
  g = ops::transpose(ops::reshape(g, {B, R, H, Tk}), 1, 2);
  Tensor s = bias.defined() ? ops::add(A, bias) : A;
  return ops::add(s, g);
}

Tensor dape_attention_rows(const Tensor& q, const Tensor& k, const Tensor& v, int64_t offset,
                           const ops::AttentionOptions& opt, const ScoreTerms& terms) {
  const int64_t B = q.size(0), H = q.size(1), R = q.size(2), D = q.size(3);
  const int64_t Hkv = k.size(1), Tk = k.size(2), G = H / Hkv, Dv = v.size(3);
  ATTNLAB_CHECK(opt.causal, "DAPE attention is causal");
  ATTNLAB_CHECK(offset + R <= Tk, "DAPE attention: rows up to key position ", offset + R - 1,
                " need that many keys, got ", Tk);
  Tensor q5 = ops::reshape(q, {B, Hkv, G, R, D});
  Tensor k5 = ops::reshape(k, {B, Hkv, 1, Tk, D});
  Tensor v5 = ops::reshape(v, {B, Hkv, 1, Tk, Dv});
  Tensor A = ops::reshape(ops::scale(ops::bmm(q5, ops::transpose(k5, 3, 4)), opt.scale), {B, H, R, Tk});
  Tensor bias = position_bias(opt, terms, H, R, Tk, offset, q.dtype());
  Tensor s = terms.dape ? dape_scores(A, bias, offset, *terms.dape, opt.window)
                        : (bias.defined() ? ops::add(A, bias) : A);
  const double neg_inf = -std::numeric_limits<double>::infinity();
  Tensor p = ops::reshape(ops::softmax(visible_only(s, offset, opt.window, neg_inf)), {B, Hkv, G, R, Tk});
  return ops::reshape(ops::bmm(p, v5), {B, H, R, Dv});
}

int64_t dape_block_rows(int64_t B, int64_t Tq, int64_t Tk, int64_t H, int64_t channels,
                        int64_t hidden, int64_t bytes_per_value, int64_t budget_bytes) {
  const int64_t per_row = std::max<int64_t>(1, B * Tk * (3 * channels + 4 * hidden + 10 * H) * bytes_per_value);
  return std::clamp<int64_t>(budget_bytes / per_row, 1, std::max<int64_t>(Tq, 1));
}

}  // namespace attnlab::mixers
