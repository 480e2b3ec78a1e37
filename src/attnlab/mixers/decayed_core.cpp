#include "attnlab/mixers/decayed_core.h"

#include <cmath>

#include "attnlab/autograd/node.h"
#include "attnlab/ops/ops.h"

namespace attnlab::mixers {

Tensor decayed_core(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& log_gamma, Form form,
                    int64_t chunk, DecayedState* state) {
  Tensor s0 = state && state->len > 0 ? state->s : Tensor();
  const bool grad = autograd::should_record({q, k, v, log_gamma, s0});
  Tensor o, s_next;
  if (chunk < 1) chunk = 32;  // the recurrent form's backward is chunkwise too
  Tensor* s_out = state && !grad ? &s_next : nullptr;
  switch (form) {
    case Form::Ref: o = ops::decayed_linear_attention_reference(q, k, v, log_gamma, s0); break;
    case Form::Parallel:
      o = ops::decayed_linear_attention(q, k, v, log_gamma, s0, ops::DecayedLinearOptions::make(chunk), s_out);
      break;
    case Form::Recurrent:
      o = ops::decayed_linear_attention(q, k, v, log_gamma, s0, ops::DecayedLinearOptions::make(chunk, true), s_out);
      break;
  }
  if (state) {
    // Under grad the state must carry history; the ref form computes no kernel state.
    if (grad || !s_next.defined()) s_next = ops::decayed_linear_state(k, v, log_gamma, s0);
    state->s = s_next;
    state->len += q.size(2);
  }
  return o;
}

DecayedState* decayed_state_of(MixerState* state, const char* mixer) {
  if (!state) return nullptr;
  auto* s = dynamic_cast<DecayedState*>(state);
  ATTNLAB_CHECK(s, mixer, ": the state passed is not a decayed linear-attention state");
  return s;
}

Tensor project_to_heads(const Tensor& x, const Tensor& w, int64_t heads, int64_t D) {
  Tensor y = ops::matmul(x, ops::transpose(w, 0, 1));  // [B, T, heads * D]
  y = ops::reshape(y, {x.size(0), x.size(1), heads, D});
  return ops::contiguous(ops::transpose(y, 1, 2));
}

Tensor merge_heads(const Tensor& o) {
  return ops::reshape(ops::transpose(o, 1, 2), {o.size(0), o.size(2), o.size(1) * o.size(3)});
}

double xavier_bound(int64_t fan_in, int64_t fan_out, double gain) {
  return gain * std::sqrt(6.0 / double(fan_in + fan_out));
}

std::vector<double> decay_theta(const std::vector<double>& gammas) {
  std::vector<double> theta;
  for (double g : gammas) theta.push_back(std::log(-std::log(g)));
  return theta;
}

Tensor log_gamma_constant(const std::vector<double>& gammas, DType dtype) {
  std::vector<double> lg;
  for (double g : gammas) lg.push_back(std::log(g));
  return Tensor::from_vector(lg, {int64_t(lg.size())}).to(dtype);
}

}  // namespace attnlab::mixers
