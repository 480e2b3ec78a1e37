// ALiBi (Press et al., "Train Short, Test Long"): attention logits get -m_h * (i - j).
// Slopes follow Press's rule for any head count: for H = 2^p, m_h = 2^(-8h/H), h = 1..H;
// otherwise, with P the largest power of two below H, the P slopes of slopes(P) followed
// by every other slope of slopes(2P) until there are H (the reference repo's rule; for
// 12 heads: 0.5 ... 0.0039, then 0.707, 0.354, 0.177, 0.088).
#pragma once
#include <cstdint>
#include <vector>

namespace attnlab::position {

std::vector<double> alibi_slopes(int64_t heads);

}  // namespace attnlab::position
