// Decoding form: one token at a time, the hidden state h [B, G, D] carried between steps.
// Each step is deer_rnn_scan's sequential solver on one token (the hand-written cell and
// its backward), so the recurrent form is differentiable like the others. Decoding calls
// it with one token at a time.
#include "attnlab/autograd/node.h"
#include "attnlab/mixers/deer_rnn/deer_rnn.h"
#include "attnlab/ops/ops.h"

namespace attnlab::mixers {

Tensor deer_rnn_recurrent(const Tensor& u, const Tensor& w, const Tensor& h0, DeerCell cell) {
  const int64_t B = u.size(0), T = u.size(1), G = w.size(0), D = w.size(2);
  if (T == 0) return Tensor::empty({B, 0, G, D}, u.dtype());
  DeerSolve step;
  step.cell = cell;
  step.solver = DeerSolver::Sequential;
  // Under grad, one call whose solver steps through the tokens in order: slicing u per
  // token would cost O(T) per slice in the backward pass (each slice's gradient is a
  // zero-filled tensor of u's full shape), O(T^2) in all.
  if (autograd::grad_enabled() && (u.requires_grad() || w.requires_grad() || (h0.defined() && h0.requires_grad())))
    return deer_rnn_scan(u, w, h0, step);
  Tensor h = h0;
  std::vector<Tensor> outs;
  outs.reserve(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) {
    Tensor ht = deer_rnn_scan(ops::slice(u, 1, t, t + 1), w, h, step);  // [B, 1, G, D]
    h = ops::reshape(ht, {B, G, D});
    outs.push_back(ht);
  }
  return T == 1 ? outs[0] : ops::concat(outs, 1);
}

}  // namespace attnlab::mixers
