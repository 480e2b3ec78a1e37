#include "attnlab/ops/pool.h"

#include "attnlab/autograd/node.h"
#include "attnlab/core/parallel.h"
#include "attnlab/ops/gradcases.h"

namespace attnlab::ops {

Tensor max_over_time(const Tensor& x_in, const std::vector<int64_t>& lengths) {
  ATTNLAB_CHECK(x_in.dim() == 3, "max_over_time: expected x [B, T, C], got ", shape_str(x_in.shape()));
  const int64_t B = x_in.size(0), T = x_in.size(1), C = x_in.size(2);
  ATTNLAB_CHECK(int64_t(lengths.size()) == B, "max_over_time: ", lengths.size(), " lengths for batch ", B);
  for (int64_t len : lengths)
    ATTNLAB_CHECK(len >= 1 && len <= T, "max_over_time: length ", len, " outside [1, ", T, "]");
  Tensor x = x_in.contiguous();
  Tensor y = Tensor::empty({B, C}, x.dtype());
  auto arg = std::make_shared<std::vector<int64_t>>(static_cast<size_t>(B * C));
  dispatch_float(x.dtype(), "max_over_time", [&](auto tag) {
    using S = decltype(tag);
    const S* xp = x.data<S>();
    S* yp = y.data<S>();
    parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b)
        for (int64_t c = 0; c < C; ++c) {
          int64_t best = 0;
          for (int64_t t = 1; t < lengths[size_t(b)]; ++t)
            if (xp[(b * T + t) * C + c] > xp[(b * T + best) * C + c]) best = t;
          (*arg)[size_t(b * C + c)] = best;
          yp[b * C + c] = xp[(b * T + best) * C + c];
        }
    });
  });
  if (autograd::should_record({x_in})) {
    autograd::record("max_over_time", {x_in}, y, [arg, B, T, C](const Tensor& gy_in) {
      Tensor gy = gy_in.contiguous();
      Tensor gx = Tensor::zeros({B, T, C}, gy.dtype());
      dispatch_float(gy.dtype(), "max_over_time backward", [&](auto tag) {
        using S = decltype(tag);
        for (int64_t b = 0; b < B; ++b)
          for (int64_t c = 0; c < C; ++c)
            gx.data<S>()[(b * T + (*arg)[size_t(b * C + c)]) * C + c] = gy.data<S>()[b * C + c];
      });
      return std::vector<Tensor>{gx};
    });
  }
  return y;
}

// ---- gradient-check cases ----

void add_pool_gradcases(std::vector<autograd::GradCase>& cases) {
  using Inputs = std::vector<Tensor>;
  cases.push_back({"max_over_time", "[3, 7, 4], lengths 7, 1, 4",
                   [](Rng& r) { return Inputs{Tensor::randn({3, 7, 4}, r, DType::F64).set_requires_grad(true)}; },
                   [](const Inputs& x) { return max_over_time(x[0], {7, 1, 4}); }});
}

}  // namespace attnlab::ops
