#include "attnlab/ops/broadcast.h"

#include "attnlab/core/parallel.h"

namespace attnlab::ops {

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    ATTNLAB_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", shape_str(a), " and ",
                  shape_str(b), " do not broadcast (dimension ", i, ": ", da, " vs ", db, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Shape broadcast_strides(const Tensor& t, const Shape& target) {
  size_t n = target.size(), lead = n - t.shape().size();
  Shape st(n, 0);
  for (size_t i = lead; i < n; ++i)
    st[i] = t.shape()[i - lead] == 1 ? 0 : t.strides()[i - lead];
  return st;
}

Tensor sum_to_shape(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  Tensor gc = g.contiguous();
  Tensor out = Tensor::zeros(shape, g.dtype());
  Shape ost = broadcast_strides(out, g.shape());
  const Shape& gs = g.shape();
  int64_t nd = int64_t(gs.size());
  dispatch_float(g.dtype(), "sum_to_shape", [&](auto tag) {
    using T = decltype(tag);
    const T* src = gc.data<T>();
    T* dst = out.data<T>();
    // Serial: several source elements land on one destination element.
    std::vector<int64_t> idx(size_t(nd), 0);
    int64_t o = 0;
    for (int64_t i = 0, n = gc.numel(); i < n; ++i) {
      dst[o] += src[i];
      for (int64_t d = nd - 1; d >= 0; --d) {
        o += ost[size_t(d)];
        if (++idx[size_t(d)] < gs[size_t(d)]) break;
        o -= ost[size_t(d)] * gs[size_t(d)];
        idx[size_t(d)] = 0;
      }
    }
  });
  return out;
}

}  // namespace attnlab::ops
