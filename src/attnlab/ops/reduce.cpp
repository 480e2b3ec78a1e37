#include "attnlab/ops/reduce.h"

#include <algorithm>
#include <array>

#include "attnlab/autograd/node.h"
#include "attnlab/core/parallel.h"
#include "attnlab/ops/gradcases.h"

namespace attnlab::ops {

namespace {

constexpr int64_t kGrain = 1 << 15;      // elements of work below which a loop stays serial
constexpr int64_t kBlock = 512;          // kept contiguous elements per work unit (a stack buffer)
constexpr int64_t kFullChunk = 1 << 15;  // full reductions: fixed chunks, so the result does
                                         // not depend on the thread count
constexpr size_t kMaxGroups = 32;        // merged dimension groups (a 64-d tensor at most)

struct Dim {
  int64_t size, stride;
};

// How a reduction walks the (contiguous) input. Neighbouring dimensions that are both
// reduced or both kept are merged and size-1 dimensions dropped, so the common cases
// become one of two shapes of loop:
//   inner_reduced: out[o] = sum over `reduced` offsets of a contiguous run of `inner`;
//   otherwise:     out[o, 0..inner) = sum over `reduced` offsets of rows of `inner`.
// `outer` holds the kept dimensions before the inner run, in output order.
struct ReducePlan {
  std::vector<Dim> outer, reduced;
  int64_t inner = 1;
  bool inner_reduced = false;
  int64_t outer_count = 1;  // product of outer sizes
  int64_t count = 1;        // input elements summed into each output element
  Shape out_shape;
};

ReducePlan make_plan(const Shape& shape, const std::vector<int64_t>& dims, bool keepdim,
                     const char* op) {
  int64_t nd = int64_t(shape.size());
  std::vector<bool> reduce(size_t(nd), dims.empty());
  for (int64_t d : dims) {
    int64_t w = wrap_dim(d, nd, op);
    ATTNLAB_CHECK(!reduce[size_t(w)], op, ": dimension ", d, " is listed twice in the dimensions to reduce of a ",
                  nd, "-dimensional tensor");
    reduce[size_t(w)] = true;
  }
  ReducePlan p;
  std::vector<std::pair<Dim, bool>> groups;
  Shape strides = contiguous_strides(shape);
  for (int64_t d = 0; d < nd; ++d) {
    int64_t n = shape[size_t(d)];
    bool r = reduce[size_t(d)];
    if (r) p.count *= n;
    if (!r || keepdim) p.out_shape.push_back(r ? 1 : n);
    if (n == 1) continue;
    if (!groups.empty() && groups.back().second == r) {
      groups.back().first.size *= n;
      groups.back().first.stride = strides[size_t(d)];
    } else {
      groups.push_back({Dim{n, strides[size_t(d)]}, r});
    }
  }
  ATTNLAB_CHECK(groups.size() <= kMaxGroups, op, ": ", nd, "-dimensional tensor with ", groups.size(),
                " alternating reduced/kept groups; at most ", kMaxGroups, " are supported");
  if (!groups.empty()) {
    p.inner = groups.back().first.size;
    p.inner_reduced = groups.back().second;
    groups.pop_back();
  }
  for (const auto& [dim, r] : groups) {
    if (r) {
      p.reduced.push_back(dim);
    } else {
      p.outer.push_back(dim);
      p.outer_count *= dim.size;
    }
  }
  return p;
}

// Offset in the input of outer (kept) element `o`.
int64_t outer_offset(const ReducePlan& p, int64_t o) {
  int64_t off = 0;
  for (size_t k = p.outer.size(); k-- > 0;) {
    off += (o % p.outer[k].size) * p.outer[k].stride;
    o /= p.outer[k].size;
  }
  return off;
}

// Calls f(offset) for every combination of indices over `dims` (last fastest), with no
// allocation: it runs once per output element.
template <class F>
void for_each_offset(const std::vector<Dim>& dims, F&& f) {
  size_t nd = dims.size();
  std::array<int64_t, kMaxGroups> idx{};
  int64_t off = 0;
  while (true) {
    f(off);
    size_t k = nd;
    while (k-- > 0) {
      off += dims[k].stride;
      if (++idx[k] < dims[k].size) break;
      off -= dims[k].stride * dims[k].size;
      idx[k] = 0;
    }
    if (k == size_t(-1)) return;
  }
}

// Sum of a contiguous run in double: eight lanes (vectorised) within blocks of 4096,
// block totals added on top, so rounding error grows with n / 4096 rather than n.
template <class T>
double sum_run(const T* x, int64_t n) {
  double total = 0;
  for (int64_t b = 0; b < n; b += 4096) {
    int64_t e = std::min(n, b + 4096), i = b;
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (; i + 8 <= e; i += 8)
      for (int j = 0; j < 8; ++j) acc[j] += double(x[i + j]);
    double s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < e; ++i) s += double(x[i]);
    total += s;
  }
  return total;
}

// out = scale * (sum of x over the plan's reduced dimensions); x contiguous.
template <class T>
void reduce_fwd(const ReducePlan& p, const T* x, T* out, double scale) {
  if (p.inner_reduced && p.outer.empty() && p.reduced.empty()) {
    // Everything reduces into one value: split the run itself.
    int64_t n = p.inner, chunks = (n + kFullChunk - 1) / kFullChunk;
    std::vector<double> partial(static_cast<size_t>(chunks));
    parallel_for(0, chunks, 1, [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; ++c) {
        int64_t s = c * kFullChunk;
        partial[size_t(c)] = sum_run(x + s, std::min(kFullChunk, n - s));
      }
    });
    double total = 0;
    for (double v : partial) total += v;
    out[0] = T(total * scale);
    return;
  }
  if (p.inner_reduced) {
    parallel_for(0, p.outer_count, std::max<int64_t>(1, kGrain / p.count), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        const T* base = x + outer_offset(p, o);
        double acc = 0;
        for_each_offset(p.reduced, [&](int64_t off) { acc += sum_run(base + off, p.inner); });
        out[o] = T(acc * scale);
      }
    });
    return;
  }
  int64_t blocks = (p.inner + kBlock - 1) / kBlock;
  int64_t grain = std::max<int64_t>(1, kGrain / (p.count * kBlock));
  parallel_for(0, p.outer_count * blocks, grain, [&](int64_t b, int64_t e) {
    double acc[kBlock];
    for (int64_t u = b; u < e; ++u) {
      int64_t o = u / blocks, j0 = (u % blocks) * kBlock, len = std::min(kBlock, p.inner - j0);
      const T* base = x + outer_offset(p, o) + j0;
      std::fill(acc, acc + len, 0.0);
      for_each_offset(p.reduced, [&](int64_t off) {
        const T* row = base + off;
        for (int64_t j = 0; j < len; ++j) acc[j] += double(row[j]);
      });
      T* dst = out + o * p.inner + j0;
      for (int64_t j = 0; j < len; ++j) dst[j] = T(acc[j] * scale);
    }
  });
}

// gx = scale * g broadcast back over the reduced dimensions (the backward of reduce_fwd).
template <class T>
void reduce_bwd(const ReducePlan& p, const T* g, T* gx, T scale) {
  if (p.inner_reduced && p.outer.empty() && p.reduced.empty()) {
    T v = g[0] * scale;
    parallel_for(0, p.inner, kGrain, [&](int64_t b, int64_t e) { std::fill(gx + b, gx + e, v); });
    return;
  }
  if (p.inner_reduced) {
    parallel_for(0, p.outer_count, std::max<int64_t>(1, kGrain / p.count), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        T* base = gx + outer_offset(p, o);
        T v = g[o] * scale;
        for_each_offset(p.reduced, [&](int64_t off) { std::fill(base + off, base + off + p.inner, v); });
      }
    });
    return;
  }
  int64_t blocks = (p.inner + kBlock - 1) / kBlock;
  int64_t grain = std::max<int64_t>(1, kGrain / (p.count * kBlock));
  parallel_for(0, p.outer_count * blocks, grain, [&](int64_t b, int64_t e) {
    for (int64_t u = b; u < e; ++u) {
      int64_t o = u / blocks, j0 = (u % blocks) * kBlock, len = std::min(kBlock, p.inner - j0);
      T* base = gx + outer_offset(p, o) + j0;
      const T* src = g + o * p.inner + j0;
      for_each_offset(p.reduced, [&](int64_t off) {
        T* row = base + off;
        for (int64_t j = 0; j < len; ++j) row[j] = src[j] * scale;
      });
    }
  });
}

// Shared by sum and mean: mean is the sum scaled by 1/count, forward and backward.
Tensor reduce_op(const Tensor& x_in, const std::vector<int64_t>& dims, bool keepdim, bool is_mean) {
  const char* op = is_mean ? "mean" : "sum";
  ReducePlan p = make_plan(x_in.shape(), dims, keepdim, op);
  ATTNLAB_CHECK(!is_mean || p.count > 0, "mean: the reduced dimensions of ", shape_str(x_in.shape()),
                " hold no elements (the mean of nothing is undefined)");
  double scale = is_mean ? 1.0 / double(p.count) : 1.0;
  Tensor x = x_in.contiguous();
  Tensor out = Tensor::empty(p.out_shape, x.dtype());
  dispatch_float(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    if (x.numel() == 0) {
      out.zero();
      return;
    }
    reduce_fwd(p, x.data<T>(), out.data<T>(), scale);
  });
  if (autograd::should_record({x_in})) {
    Shape in_shape = x_in.shape();
    autograd::record(op, {x_in}, out, [p, in_shape, scale, op](const Tensor& g) {
      Tensor gx = Tensor::empty(in_shape, g.dtype());
      dispatch_float(g.dtype(), op, [&](auto tag) {
        using T = decltype(tag);
        if (gx.numel() == 0) return;
        reduce_bwd(p, g.data<T>(), gx.data<T>(), T(scale));
      });
      return std::vector<Tensor>{gx};
    });
  }
  return out;
}

// y = inclusive prefix sum of x along the middle axis of [outer, n, inner], in double.
template <class T>
void cumsum_kernel(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, bool reverse) {
  int64_t first = reverse ? n - 1 : 0, step = reverse ? -1 : 1;
  if (inner == 1) {
    parallel_for(0, outer, std::max<int64_t>(1, kGrain / std::max<int64_t>(n, 1)), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        const T* xr = x + o * n;
        T* yr = y + o * n;
        double acc = 0;
        for (int64_t k = 0, i = first; k < n; ++k, i += step) {
          acc += double(xr[i]);
          yr[i] = T(acc);
        }
      }
    });
    return;
  }
  int64_t blocks = (inner + kBlock - 1) / kBlock;
  parallel_for(0, outer * blocks, std::max<int64_t>(1, kGrain / (std::max<int64_t>(n, 1) * kBlock)),
               [&](int64_t b, int64_t e) {
    double acc[kBlock];
    for (int64_t u = b; u < e; ++u) {
      int64_t o = u / blocks, j0 = (u % blocks) * kBlock, len = std::min(kBlock, inner - j0);
      std::fill(acc, acc + len, 0.0);
      for (int64_t k = 0, i = first; k < n; ++k, i += step) {
        int64_t at = (o * n + i) * inner + j0;
        for (int64_t j = 0; j < len; ++j) {
          acc[j] += double(x[at + j]);
          y[at + j] = T(acc[j]);
        }
      }
    }
  });
}

Tensor cumsum_raw(const Tensor& x_in, int64_t d, bool reverse) {
  Tensor x = x_in.contiguous();
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  int64_t outer = 1, inner = 1, n = x.shape()[size_t(d)];
  for (int64_t k = 0; k < d; ++k) outer *= x.shape()[size_t(k)];
  for (int64_t k = d + 1; k < x.dim(); ++k) inner *= x.shape()[size_t(k)];
  dispatch_float(x.dtype(), "cumsum", [&](auto tag) {
    using T = decltype(tag);
    if (x.numel() == 0) return;
    cumsum_kernel(x.data<T>(), out.data<T>(), outer, n, inner, reverse);
  });
  return out;
}

}  // namespace

// ---- sum, mean ----
// x: any shape; out: x's shape without the reduced dimensions (or with them as 1).
// Backward: dx = g (scaled by 1/count for mean) broadcast over the reduced dimensions.

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return reduce_op(x, dims, keepdim, false);
}

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return reduce_op(x, dims, keepdim, true);
}

// ---- cumsum ----
// x, y: any shape; y[.., i, ..] = sum_{k <= i} x[.., k, ..] along dim.
// Backward: dx[i] = sum_{k >= i} g[k], the prefix sum of g in the other direction.

Tensor cumsum(const Tensor& x, int64_t dim, bool reverse) {
  int64_t d = wrap_dim(dim, x.dim(), "cumsum");
  Tensor out = cumsum_raw(x, d, reverse);
  if (autograd::should_record({x})) {
    autograd::record("cumsum", {x}, out, [d, reverse](const Tensor& g) {
      return std::vector<Tensor>{cumsum_raw(g, d, !reverse)};
    });
  }
  return out;
}

// ---- gradient-check cases ----

void add_reduce_gradcases(std::vector<autograd::GradCase>& cases) {
  using Inputs = std::vector<Tensor>;
  auto input = [](Rng& rng, const Shape& s) {
    return Tensor::randn(s, rng, DType::F64).set_requires_grad(true);
  };
  struct Red { const char* name; Tensor (*fn)(const Tensor&, const std::vector<int64_t>&, bool); };
  for (Red op : {Red{"sum", sum}, Red{"mean", mean}}) {
    auto fn = op.fn;
    cases.push_back({op.name, "[3, 5, 7] last dim", [=](Rng& r) { return Inputs{input(r, {3, 5, 7})}; },
                     [fn](const Inputs& x) { return fn(x[0], {-1}, false); }});
    cases.push_back({op.name, "[3, 5, 7] dims 0 and 2, keepdim", [=](Rng& r) { return Inputs{input(r, {3, 5, 7})}; },
                     [fn](const Inputs& x) { return fn(x[0], {0, 2}, true); }});
    cases.push_back({op.name, "[4, 63] dim 0 (kept inner run)", [=](Rng& r) { return Inputs{input(r, {4, 63})}; },
                     [fn](const Inputs& x) { return fn(x[0], {0}, false); }});
    cases.push_back({op.name, "[2, 3, 4, 5] dims 1 and 3", [=](Rng& r) { return Inputs{input(r, {2, 3, 4, 5})}; },
                     [fn](const Inputs& x) { return fn(x[0], {1, 3}, false); }});
    cases.push_back({op.name, "all dims of [3, 11] to 0-d", [=](Rng& r) { return Inputs{input(r, {3, 11})}; },
                     [fn](const Inputs& x) { return fn(x[0], {}, false); }});
  }
  cases.push_back({"cumsum", "[3, 7] dim 1", [=](Rng& r) { return Inputs{input(r, {3, 7})}; },
                   [](const Inputs& x) { return cumsum(x[0], 1); }});
  cases.push_back({"cumsum", "[4, 5, 3] dim 1 reverse", [=](Rng& r) { return Inputs{input(r, {4, 5, 3})}; },
                   [](const Inputs& x) { return cumsum(x[0], 1, true); }});
  cases.push_back({"cumsum", "[63] dim -1", [=](Rng& r) { return Inputs{input(r, {63})}; },
                   [](const Inputs& x) { return cumsum(x[0], -1); }});
}

}  // namespace attnlab::ops
