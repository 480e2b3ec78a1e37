// The definition of the deer_rnn recurrence: the sequential loop h_t = f(h_{t-1}, u_t)
// written with autograd ops, so its gradients come from the ops' own checked rules and
// it is an oracle independent of the hand-written cell, scan and backward.
#include "attnlab/mixers/deer_rnn/deer_rnn.h"
#include "attnlab/ops/ops.h"

namespace attnlab::mixers {

Tensor deer_rnn_ref(const Tensor& u, const Tensor& w, const Tensor& h0, DeerCell cell) {
  const int64_t B = u.size(0), T = u.size(1), G = w.size(0), D = w.size(2), K = deer_gates(cell);
  ATTNLAB_CHECK(u.dim() == 4 && u.size(2) == G && u.size(3) == K * D, "deer_rnn_ref: expected u [B, T, ", G, ", ",
                K * D, "], got ", shape_str(u.shape()));
  if (T == 0) return Tensor::empty({B, 0, G, D}, u.dtype());
  Tensor h = h0.defined() ? h0 : Tensor::zeros({B, G, D}, u.dtype());
  Tensor w4 = ops::reshape(w, {1, G, K * D, D});
  std::vector<Tensor> outs;
  outs.reserve(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) {
    Tensor ut = ops::reshape(ops::slice(u, 1, t, t + 1), {B, G, K * D});
    Tensor p = ops::reshape(ops::bmm(w4, ops::reshape(h, {B, G, D, 1})), {B, G, K * D});  // W h
    if (cell == DeerCell::Tanh) {
      h = ops::tanh(ops::add(ut, p));
    } else {
      auto us = ops::split(ut, {D, D, D}, 2), ps = ops::split(p, {D, D, D}, 2);
      Tensor z = ops::sigmoid(ops::add(us[0], ps[0]));
      Tensor r = ops::sigmoid(ops::add(us[1], ps[1]));
      Tensor n = ops::tanh(ops::add(us[2], ops::mul(r, ps[2])));
      h = ops::add(n, ops::mul(z, ops::sub(h, n)));  // (1 - z) n + z h
    }
    outs.push_back(ops::reshape(h, {B, 1, G, D}));
  }
  return T == 1 ? outs[0] : ops::concat(outs, 1);
}

}  // namespace attnlab::mixers
