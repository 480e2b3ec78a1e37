#include "attnlab/train/adamw.h"

#include <cmath>
#include <vector>

#include "attnlab/core/parallel.h"

namespace attnlab::train {

AdamW::AdamW(model::ParamStore& params, const AdamWParams& hp) : params_(params), hp_(hp) {
  ATTNLAB_CHECK(params.allocated(), "AdamW: parameters are not allocated");
  // Moments in the parameters' type: float32 for training, float64 for the golden tests.
  m_ = Tensor::zeros({params.numel()}, params.dtype());
  v_ = Tensor::zeros({params.numel()}, params.dtype());
}

void AdamW::step(double lr) {
  ++t_;
  dispatch_float(params_.dtype(), "AdamW", [&](auto tag) {
    using T = decltype(tag);
    const T b1 = T(hp_.beta1), b2 = T(hp_.beta2), eps = T(hp_.eps);
    const T bc1 = T(1.0 - std::pow(hp_.beta1, double(t_)));
    const T bc2_sqrt = T(std::sqrt(1.0 - std::pow(hp_.beta2, double(t_))));
    T* w = params_.values().data<T>();
    const T* g = params_.grads().data<T>();
    T* m = m_.data<T>();
    T* v = v_.data<T>();
    for (const auto& p : params_.params()) {
      const T decay = p->weight_decay ? T(1.0 - lr * hp_.weight_decay) : T(1);
      const T step_size = T(lr) / bc1;
      int64_t begin = p->offset, end = p->offset + shape_numel(p->shape);
      parallel_for(begin, end, 1 << 14, [&](int64_t b, int64_t e) {
#pragma omp simd
        for (int64_t i = b; i < e; ++i) {
          T gi = g[i];
          m[i] = b1 * m[i] + (1 - b1) * gi;
          v[i] = b2 * v[i] + (1 - b2) * gi * gi;
          T denom = std::sqrt(v[i]) / bc2_sqrt + eps;
          w[i] = w[i] * decay - step_size * m[i] / denom;
        }
      });
    }
  });
}

double grad_norm(model::ParamStore& params) {
  int64_t n = params.numel();
  // Fixed blocks summed in a fixed order: the same norm for any thread count.
  const int64_t block = 1 << 14;
  int64_t blocks = (n + block - 1) / block;
  std::vector<double> partial(static_cast<size_t>(blocks), 0.0);
  dispatch_float(params.dtype(), "grad_norm", [&](auto tag) {
    using T = decltype(tag);
    const T* g = params.grads().data<T>();
    parallel_for(0, blocks, 4, [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) {
        double s = 0;
        for (int64_t i = k * block, end = std::min(n, (k + 1) * block); i < end; ++i) s += double(g[i]) * double(g[i]);
        partial[size_t(k)] = s;
      }
    });
  });
  double total = 0;
  for (double s : partial) total += s;
  return std::sqrt(total);
}

double clip_grad_norm(model::ParamStore& params, double max_norm) {
  double norm = grad_norm(params);
  if (max_norm > 0 && norm > max_norm) {
    dispatch_float(params.dtype(), "clip_grad_norm", [&](auto tag) {
      using T = decltype(tag);
      T s = T(max_norm / (norm + 1e-6));
      T* g = params.grads().data<T>();
      parallel_for(0, params.numel(), 1 << 15, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) g[i] *= s;
      });
    });
  }
  return norm;
}

}  // namespace attnlab::train
