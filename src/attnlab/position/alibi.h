// ALiBi (Press et al., "Train Short, Test Long"): attention logits get -m_h * (i - j).
// Slopes follow Press's rule for any head count: for H = 2^p, m_h = 2^(-8h/H), h = 1..H;
// otherwise, with P the largest power of two below H, the P slopes of slopes(P) followed
// by every other slope of slopes(2P) until there are H (the reference repo's rule; for
// 12 heads: 0.5 ... 0.0039, then 0.707, 0.354, 0.177, 0.088).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace attnlab::position {

std::vector<double> alibi_slopes(int64_t heads);

// Slope scaling for running past the training length L_train by a factor a >= 1.
//   None         Press's slopes unchanged.
//   Interpolate  every slope divided by a ("internal interpolation": a bias at distance
//                a * d equals the trained bias at distance d).
//   Ntk          NTK-ALiBi: m_h / a^((h-1)/(H-1)) for H = 2^p, so the steepest head
//                (local detail) is kept and the flattest one is interpolated fully.
//                For other H Press's extra heads are interleaved, so h no longer orders
//                the slopes (the original code leaves those extra heads unscaled). We
//                use the rank instead: sort the H slopes from largest (rank 0) to
//                smallest (rank H-1) and divide each by a^(rank/(H-1)). For H = 2^p the
//                rank is h-1 and this is the closed form; H = 1 is left unscaled.
enum class AlibiScaling { None, Interpolate, Ntk };
AlibiScaling parse_alibi_scaling(const std::string& name);  // "none" | "interpolate" | "ntk"
std::vector<double> alibi_scaled_slopes(int64_t heads, AlibiScaling scaling, double factor);

// Dynamic scaling (keezen/ntk_alibi): a = max(1, a0 * length / original_length), with
// `length` the total length (cached + new tokens) of the current call; a0 = 1 by default.
double alibi_dynamic_factor(int64_t length, int64_t original_length, double a0 = 1.0);

}  // namespace attnlab::position
