// Kerple (Chi, Fan, Ramadge and Rudnicky, "KERPLE: Kernelized Relative Positional
// Embedding for Length Extrapolation", NeurIPS 2022), the logarithmic variant:
//   logit_ij += -p_h * log(1 + a_h * |i - j|),   p_h > 0, a_h > 0 learned per head h.
// Positivity comes from the parametrisation: p = softplus(rho_p), a = softplus(rho_a),
// with rho the stored parameters (the reference code clamps p and a at 1e-2 instead,
// which stops their gradient there).
//
// Built from autograd ops, so gradients reach rho_p and rho_a by the ops' own rules:
//   the fused attention takes the bias as a table by distance (ops::attention_distance_bias),
//   the reference form as an explicit [H, Tq, Tk] matrix.
#pragma once
#include <cstdint>

#include "attnlab/core/tensor.h"

namespace attnlab::position {

// log(1 + exp(rho)), elementwise (plain form: rho stays far below exp's overflow in use).
Tensor softplus(const Tensor& rho);
double softplus_inverse(double y);  // log(exp(y) - 1), y > 0: the rho that gives y

// Initial rho ranges: p in (0.01, 2) and a in (0.01, 1), the reference's U(0, 2) and
// U(0, 1) kept away from 0 by its 1e-2 clamp (uniform in rho, so not uniform in p, a).
constexpr double kKerpleMinInit = 0.01, kKerpleMaxP = 2.0, kKerpleMaxA = 1.0;

// p, a [H] -> [H, n]: table[h, d] = -p_h log(1 + a_h d) for d = 0 .. n-1.
Tensor kerple_distance_table(const Tensor& p, const Tensor& a, int64_t n);
// p, a [H] -> [H, Tq, Tk]: -p_h log(1 + a_h |offset + i - j|) (query i at key position
// offset + i).
Tensor kerple_bias(const Tensor& p, const Tensor& a, int64_t Tq, int64_t Tk, int64_t offset);

}  // namespace attnlab::position
