#include "attnlab/ops/matmul.h"

#include <algorithm>

#include "attnlab/autograd/node.h"
#include "attnlab/core/parallel.h"
#include "attnlab/kernels/cpu/blas.h"
#include "attnlab/ops/gradcases.h"
#include "attnlab/ops/shape.h"

namespace attnlab::ops {

namespace {

// Above this many flops per output matrix, an uneven split of a few matrices over the
// threads idles a core for longer than OpenBLAS's own split of each product loses.
constexpr double kLargeProduct = 1e9;
// Below this many flops in all, starting threads costs more than it saves (a parallel
// region is microseconds, more on a shared machine; 1e6 flops is ~5 us on one core).
constexpr double kMinParallelFlops = 1e6;

// One operand of a batched product, read in place: matrix i of the output's batch
// starts at element offset dot(index(i), bstrides) from t's data pointer, and is stored
// with leading dimension ld, transposed when `trans`.
struct Operand {
  Tensor t;
  Shape bstrides;  // over the output's batch dims; 0 where this operand is broadcast
  int64_t ld = 1;
  bool trans = false;
};

Operand flipped(Operand o) {
  o.trans = !o.trans;
  return o;
}

// One product C = op(A) op(B), batched over `batch`, with where each input's gradient
// matrices go: matrix i's gradient lands in dA matrix dot(index(i), a_gstrides), so
// broadcast batch dims (stride 0) sum there.
struct Problem {
  Shape batch;
  int64_t m = 0, n = 0, k = 0;
  Operand a, b;
  Shape a_gstrides, b_gstrides;
  int64_t a_count = 1, b_count = 1;  // matrices in dA and dB
};

// A rows x cols matrix with element strides (rs, cs) as a BLAS operand, when BLAS can
// read it where it lies: unit stride along one dim and a leading dimension at least as
// large as the other (no overlapping rows). Sizes 0 and 1 make a stride irrelevant.
bool blas_layout(int64_t rows, int64_t cols, int64_t rs, int64_t cs, int64_t& ld, bool& trans) {
  if (rows == 0 || cols == 0) {  // nothing is read
    ld = std::max<int64_t>(cols, 1);
    trans = false;
    return true;
  }
  if ((cols <= 1 || cs == 1) && (rows <= 1 || rs >= std::max<int64_t>(cols, 1))) {
    ld = rows <= 1 ? std::max<int64_t>(cols, 1) : rs;
    trans = false;
    return true;
  }
  if ((rows <= 1 || rs == 1) && (cols <= 1 || cs >= std::max<int64_t>(rows, 1))) {
    ld = cols <= 1 ? std::max<int64_t>(rows, 1) : cs;
    trans = true;
    return true;
  }
  return false;
}

// Strides that step a tensor's batch dims (t_batch, with strides t_strides) along the
// output's `batch`, dims right-aligned as in broadcasting; stretched or missing dims get 0.
Shape batch_strides(const Shape& t_batch, const Shape& t_strides, const Shape& batch) {
  Shape st(batch.size(), 0);
  size_t lead = batch.size() - t_batch.size();
  for (size_t i = lead; i < batch.size(); ++i)
    st[i] = t_batch[i - lead] == 1 ? 0 : t_strides[i - lead];
  return st;
}

Shape leading(const Shape& s, size_t drop) { return Shape(s.begin(), s.end() - long(drop)); }

// The input as a batch of BLAS operands over `batch`, packed first when its matrices
// have no unit stride.
Operand make_operand(const Tensor& x, const Shape& batch) {
  Operand o;
  o.t = x;
  int64_t nd = x.dim(), rows = x.shape()[size_t(nd - 2)], cols = x.shape()[size_t(nd - 1)];
  if (!blas_layout(rows, cols, x.strides()[size_t(nd - 2)], x.strides()[size_t(nd - 1)], o.ld,
                   o.trans)) {
    o.t = x.contiguous();
    blas_layout(rows, cols, std::max<int64_t>(cols, 1), 1, o.ld, o.trans);
  }
  o.bstrides = batch_strides(leading(o.t.shape(), 2), leading(o.t.strides(), 2), batch);
  return o;
}

// The gradient of the output, contiguous [batch..., m, n].
Operand grad_operand(const Tensor& g, const Shape& batch, int64_t m, int64_t n) {
  Operand o;
  o.t = g.contiguous();
  Shape st = contiguous_strides(batch);
  for (int64_t& s : st) s *= m * n;
  o.bstrides = st;
  o.ld = std::max<int64_t>(n, 1);
  return o;
}

bool split_over_matrices(int64_t count, double flops_each) {
  int threads = num_threads();
  if (threads <= 1 || count <= 1 || flops_each * double(count) < kMinParallelFlops) return false;
  // Each thread then runs whole products with BLAS single-threaded inside: OpenBLAS does
  // not split small per-head products anyway (specs/machine.md #4).
  if (count % threads == 0 || count >= 4 * threads) return true;
  return flops_each < kLargeProduct;
}

// C[target(i)] = sum over batch entries i of op(A_i) op(B_i), each C matrix m x n and
// packed; target(i) = dot(index(i), c_gstrides). Each C matrix is written by one thread,
// its sources summed in batch order (gemm with beta = 1), so results do not depend on
// the thread count. A C matrix no entry maps to (an empty broadcast batch) is zeroed.
template <class T>
void batched_gemm(const Shape& batch, int64_t m, int64_t n, int64_t k, const Operand& a,
                  const Operand& b, const Shape& c_gstrides, int64_t c_count, T* c) {
  int64_t nb = shape_numel(batch);
  if (nb == 1 && c_count == 1) {  // one product (the linear layer): no bookkeeping
    kernels::cpu::gemm(a.trans, b.trans, m, n, k, T(1), a.t.data<T>(), a.ld, b.t.data<T>(), b.ld,
                       T(0), c, std::max<int64_t>(n, 1));
    return;
  }
  size_t nd = batch.size();
  size_t count = static_cast<size_t>(nb);
  std::vector<int64_t> a_off(count), b_off(count), target(count);
  std::vector<int64_t> idx(nd, 0);
  int64_t oa = 0, ob = 0, oc = 0;
  for (int64_t i = 0; i < nb; ++i) {
    a_off[size_t(i)] = oa;
    b_off[size_t(i)] = ob;
    target[size_t(i)] = oc;
    for (size_t d = nd; d-- > 0;) {
      oa += a.bstrides[d];
      ob += b.bstrides[d];
      oc += c_gstrides[d];
      if (++idx[d] < batch[d]) break;
      oa -= a.bstrides[d] * batch[d];
      ob -= b.bstrides[d] * batch[d];
      oc -= c_gstrides[d] * batch[d];
      idx[d] = 0;
    }
  }
  // Sources grouped by target, in batch order (a counting sort).
  std::vector<int64_t> start(static_cast<size_t>(c_count) + 1, 0), order(count);
  for (int64_t t : target) start[size_t(t) + 1]++;
  for (int64_t t = 0; t < c_count; ++t) start[size_t(t) + 1] += start[size_t(t)];
  std::vector<int64_t> next(start.begin(), start.end() - 1);
  for (int64_t i = 0; i < nb; ++i) order[size_t(next[size_t(target[size_t(i)])]++)] = i;

  const T* pa = a.t.data<T>();
  const T* pb = b.t.data<T>();
  auto run = [&](int64_t tb, int64_t te) {
    for (int64_t t = tb; t < te; ++t) {
      T* ct = c + t * m * n;
      if (start[size_t(t)] == start[size_t(t) + 1]) std::fill(ct, ct + m * n, T(0));
      for (int64_t j = start[size_t(t)]; j < start[size_t(t) + 1]; ++j) {
        int64_t i = order[size_t(j)];
        kernels::cpu::gemm(a.trans, b.trans, m, n, k, T(1), pa + a_off[size_t(i)], a.ld,
                           pb + b_off[size_t(i)], b.ld, j == start[size_t(t)] ? T(0) : T(1), ct,
                           std::max<int64_t>(n, 1));
      }
    }
  };
  double flops_each = 2.0 * double(m) * double(n) * double(k) * double(nb) /
                      double(std::max<int64_t>(c_count, 1));
  if (split_over_matrices(c_count, flops_each)) {
    parallel_for(0, c_count, 1, run);
  } else {
    run(0, c_count);
  }
}

// Runs one batched product into a fresh tensor of `shape` (c_count * m * n elements).
Tensor run_product(const Shape& batch, int64_t m, int64_t n, int64_t k, const Operand& a,
                   const Operand& b, const Shape& c_gstrides, int64_t c_count, const Shape& shape,
                   const char* op) {
  Tensor c = Tensor::empty(shape, a.t.dtype());
  dispatch_float(a.t.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    batched_gemm<T>(batch, m, n, k, a, b, c_gstrides, c_count, c.data<T>());
  });
  return c;
}

// C = A B:  dA = dC B^T  and  dB = A^T dC, each a gemm with the transpose flag flipped,
// summed over the batch entries that broadcasting mapped to the same input matrix.
void record_product(const char* op, const Tensor& a_in, const Tensor& b_in, Tensor& out,
                    Problem p) {
  bool need_a = a_in.requires_grad(), need_b = b_in.requires_grad();
  Shape a_shape = a_in.shape(), b_shape = b_in.shape();
  // The backward keeps the operands' data, not their place in the graph, and only the
  // data it reads: dA needs B, dB needs A.
  p.a.t = need_b ? p.a.t.detach() : Tensor();
  p.b.t = need_a ? p.b.t.detach() : Tensor();
  autograd::record(op, {a_in, b_in}, out,
                   [p = std::move(p), need_a, need_b, a_shape, b_shape, op](const Tensor& g) {
    Operand go = grad_operand(g, p.batch, p.m, p.n);
    Tensor ga, gb;
    if (need_a)
      ga = run_product(p.batch, p.m, p.k, p.n, go, flipped(p.b), p.a_gstrides, p.a_count,
                       a_shape, op);
    if (need_b)
      gb = run_product(p.batch, p.k, p.n, p.m, flipped(p.a), go, p.b_gstrides, p.b_count,
                       b_shape, op);
    return std::vector<Tensor>{ga, gb};
  });
}

void check_float_pair(const Tensor& a, const Tensor& b, const char* op) {
  dispatch_float(a.dtype(), op, [](auto) {});
  ATTNLAB_CHECK(a.dtype() == b.dtype(), op, ": dtypes differ (a is ", dtype_name(a.dtype()),
                ", b is ", dtype_name(b.dtype()), ")");
}

// bmm's problem (also matmul's when a's leading dims cannot fold into M in place).
Problem bmm_problem(const Tensor& a, const Tensor& b, const char* op) {
  Shape a_batch = leading(a.shape(), 2), b_batch = leading(b.shape(), 2);
  size_t nd = std::max(a_batch.size(), b_batch.size());
  Shape batch(nd);
  for (size_t i = 0; i < nd; ++i) {
    int64_t da = i < nd - a_batch.size() ? 1 : a_batch[i - (nd - a_batch.size())];
    int64_t db = i < nd - b_batch.size() ? 1 : b_batch[i - (nd - b_batch.size())];
    ATTNLAB_CHECK(da == db || da == 1 || db == 1, op, ": batch dimensions ", shape_str(a_batch),
                  " of a ", shape_str(a.shape()), " and ", shape_str(b_batch), " of b ",
                  shape_str(b.shape()), " do not broadcast (batch dimension ", i, ": ", da,
                  " vs ", db, ")");
    batch[i] = da == 1 ? db : da;
  }
  Problem p;
  p.batch = batch;
  p.m = a.size(-2);
  p.k = a.size(-1);
  p.n = b.size(-1);
  p.a = make_operand(a, batch);
  p.b = make_operand(b, batch);
  p.a_gstrides = batch_strides(a_batch, contiguous_strides(a_batch), batch);
  p.b_gstrides = batch_strides(b_batch, contiguous_strides(b_batch), batch);
  p.a_count = shape_numel(a_batch);
  p.b_count = shape_numel(b_batch);
  return p;
}

Tensor product(const Tensor& a, const Tensor& b, Problem p, const Shape& out_shape,
               const char* op) {
  Shape own = contiguous_strides(p.batch);
  Tensor out = run_product(p.batch, p.m, p.n, p.k, p.a, p.b, own, shape_numel(p.batch), out_shape, op);
  if (autograd::should_record({a, b})) record_product(op, a, b, out, std::move(p));
  return out;
}

// Folds dims [0, nd - 1) of x into one dim of `rows` with stride `rs`, when the fold
// needs no copy (each folded dim steps over whole runs of the next one).
bool fold_rows(const Tensor& x, int64_t& rows, int64_t& rs) {
  rows = 1;
  rs = 0;
  int64_t inner_stride = 0, inner_size = 0;
  bool any = false;
  for (int64_t d = x.dim() - 2; d >= 0; --d) {
    int64_t size = x.shape()[size_t(d)], stride = x.strides()[size_t(d)];
    rows *= size;
    if (size == 1) continue;
    if (!any) {
      rs = stride;
      any = true;
    } else if (stride != inner_stride * inner_size) {
      return false;
    }
    inner_stride = stride;
    inner_size = size;
  }
  return true;
}

}  // namespace

// a [..., M, K] @ b [K, N] -> [..., M, N]; e.g. x [B, T, C] @ w [C, V] -> logits [B, T, V].
Tensor matmul(const Tensor& a, const Tensor& b) {
  check_float_pair(a, b, "matmul");
  ATTNLAB_CHECK(b.dim() == 2, "matmul: b must be a 2-D weight [K, N], got shape ",
                shape_str(b.shape()), " (bmm multiplies batches of matrices)");
  ATTNLAB_CHECK(a.dim() >= 1, "matmul: a must be [..., K], got a 0-dimensional tensor");
  ATTNLAB_CHECK(a.size(-1) == b.size(0), "matmul: inner dimensions differ: a ",
                shape_str(a.shape()), " ends in K = ", a.size(-1), ", b ", shape_str(b.shape()),
                " starts with K = ", b.size(0));
  Shape out_shape = leading(a.shape(), 1);
  out_shape.push_back(b.size(1));
  int64_t rows = 0, rs = 0, ld = 0;
  bool trans = false;
  if (fold_rows(a, rows, rs) &&
      blas_layout(rows, a.size(-1), rs, a.strides().back(), ld, trans)) {
    // The linear-layer case: one gemm of (all leading dims) x K by K x N.
    Problem p;
    p.m = rows;
    p.k = a.size(-1);
    p.n = b.size(1);
    p.a.t = a;
    p.a.ld = ld;
    p.a.trans = trans;
    p.b = make_operand(b, {});
    return product(a, b, std::move(p), out_shape, "matmul");
  }
  if (a.dim() >= 3) {
    // A batch of transposed views: one gemm per batch entry against the shared weight.
    return product(a, b, bmm_problem(a, b, "matmul"), out_shape, "matmul");
  }
  Tensor packed = a.contiguous();  // 1-D or 2-D with no unit stride
  Problem p;
  p.m = rows;
  p.k = a.size(-1);
  p.n = b.size(1);
  p.a.t = packed;
  p.a.ld = std::max<int64_t>(p.k, 1);
  p.b = make_operand(b, {});
  return product(a, b, std::move(p), out_shape, "matmul");
}

// a [..., M, K] @ b [..., K, N] -> [..., M, N]; e.g. q [B, H, T, D] @ k^T [B, H, D, T].
Tensor bmm(const Tensor& a, const Tensor& b) {
  check_float_pair(a, b, "bmm");
  ATTNLAB_CHECK(a.dim() >= 2, "bmm: a must be [..., M, K] with at least 2 dimensions, got shape ",
                shape_str(a.shape()));
  ATTNLAB_CHECK(b.dim() >= 2, "bmm: b must be [..., K, N] with at least 2 dimensions, got shape ",
                shape_str(b.shape()));
  ATTNLAB_CHECK(a.size(-1) == b.size(-2), "bmm: inner dimensions differ: a ", shape_str(a.shape()),
                " ends in K = ", a.size(-1), ", b ", shape_str(b.shape()), " has K = ", b.size(-2),
                " in its second-to-last dimension");
  Problem p = bmm_problem(a, b, "bmm");
  Shape out_shape = p.batch;
  out_shape.push_back(p.m);
  out_shape.push_back(p.n);
  return product(a, b, std::move(p), out_shape, "bmm");
}

// ---- gradient-check cases ----

void add_matmul_gradcases(std::vector<autograd::GradCase>& cases) {
  using Inputs = std::vector<Tensor>;
  auto input = [](Rng& rng, const Shape& s) {
    return Tensor::randn(s, rng, DType::F64).set_requires_grad(true);
  };
  auto two = [=](Shape sa, Shape sb) {
    return [=](Rng& r) { return Inputs{input(r, sa), input(r, sb)}; };
  };
  auto tr = [](const Tensor& x) { return transpose(x, -1, -2); };
  cases.push_back({"matmul", "[3, 5, 7] @ [7, 4] (leading dims fold into M)", two({3, 5, 7}, {7, 4}),
                   [](const Inputs& x) { return matmul(x[0], x[1]); }});
  cases.push_back({"matmul", "[7] @ [7, 3] (a vector)", two({7}, {7, 3}),
                   [](const Inputs& x) { return matmul(x[0], x[1]); }});
  cases.push_back({"matmul", "transposed views: [7, 5]^T @ [3, 7]^T", two({7, 5}, {3, 7}),
                   [tr](const Inputs& x) { return matmul(tr(x[0]), tr(x[1])); }});
  cases.push_back({"matmul", "batch of transposed views [2, 7, 5]^T @ [7, 3]", two({2, 7, 5}, {7, 3}),
                   [tr](const Inputs& x) { return matmul(tr(x[0]), x[1]); }});
  cases.push_back({"matmul", "row-strided slice of [5, 11] cols 2..9 @ [7, 3]",
                   two({5, 11}, {7, 3}),
                   [](const Inputs& x) { return matmul(slice(x[0], 1, 2, 9), x[1]); }});
  cases.push_back({"bmm", "[2, 3, 5, 7] @ [2, 3, 7, 4]", two({2, 3, 5, 7}, {2, 3, 7, 4}),
                   [](const Inputs& x) { return bmm(x[0], x[1]); }});
  cases.push_back({"bmm", "broadcast [2, 1, 5, 7] @ [3, 7, 4]", two({2, 1, 5, 7}, {3, 7, 4}),
                   [](const Inputs& x) { return bmm(x[0], x[1]); }});
  cases.push_back({"bmm", "q [2, 3, 5, 7] @ k^T, k [2, 3, 6, 7]", two({2, 3, 5, 7}, {2, 3, 6, 7}),
                   [tr](const Inputs& x) { return bmm(x[0], tr(x[1])); }});
  cases.push_back({"bmm", "shared [5, 7]^T (a [7, 5]) @ [3, 7, 4]", two({7, 5}, {3, 7, 4}),
                   [tr](const Inputs& x) { return bmm(tr(x[0]), x[1]); }});
  cases.push_back({"bmm", "strided operand (dims 0, 2 swapped) [3, 5, 2] @ [2, 3, 4]",
                   two({3, 5, 2}, {2, 3, 4}),
                   [](const Inputs& x) { return bmm(transpose(x[0], 0, 2), x[1]); }});
}

}  // namespace attnlab::ops
