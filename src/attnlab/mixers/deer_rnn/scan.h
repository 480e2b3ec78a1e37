// The linear recurrence every Newton iteration (and the backward pass) solves, for many
// independent sequences at once (internal to deer_rnn):
//   out_0 = b_0,   out_r = M_r out_{r-1} + b_r   (r = 1 .. n-1)
// M_r is a D x D matrix (or its diagonal). The solve is a chunked associative scan over
// the pairs (M, b), combined as (M_j M_i, M_j b_i + b_j): each chunk's pair is formed in
// parallel, the chunk pairs are scanned in order, and each chunk is then run from its
// carried-in state in parallel. One chunk per sequence is the plain sequential scan.
//
// Forward mode: M_r = A[r], b_r = b[r], out_r = out[r].
// Reverse mode (the adjoint): step r is time t = n-1-r, M_r = A[t+1]^T, b_r = b[t],
// out_r = out[t]; this is lambda_t = g_t + J_{t+1}^T lambda_{t+1}.
#pragma once
#include <cstdint>
#include <vector>

#include "attnlab/core/parallel.h"

namespace attnlab::mixers::deer {

template <class S>
struct LinearScan {
  int64_t seqs = 0, n = 0, D = 0;  // sequences, steps, state size
  bool diag = false, reverse = false;
  int64_t chunks = 1;
  const S* A = nullptr;  // [seqs, n, D, D] or [seqs, n, D]
  const S* b = nullptr;  // [seqs, n, D]
  S* out = nullptr;      // [seqs, n, D]

  int64_t a_size() const { return diag ? D : D * D; }
  int64_t time(int64_t r) const { return reverse ? n - 1 - r : r; }
  const S* mat(int64_t q, int64_t r) const { return A + (q * n + (reverse ? n - r : r)) * a_size(); }
  const S* bvec(int64_t q, int64_t r) const { return b + (q * n + time(r)) * D; }
  S* ovec(int64_t q, int64_t r) const { return out + (q * n + time(r)) * D; }

  // y = M x (M^T x in reverse mode, unless `as_is`: the chunk pairs are already
  // products of transposes); x and y must not alias.
  void apply(const S* M, const S* x, S* y, bool as_is = false) const {
    if (diag) {
      for (int64_t i = 0; i < D; ++i) y[i] = M[i] * x[i];
    } else if (!reverse || as_is) {
      for (int64_t i = 0; i < D; ++i) {
        S acc = 0;
        for (int64_t j = 0; j < D; ++j) acc += M[i * D + j] * x[j];
        y[i] = acc;
      }
    } else {
      for (int64_t i = 0; i < D; ++i) y[i] = 0;
      for (int64_t j = 0; j < D; ++j)
        for (int64_t i = 0; i < D; ++i) y[i] += M[j * D + i] * x[j];
    }
  }

  // C = M C (M^T C in reverse mode), C square D x D or diagonal; tmp has a_size().
  void compose(const S* M, S* C, S* tmp) const {
    if (diag) {
      for (int64_t i = 0; i < D; ++i) C[i] *= M[i];
      return;
    }
    for (int64_t i = 0; i < D; ++i)
      for (int64_t k = 0; k < D; ++k) {
        S acc = 0;
        for (int64_t j = 0; j < D; ++j) acc += (reverse ? M[j * D + i] : M[i * D + j]) * C[j * D + k];
        tmp[i * D + k] = acc;
      }
    for (int64_t i = 0; i < D * D; ++i) C[i] = tmp[i];
  }

  // Runs steps [r0, r1) of sequence q from x (state before r0; ignored when r0 = 0).
  void run(int64_t q, int64_t r0, int64_t r1, const S* x, S* tmp) const {
    for (int64_t r = r0; r < r1; ++r) {
      S* o = ovec(q, r);
      const S* bv = bvec(q, r);
      if (r == 0) {
        for (int64_t i = 0; i < D; ++i) o[i] = bv[i];
      } else {
        apply(mat(q, r), r == r0 ? x : ovec(q, r - 1), tmp);
        for (int64_t i = 0; i < D; ++i) o[i] = tmp[i] + bv[i];
      }
    }
  }

  void solve() const {
    const int64_t P = std::max<int64_t>(1, std::min(chunks, n));
    auto lo = [&](int64_t c) { return n * c / P; };
    if (P == 1) {
      parallel_for(0, seqs, 1, [&](int64_t q0, int64_t q1) {
        std::vector<S> tmp(static_cast<size_t>(D));
        for (int64_t q = q0; q < q1; ++q) run(q, 0, n, nullptr, tmp.data());
      });
      return;
    }
    const int64_t AS = a_size();
    std::vector<S> Abar(static_cast<size_t>(seqs * P * AS)), bbar(static_cast<size_t>(seqs * P * D));
    std::vector<S> carry(static_cast<size_t>(seqs * P * D));
    // Phase 1: chunk 0 runs for real; every later chunk forms its pair (Abar, bbar).
    parallel_for(0, seqs * P, 1, [&](int64_t w0, int64_t w1) {
      std::vector<S> tmp(static_cast<size_t>(AS + D)), x(static_cast<size_t>(D));
      for (int64_t w = w0; w < w1; ++w) {
        int64_t q = w / P, c = w % P;
        if (c == 0) {
          run(q, 0, lo(1), nullptr, tmp.data());
          continue;
        }
        S* Ab = Abar.data() + w * AS;
        S* bb = bbar.data() + w * D;
        for (int64_t i = 0; i < AS; ++i) Ab[i] = 0;
        for (int64_t i = 0; i < D; ++i) Ab[diag ? i : i * D + i] = 1, bb[i] = 0;
        for (int64_t r = lo(c); r < lo(c + 1); ++r) {
          compose(mat(q, r), Ab, tmp.data());
          apply(mat(q, r), bb, x.data());
          const S* bv = bvec(q, r);
          for (int64_t i = 0; i < D; ++i) bb[i] = x[i] + bv[i];
        }
      }
    });
    // Phase 2: the chunk pairs in order give each chunk's carried-in state.
    parallel_for(0, seqs, 1, [&](int64_t q0, int64_t q1) {
      std::vector<S> x(static_cast<size_t>(D));
      for (int64_t q = q0; q < q1; ++q) {
        const S* e = ovec(q, lo(1) - 1);
        S* c1 = carry.data() + (q * P + 1) * D;
        for (int64_t i = 0; i < D; ++i) c1[i] = e[i];
        for (int64_t c = 1; c + 1 < P; ++c) {
          apply(Abar.data() + (q * P + c) * AS, carry.data() + (q * P + c) * D, x.data(), /*as_is=*/true);
          const S* bb = bbar.data() + (q * P + c) * D;
          S* next = carry.data() + (q * P + c + 1) * D;
          for (int64_t i = 0; i < D; ++i) next[i] = x[i] + bb[i];
        }
      }
    });
    // Phase 3: every later chunk runs from its carried-in state.
    parallel_for(0, seqs * (P - 1), 1, [&](int64_t w0, int64_t w1) {
      std::vector<S> tmp(static_cast<size_t>(D));
      for (int64_t w = w0; w < w1; ++w) {
        int64_t q = w / (P - 1), c = 1 + w % (P - 1);
        run(q, lo(c), lo(c + 1), carry.data() + (q * P + c) * D, tmp.data());
      }
    });
  }
};

}  // namespace attnlab::mixers::deer
