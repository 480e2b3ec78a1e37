#include "attnlab/ops/mask.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "attnlab/autograd/node.h"
#include "attnlab/core/parallel.h"
#include "attnlab/ops/elementwise.h"
#include "attnlab/ops/gradcases.h"

namespace attnlab::ops {

namespace {

// Window size meaning "no lower bound": every key up to the diagonal.
constexpr int64_t kUnbounded = std::numeric_limits<int64_t>::max() / 4;

// Row i of each [Tq, Tk] block keeps columns [lo, hi) with hi = i + offset + 1 and
// lo = hi - window, both clamped to [0, Tk]; the rest becomes `fill`. The backward is the
// same with fill 0, so one kernel serves both.
template <class T>
void mask_rows(const T* src, T* dst, int64_t rows, int64_t Tq, int64_t Tk, int64_t offset,
               int64_t window, T fill) {
  parallel_for(0, rows, std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(Tk, 1)),
               [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t i = r % Tq;
      int64_t hi = std::clamp<int64_t>(i + offset + 1, 0, Tk);
      int64_t lo = std::clamp<int64_t>(i + offset + 1 - window, 0, hi);
      const T* s = src + r * Tk;
      T* d = dst + r * Tk;
      for (int64_t j = 0; j < lo; ++j) d[j] = fill;
      for (int64_t j = lo; j < hi; ++j) d[j] = s[j];
      for (int64_t j = hi; j < Tk; ++j) d[j] = fill;
    }
  });
}

Tensor apply_mask(const Tensor& scores_in, int64_t offset, int64_t window, double fill,
                  const char* op) {
  ATTNLAB_CHECK(scores_in.dim() >= 2, op, ": scores must be [..., Tq, Tk], got shape ",
                shape_str(scores_in.shape()));
  Tensor scores = scores_in.contiguous();
  const int64_t Tq = scores.size(-2), Tk = scores.size(-1);
  const int64_t rows = Tk ? scores.numel() / Tk : 0;
  Tensor out = Tensor::empty(scores.shape(), scores.dtype());
  dispatch_float(scores.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    if (Tk) mask_rows<T>(scores.data<T>(), out.data<T>(), rows, Tq, Tk, offset, window, T(fill));
  });
  if (autograd::should_record({scores_in})) {
    autograd::record(op, {scores_in}, out, [=](const Tensor& g) {
      Tensor gs = Tensor::empty(g.shape(), g.dtype());
      dispatch_float(g.dtype(), op, [&](auto tag) {
        using T = decltype(tag);
        if (Tk) mask_rows<T>(g.data<T>(), gs.data<T>(), rows, Tq, Tk, offset, window, T(0));
      });
      return std::vector<Tensor>{gs};
    });
  }
  return out;
}

}  // namespace

// scores [..., Tq, Tk] -> [..., Tq, Tk], kept where j <= i + offset
Tensor causal_mask(const Tensor& scores, int64_t offset, double fill) {
  return apply_mask(scores, offset, kUnbounded, fill, "causal_mask");
}

// scores [..., Tq, Tk] -> [..., Tq, Tk], kept where i + offset - window < j <= i + offset
Tensor sliding_window_mask(const Tensor& scores, int64_t window, int64_t offset, double fill) {
  ATTNLAB_CHECK(window >= 1, "sliding_window_mask: window must be >= 1, got ", window);
  return apply_mask(scores, offset, window, fill, "sliding_window_mask");
}

// ---- gradient-check cases ----

void add_mask_gradcases(std::vector<autograd::GradCase>& cases) {
  using Inputs = std::vector<Tensor>;
  auto scores = [](Rng& r, const Shape& s) {
    return Tensor::randn(s, r, DType::F64).set_requires_grad(true);
  };
  // A finite fill keeps the check's weighted sum finite; a moderate one (-30, not -1e4)
  // keeps it from swamping the finite differences with rounding error. The -inf cases go
  // through exp, which maps the masked entries to 0 (as softmax will).
  cases.push_back({"causal_mask", "[2, 5, 5], fill -30",
                   [=](Rng& r) { return Inputs{scores(r, {2, 5, 5})}; },
                   [](const Inputs& x) { return causal_mask(x[0], 0, -30); }});
  cases.push_back({"causal_mask", "[3, 7] with offset 4 (decoding block), fill -inf, then exp",
                   [=](Rng& r) { return Inputs{scores(r, {3, 7})}; },
                   [](const Inputs& x) { return exp(causal_mask(x[0], 4)); }});
  cases.push_back({"sliding_window_mask", "[2, 6, 6], window 3, fill -30",
                   [=](Rng& r) { return Inputs{scores(r, {2, 6, 6})}; },
                   [](const Inputs& x) { return sliding_window_mask(x[0], 3, 0, -30); }});
  cases.push_back({"sliding_window_mask", "[3, 8], window 2, offset 5, fill -inf, then exp",
                   [=](Rng& r) { return Inputs{scores(r, {3, 8})}; },
                   [](const Inputs& x) { return exp(sliding_window_mask(x[0], 2, 5)); }});
}

}  // namespace attnlab::ops
