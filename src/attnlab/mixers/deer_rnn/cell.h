// The cells of deer_rnn as plain loops over one group's state (internal to the mixer):
// f(h, u), its Jacobian df/dh (full or diagonal) and its vector-Jacobian product.
// W is [K*D, D] row-major (gate k's matrix is rows k*D .. k*D + D - 1), u is [K*D].
#pragma once
#include <cmath>
#include <cstdint>

#include "attnlab/mixers/deer_rnn/deer_rnn.h"

namespace attnlab::mixers::deer {

template <class S>
inline S sigmoid(S x) {
  return x >= 0 ? S(1) / (S(1) + std::exp(-x)) : std::exp(x) / (S(1) + std::exp(x));
}

template <class S>
struct Cell {
  DeerCell kind;
  int64_t D;

  int64_t gates() const { return kind == DeerCell::Gru ? 3 : 1; }
  int64_t scratch_size() const { return 4 * D; }

  // pre[k*D + i] = sum_j W[k*D + i, j] h[j]
  void pre(const S* W, const S* h, S* out) const {
    for (int64_t r = 0; r < gates() * D; ++r) {
      S acc = 0;
      const S* row = W + r * D;
      for (int64_t j = 0; j < D; ++j) acc += row[j] * h[j];
      out[r] = acc;
    }
  }

  // f = f(h, u); J (D x D, row-major: J[i][j] = df_i/dh_j) or its diagonal (D), if non-null.
  void eval(const S* W, const S* h, const S* u, S* f, S* J, bool diag, S* scratch) const {
    S* p = scratch;  // [K*D]
    pre(W, h, p);
    if (kind == DeerCell::Tanh) {
      for (int64_t i = 0; i < D; ++i) f[i] = std::tanh(u[i] + p[i]);
      if (!J) return;
      for (int64_t i = 0; i < D; ++i) {
        S g = S(1) - f[i] * f[i];
        if (diag) J[i] = g * W[i * D + i];
        else
          for (int64_t j = 0; j < D; ++j) J[i * D + j] = g * W[i * D + j];
      }
      return;
    }
    const S *Wz = W, *Wr = W + D * D, *Wn = W + 2 * D * D;
    for (int64_t i = 0; i < D; ++i) {
      S z = sigmoid(u[i] + p[i]), r = sigmoid(u[D + i] + p[D + i]), q = p[2 * D + i];
      S n = std::tanh(u[2 * D + i] + r * q);
      f[i] = n + z * (h[i] - n);
      if (!J) continue;
      // J[i][j] = z d_ij + cz W_z[i][j] + cr W_r[i][j] + cn W_n[i][j]
      S dn = (S(1) - z) * (S(1) - n * n);
      S cz = (h[i] - n) * z * (S(1) - z), cr = dn * q * r * (S(1) - r), cn = dn * r;
      if (diag) {
        J[i] = z + cz * Wz[i * D + i] + cr * Wr[i * D + i] + cn * Wn[i * D + i];
      } else {
        for (int64_t j = 0; j < D; ++j)
          J[i * D + j] = cz * Wz[i * D + j] + cr * Wr[i * D + j] + cn * Wn[i * D + j];
        J[i * D + i] += z;
      }
    }
  }

  // Given lam = dL/df: du [K*D] = dL/du (written), dW [K*D, D] += dL/dW (if non-null),
  // dh [D] = dL/dh = J^T lam (written).
  void vjp(const S* W, const S* h, const S* u, const S* lam, S* du, S* dW, S* dh, S* scratch) const {
    S* p = scratch;       // [K*D] pre-activations
    S* dp = scratch + 3 * D;  // [D] cotangent of one gate's W h, reused per gate below
    pre(W, h, p);
    for (int64_t j = 0; j < D; ++j) dh[j] = 0;
    auto backprop_gate = [&](int64_t k, const S* dpk) {  // dh += W_k^T dpk, dW_k += dpk h^T
      const S* Wk = W + k * D * D;
      for (int64_t i = 0; i < D; ++i) {
        S g = dpk[i];
        for (int64_t j = 0; j < D; ++j) dh[j] += Wk[i * D + j] * g;
        if (dW)
          for (int64_t j = 0; j < D; ++j) dW[(k * D + i) * D + j] += g * h[j];
      }
    };
    if (kind == DeerCell::Tanh) {
      for (int64_t i = 0; i < D; ++i) {
        S f = std::tanh(u[i] + p[i]);
        du[i] = dp[i] = lam[i] * (S(1) - f * f);
      }
      backprop_gate(0, dp);
      return;
    }
    S *du_z = du, *du_r = du + D, *du_n = du + 2 * D;
    for (int64_t i = 0; i < D; ++i) {
      S z = sigmoid(u[i] + p[i]), r = sigmoid(u[D + i] + p[D + i]), q = p[2 * D + i];
      S n = std::tanh(u[2 * D + i] + r * q);
      S dpn = lam[i] * (S(1) - z) * (S(1) - n * n);
      du_n[i] = dpn;
      du_r[i] = dpn * q * r * (S(1) - r);
      du_z[i] = lam[i] * (h[i] - n) * z * (S(1) - z);
      dp[i] = dpn * r;  // cotangent of W_n h
    }
    // dh = z * lam + W_z^T du_z + W_r^T du_r + W_n^T dp
    backprop_gate(2, dp);
    backprop_gate(0, du_z);
    backprop_gate(1, du_r);
    for (int64_t i = 0; i < D; ++i) {
      S z = sigmoid(u[i] + p[i]);
      dh[i] += z * lam[i];
    }
  }
};

}  // namespace attnlab::mixers::deer
