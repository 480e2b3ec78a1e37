// Decoding form of HoMM's causal mean, one token at a time with a fixed-size state:
//   S <- S + M_t,   n <- n + 1,   R_t = S / n
// (the linear form the author endorses in davidpicard/HoMM issue #1). The state is
// k * e * d running sums per sequence, kept in float64 so that a million tokens of
// float32 moments are summed without drift; R_t is rounded to the compute dtype once.
//
// Without gradients this is one loop over tokens in double. Under grad mode (the
// registry tests differentiate every form) the same recurrence is a chain of autograd
// ops in the compute dtype; the state is then updated from the values, so gradients do
// not cross calls (they do within one call).
#include "attnlab/autograd/node.h"
#include "attnlab/core/parallel.h"
#include "attnlab/mixers/homm/homm.h"
#include "attnlab/ops/ops.h"

namespace attnlab::mixers {

namespace {

template <class T>
void running_mean(const T* m, T* out, double* sum, int64_t start, int64_t B, int64_t L, int64_t F) {
  parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      double* s = sum + b * F;
      for (int64_t t = 0; t < L; ++t) {
        const T* in_row = m + (b * L + t) * F;
        T* out_row = out + (b * L + t) * F;
        const double inv_count = 1.0 / double(start + t + 1);
        for (int64_t f = 0; f < F; ++f) {
          s[f] += double(in_row[f]);
          out_row[f] = T(s[f] * inv_count);
        }
      }
    }
  });
}

// Under grad: the recurrence token by token with autograd ops.
Tensor running_mean_with_grad(const Tensor& m, const HommState& state) {
  const int64_t B = m.size(0), T = m.size(1), F = m.size(2);
  Tensor s;
  if (state.len > 0) s = state.sum.to(m.dtype());  // [B, F], a constant
  std::vector<Tensor> outs;
  outs.reserve(size_t(T));
  for (int64_t t = 0; t < T; ++t) {
    Tensor m_t = ops::reshape(ops::slice(m, 1, t, t + 1), {B, F});
    s = s.defined() ? ops::add(s, m_t) : m_t;
    outs.push_back(ops::reshape(ops::scale(s, 1.0 / double(state.len + t + 1)), {B, 1, F}));
  }
  return T == 1 ? outs[0] : ops::concat(outs, 1);
}

}  // namespace

Tensor homm_mean_recurrent(const Tensor& m, HommState& state) {
  if (autograd::grad_enabled() && m.requires_grad()) {
    Tensor out = running_mean_with_grad(m, state);
    homm_state_add(state, m);
    return out;
  }
  Tensor mc = m.detach().contiguous();
  const int64_t B = mc.size(0), T = mc.size(1), F = mc.size(2);
  if (!state.sum.defined()) state.sum = Tensor::zeros({B, F}, DType::F64);
  Tensor out = Tensor::empty(mc.shape(), mc.dtype());
  double* sum = state.sum.data<double>();
  if (mc.dtype() == DType::F64) {
    running_mean(mc.data<double>(), out.data<double>(), sum, state.len, B, T, F);
  } else {
    ATTNLAB_CHECK(mc.dtype() == DType::F32, "homm: the recurrent form runs in float32 or float64, got ",
                  dtype_name(mc.dtype()));
    running_mean(mc.data<float>(), out.data<float>(), sum, state.len, B, T, F);
  }
  state.len += T;
  return out;
}

}  // namespace attnlab::mixers
