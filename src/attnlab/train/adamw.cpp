#include "attnlab/train/adamw.h"

#include <cmath>
#include <vector>

#include "attnlab/core/parallel.h"

namespace attnlab::train {

AdamW::AdamW(model::ParamStore& params, const AdamWParams& hp) : params_(params), hp_(hp) {
  ATTNLAB_CHECK(params.allocated(), "AdamW: parameters are not allocated");
  m_ = Tensor::zeros({params.numel()});
  v_ = Tensor::zeros({params.numel()});
}

void AdamW::step(double lr) {
  ++t_;
  const float b1 = float(hp_.beta1), b2 = float(hp_.beta2), eps = float(hp_.eps);
  const float bc1 = float(1.0 - std::pow(hp_.beta1, double(t_)));
  const float bc2_sqrt = float(std::sqrt(1.0 - std::pow(hp_.beta2, double(t_))));
  float* w = params_.values().data<float>();
  const float* g = params_.grads().data<float>();
  float* m = m_.data<float>();
  float* v = v_.data<float>();
  for (const auto& p : params_.params()) {
    const float decay = p->weight_decay ? float(1.0 - lr * hp_.weight_decay) : 1.0f;
    const float step_size = float(lr) / bc1;
    int64_t begin = p->offset, end = p->offset + shape_numel(p->shape);
    parallel_for(begin, end, 1 << 14, [&](int64_t b, int64_t e) {
#pragma omp simd
      for (int64_t i = b; i < e; ++i) {
        float gi = g[i];
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        float denom = std::sqrt(v[i]) / bc2_sqrt + eps;
        w[i] = w[i] * decay - step_size * m[i] / denom;
      }
    });
  }
}

double grad_norm(model::ParamStore& params) {
  const float* g = params.grads().data<float>();
  int64_t n = params.numel();
  // Fixed blocks summed in a fixed order: the same norm for any thread count.
  const int64_t block = 1 << 14;
  int64_t blocks = (n + block - 1) / block;
  std::vector<double> partial(static_cast<size_t>(blocks), 0.0);
  parallel_for(0, blocks, 4, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) {
      double s = 0;
      for (int64_t i = k * block, end = std::min(n, (k + 1) * block); i < end; ++i) s += double(g[i]) * g[i];
      partial[size_t(k)] = s;
    }
  });
  double total = 0;
  for (double s : partial) total += s;
  return std::sqrt(total);
}

double clip_grad_norm(model::ParamStore& params, double max_norm) {
  double norm = grad_norm(params);
  if (max_norm > 0 && norm > max_norm) {
    float s = float(max_norm / (norm + 1e-6));
    float* g = params.grads().data<float>();
    parallel_for(0, params.numel(), 1 << 15, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) g[i] *= s;
    });
  }
  return norm;
}

}  // namespace attnlab::train
