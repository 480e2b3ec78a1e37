#include "attnlab/autograd/gradcheck.h"

#include <cmath>

#include "attnlab/autograd/engine.h"
#include "attnlab/core/parallel.h"

namespace attnlab::autograd {

namespace {

double weighted_sum(const Tensor& out, const std::vector<double>& w) {
  std::vector<double> v = out.to_vector();
  double s = 0;
  for (size_t i = 0; i < v.size(); ++i) s += v[i] * w[i];
  return s;
}

}  // namespace

GradCheckResult gradcheck(const GradCase& c, uint64_t seed) {
  GradCheckResult r;
  r.op = c.op;
  r.label = c.label;
  // Thousands of tiny forward passes: one thread avoids a barrier per op, which on a
  // shared machine costs far more than the work.
  ScopedThreads one_thread(1);
  try {
    Rng rng(seed);
    std::vector<Tensor> inputs = c.make_inputs(rng);
    Tensor out = c.fn(inputs);
    ATTNLAB_CHECK(out.dtype() == DType::F64, "gradcheck cases run in float64, got ",
                  dtype_name(out.dtype()));
    Tensor w = Tensor::randn(out.shape(), rng, DType::F64);
    std::vector<double> wv = w.to_vector();
    out.backward(w);

    for (size_t k = 0; k < inputs.size(); ++k) {
      Tensor& x = inputs[k];
      if (!x.requires_grad()) continue;
      r.checked_inputs++;
      Tensor analytic = x.grad();
      ATTNLAB_CHECK(analytic.defined(), "input ", k, " received no gradient");
      std::vector<double> a = analytic.to_vector();
      ATTNLAB_CHECK(x.is_contiguous(), "gradcheck inputs must be contiguous");
      double* xd = x.data<double>();
      double diff2 = 0, num2 = 0;
      NoGradGuard no_grad;
      for (int64_t i = 0; i < x.numel(); ++i) {
        double saved = xd[i];
        xd[i] = saved + c.eps;
        double plus = weighted_sum(c.fn(inputs), wv);
        xd[i] = saved - c.eps;
        double minus = weighted_sum(c.fn(inputs), wv);
        xd[i] = saved;
        double numeric = (plus - minus) / (2 * c.eps);
        diff2 += (a[size_t(i)] - numeric) * (a[size_t(i)] - numeric);
        num2 += numeric * numeric;
      }
      double rel = std::sqrt(diff2) / std::max(std::sqrt(num2), 1e-12);
      if (!std::isfinite(rel)) rel = INFINITY;
      if (rel > r.max_rel_error || !std::isfinite(rel)) {
        r.max_rel_error = rel;
        if (rel > c.tol)
          r.detail = cat("input ", k, " ", shape_str(x.shape()), ": relative error ", rel,
                         " (|numeric| = ", std::sqrt(num2), ")");
      }
    }
    ATTNLAB_CHECK(r.checked_inputs > 0, "the case marks no input with requires_grad");
    r.passed = r.max_rel_error <= c.tol;
  } catch (const std::exception& e) {
    r.passed = false;
    r.detail = e.what();
  }
  return r;
}

}  // namespace attnlab::autograd
