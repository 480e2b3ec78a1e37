// EMO (Ren et al., "EMO: Earth Mover Distance Optimization for Auto-regressive Language
// Modeling"; code DRSY/EMO): a differentiable upper bound on the earth mover's distance
// between the model's next-token distribution Q and the one-hot target t, with transport
// cost C(i, j) = 1 - cos(e_i, e_j) over the rows of a frozen embedding E [V, d]:
//
//   DEMD = sum_i Q_i C(i, t) = 1 - < e^_t, sum_i Q_i e^_i >,   e^ = e / |e| (unit rows)
//
// one [N, V] x [V, d] product per batch. Combined with cross-entropy per token, then a
// mean over the rows whose target is not ignored (sg = stop-gradient):
//
//   ce-equal        L = 1/2 [CE + sg(CE / (DEMD + eps)) DEMD]    value = CE; the EMO
//                   gradient is rescaled to the size of the CE gradient (the paper's LM mode)
//   emo-emphasised  L = DEMD + sg(DEMD / (CE + eps)) CE          value = 2 DEMD (emo_patch "mode 2")
//
// The cost embedding is a constant: no gradient reaches it. Composed of autograd ops
// (softmax, matmul, embedding, mul, sum), so its gradient w.r.t. the logits comes from
// theirs; emo_distance has a finite-difference case (the combined losses cannot: by
// design their gradient is not the derivative of their value).
#pragma once
#include <cstdint>
#include <string>

#include "attnlab/core/tensor.h"

namespace attnlab::ops {

enum class EmoMode { CeEqual, EmoEmphasised };
EmoMode parse_emo_mode(const std::string& name);  // "ce-equal" | "emo-emphasised"

// Unit rows of E [V, d] (no gradient): the cost embedding emo_* take.
Tensor emo_unit_rows(const Tensor& embedding);

// Per-row DEMD, shape of `targets` ([N] or logits' leading dims), 0 where the target is
// ignored. logits [..., V]; unit_embedding [V, d] of the logits' dtype. Differentiable
// w.r.t. the logits.
Tensor emo_distance(const Tensor& logits, const Tensor& targets, const Tensor& unit_embedding,
                    int64_t ignore_index = -100);

// The combined training loss above: a scalar, 0 when every target is ignored.
Tensor emo_loss(const Tensor& logits, const Tensor& targets, const Tensor& unit_embedding, EmoMode mode,
                int64_t ignore_index = -100, double eps = 1e-8);

}  // namespace attnlab::ops
