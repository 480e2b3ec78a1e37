// What the softmax mixer adds to the attention logits beyond scale * q . k, shared by
// its three forms (and open to other mixers built on the same scores):
//   - a learned position bias per head (Kerple, position/kerple.h);
//   - DAPE, a score processor (Zheng et al., "DAPE: Data-Adaptive Positional Encoding
//     for Length Extrapolation", NeurIPS 2024, and "DAPE V2: Process Attention Score as
//     Feature Map for Length Extrapolation", 2024):
//       S~ = A + Bias + g(tril0(concat_heads[A, Bias]))
//     A = scale * Q K^T [B, H, Tq, Tk], Bias the position bias (ALiBi or Kerple; none for
//     NoPE and RoPE, where g sees A alone), tril0 zeroes the future entries (j > p, not
//     -inf), and g = conv(C -> Dh, 1 x k) -> LeakyReLU(0.01) -> conv(Dh -> H, 1 x k) along
//     the key axis with k / 2 zeros of padding each side; k = 1 is DAPE V1. S~ then gets
//     the causal mask and the softmax.
//
// One deliberate departure from the reference code: there the key axis ends at Tk, so
// the last k/2 query rows see the second convolution's zero padding where the other rows
// see g's first layer applied to their zeroed future. That makes a token's output depend
// on how many tokens follow it. Here every row is computed as the reference computes
// rows far from the end (the key axis extended by k/2 zero columns before the first
// convolution), so token i's output depends on tokens 0..i only and KV-cache decoding
// equals the parallel form exactly.
#pragma once
#include <cstdint>

#include <memory>

#include "attnlab/core/tensor.h"
#include "attnlab/mixers/mixer.h"
#include "attnlab/ops/attention.h"

namespace attnlab::mixers {

struct DapeWeights {
  Tensor w1, b1;  // [Dh, C, k], [Dh]; C = 2H with a position bias, H without
  Tensor w2, b2;  // [H, Dh, k], [H] or undefined (the mixer has none: the softmax cancels it)
  int64_t kernel = 3;
  bool with_bias = false;  // the second half of the C channels is the position bias
};

// Everything beyond ops::AttentionOptions that shapes the logits.
struct ScoreTerms {
  Tensor kerple_p, kerple_a;  // [H], positive: Kerple's p and a (undefined: no Kerple)
  const DapeWeights* dape = nullptr;
  bool kerple() const { return kerple_p.defined(); }
};

// Kerple's learned parameters as a mixer holds them (softmax, diff): rho_p, rho_a [heads],
// p = softplus(rho_p), a = softplus(rho_a); no weight decay.
struct KerpleParams {
  std::shared_ptr<model::Param> rho_p, rho_a;  // null until declared
  // Declares "<prefix>kerple.rho_p" and "<prefix>kerple.rho_a", drawn so that p starts in
  // (0.01, 2) and a in (0.01, 1) (position/kerple.h).
  void declare(const MixerContext& ctx, int64_t heads);
  // Sets terms.kerple_p and kerple_a from the current values; nothing when not declared.
  void add_to(ScoreTerms& terms) const;
};

// The position bias of query rows at key positions offset .. offset + rows - 1 against
// keys 0 .. Tk - 1: [H, rows, Tk] in `dtype` (ALiBi from opt.alibi_slopes, Kerple from
// terms), or undefined when there is none (NoPE, RoPE).
Tensor position_bias(const ops::AttentionOptions& opt, const ScoreTerms& terms, int64_t H,
                     int64_t rows, int64_t Tk, int64_t offset, DType dtype);

// Kerple as the fused kernel's table by distance, for every distance up to n - 1: [H, n].
Tensor kerple_table(const ScoreTerms& terms, int64_t n);

// DAPE's processed scores: A [B, H, R, Tk] (rows at key positions offset + r), bias
// [H, R, Tk] or undefined -> S~ [B, H, R, Tk] (before the causal mask). The convolutions
// see each row's visible scores and zeros elsewhere: the future, and with window > 0 the
// keys before the window (attnlab's extension: the paper has no window).
Tensor dape_scores(const Tensor& A, const Tensor& bias, int64_t offset, const DapeWeights& w,
                   int64_t window = 0);

// Attention of R query rows through DAPE, all from autograd ops: q [B, H, R, D] at key
// positions offset .. offset + R - 1, k [B, Hkv, Tk, D], v [B, Hkv, Tk, Dv] with
// Tk > offset + R - 1 -> o [B, H, R, Dv]. Causal; opt.window as everywhere (dape_scores).
Tensor dape_attention_rows(const Tensor& q, const Tensor& k, const Tensor& v, int64_t offset,
                           const ops::AttentionOptions& opt, const ScoreTerms& terms);

// Query rows per block of DAPE's parallel form: the most rows whose activations (about
// B * Tk * (3 C + 4 Dh + 10 H) values per row: the scores, their masked and padded
// copies, the convolutions and the softmax) fit in budget_bytes, at least 1 and at most Tq.
int64_t dape_block_rows(int64_t B, int64_t Tq, int64_t Tk, int64_t H, int64_t channels,
                        int64_t hidden, int64_t bytes_per_value, int64_t budget_bytes);
constexpr int64_t kDapeBlockBudgetBytes = int64_t(64) << 20;  // 64 MiB of activations per block

}  // namespace attnlab::mixers
