#include "attnlab/ops/shape.h"

#include "attnlab/autograd/node.h"
#include "attnlab/ops/gradcases.h"

namespace attnlab::ops {

Tensor reshape(const Tensor& a, Shape shape) {
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      ATTNLAB_CHECK(infer < 0, "reshape: more than one -1 in ", shape_str(shape));
      infer = int64_t(i);
    } else {
      ATTNLAB_CHECK(shape[i] >= 0, "reshape: negative size in ", shape_str(shape));
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    ATTNLAB_CHECK(known > 0 && a.numel() % known == 0, "reshape: cannot infer -1 in ",
                  shape_str(shape), " for ", a.numel(), " elements");
    shape[size_t(infer)] = a.numel() / known;
  }
  ATTNLAB_CHECK(shape_numel(shape) == a.numel(), "reshape: cannot reshape ", shape_str(a.shape()),
                " (", a.numel(), " elements) to ", shape_str(shape));
  Tensor out = a.contiguous().detach().view_raw(shape);
  if (autograd::should_record({a})) {
    Shape in_shape = a.shape();
    autograd::record("reshape", {a}, out, [in_shape](const Tensor& g) {
      return std::vector<Tensor>{g.contiguous().view_raw(in_shape)};
    });
  }
  return out;
}

Tensor transpose(const Tensor& a, int64_t d0, int64_t d1) {
  Tensor out = a.detach().transpose_raw(d0, d1);
  if (autograd::should_record({a})) {
    autograd::record("transpose", {a}, out, [d0, d1](const Tensor& g) {
      return std::vector<Tensor>{g.transpose_raw(d0, d1).contiguous()};
    });
  }
  return out;
}

Tensor slice(const Tensor& a, int64_t dim, int64_t start, int64_t end) {
  int64_t d = wrap_dim(dim, a.dim(), "slice");
  Tensor out = a.detach().slice_raw(d, start, end);
  if (autograd::should_record({a})) {
    Shape in_shape = a.shape();
    DType dt = a.dtype();
    autograd::record("slice", {a}, out, [in_shape, dt, d, start, end](const Tensor& g) {
      Tensor ga = Tensor::zeros(in_shape, dt);
      ga.slice_raw(d, start, end).copy_from(g);
      return std::vector<Tensor>{ga};
    });
  }
  return out;
}

Tensor concat(const std::vector<Tensor>& parts, int64_t dim) {
  ATTNLAB_CHECK(!parts.empty(), "concat: no tensors given");
  const Tensor& first = parts[0];
  int64_t d = wrap_dim(dim, first.dim(), "concat");
  Shape shape = first.shape();
  int64_t total = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    const Tensor& p = parts[i];
    ATTNLAB_CHECK(p.dtype() == first.dtype(), "concat: tensor ", i, " is ", dtype_name(p.dtype()),
                  ", tensor 0 is ", dtype_name(first.dtype()));
    ATTNLAB_CHECK(p.dim() == first.dim(), "concat: tensor ", i, " has shape ", shape_str(p.shape()),
                  ", tensor 0 has ", shape_str(first.shape()));
    for (int64_t k = 0; k < p.dim(); ++k)
      ATTNLAB_CHECK(k == d || p.shape()[size_t(k)] == shape[size_t(k)], "concat: tensor ", i,
                    " has shape ", shape_str(p.shape()), ", tensor 0 has ", shape_str(first.shape()),
                    " (they may differ only in dimension ", d, ")");
    total += p.shape()[size_t(d)];
  }
  shape[size_t(d)] = total;
  Tensor out = Tensor::empty(shape, first.dtype());
  std::vector<int64_t> sizes;
  int64_t at = 0;
  for (const Tensor& p : parts) {
    int64_t n = p.shape()[size_t(d)];
    out.slice_raw(d, at, at + n).copy_from(p);
    sizes.push_back(n);
    at += n;
  }
  if (autograd::should_record(parts)) {
    autograd::record("concat", parts, out, [sizes, d](const Tensor& g) {
      std::vector<Tensor> grads;
      int64_t at = 0;
      for (int64_t n : sizes) {
        grads.push_back(g.slice_raw(d, at, at + n).contiguous());
        at += n;
      }
      return grads;
    });
  }
  return out;
}

std::vector<Tensor> split(const Tensor& a, const std::vector<int64_t>& sizes, int64_t dim) {
  int64_t d = wrap_dim(dim, a.dim(), "split");
  int64_t total = 0;
  for (int64_t n : sizes) {
    ATTNLAB_CHECK(n >= 0, "split: negative size ", n);
    total += n;
  }
  ATTNLAB_CHECK(total == a.shape()[size_t(d)], "split: sizes add up to ", total, " but dimension ",
                d, " of ", shape_str(a.shape()), " has ", a.shape()[size_t(d)]);
  std::vector<Tensor> out;
  int64_t at = 0;
  for (int64_t n : sizes) {
    out.push_back(slice(a, d, at, at + n));
    at += n;
  }
  return out;
}

Tensor contiguous(const Tensor& a) {
  if (a.is_contiguous()) return a;
  Tensor out = a.detach().clone();
  if (autograd::should_record({a})) {
    autograd::record("contiguous", {a}, out, [](const Tensor& g) { return std::vector<Tensor>{g}; });
  }
  return out;
}

// ---- gradient-check cases ----

void add_shape_gradcases(std::vector<autograd::GradCase>& cases) {
  using Inputs = std::vector<Tensor>;
  auto input = [](Rng& rng, const Shape& s) {
    return Tensor::randn(s, rng, DType::F64).set_requires_grad(true);
  };
  cases.push_back({"reshape", "[3, 5, 7] -> [15, -1]", [=](Rng& r) { return Inputs{input(r, {3, 5, 7})}; },
                   [](const Inputs& x) { return reshape(x[0], {15, -1}); }});
  cases.push_back({"reshape", "of a transposed view (copies)", [=](Rng& r) { return Inputs{input(r, {3, 5})}; },
                   [](const Inputs& x) { return reshape(transpose(x[0], 0, 1), {15}); }});
  cases.push_back({"transpose", "[3, 5, 7] dims 0 and 2", [=](Rng& r) { return Inputs{input(r, {3, 5, 7})}; },
                   [](const Inputs& x) { return transpose(x[0], 0, 2); }});
  cases.push_back({"slice", "[7, 63] rows 2..5", [=](Rng& r) { return Inputs{input(r, {7, 63})}; },
                   [](const Inputs& x) { return slice(x[0], 0, 2, 5); }});
  cases.push_back({"slice", "last dimension, negative index", [=](Rng& r) { return Inputs{input(r, {3, 11})}; },
                   [](const Inputs& x) { return slice(x[0], -1, 1, 10); }});
  cases.push_back({"concat", "three tensors along dim 1",
                   [=](Rng& r) { return Inputs{input(r, {3, 2}), input(r, {3, 5}), input(r, {3, 1})}; },
                   [](const Inputs& x) { return concat(x, 1); }});
  cases.push_back({"split", "[3, 8] into 3 + 5, second piece",
                   [=](Rng& r) { return Inputs{input(r, {3, 8})}; },
                   [](const Inputs& x) {
                     auto p = split(x[0], {3, 5}, 1);
                     return concat({p[1], p[0]}, 1);  // both pieces reach the output
                   }});
  cases.push_back({"contiguous", "of a transposed [5, 7]", [=](Rng& r) { return Inputs{input(r, {5, 7})}; },
                   [](const Inputs& x) { return contiguous(transpose(x[0], 0, 1)); }});
}

}  // namespace attnlab::ops
