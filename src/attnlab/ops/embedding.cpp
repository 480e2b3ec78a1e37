#include "attnlab/ops/embedding.h"

#include <cstring>
#include <memory>
#include <vector>

#include "attnlab/autograd/node.h"
#include "attnlab/core/parallel.h"
#include "attnlab/ops/gradcases.h"

namespace attnlab::ops {

namespace {

// "[1, 7]" for flat position 15 of shape [2, 8]: a person looks up ids by index.
std::string position_str(int64_t flat, const Shape& shape) {
  Shape index(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    index[d] = flat % shape[d];
    flat /= shape[d];
  }
  return shape_str(index);
}

void check_ids(const Tensor& ids, int64_t V) {
  const int32_t* id = ids.data<int32_t>();
  for (int64_t n = 0; n < ids.numel(); ++n)
    ATTNLAB_CHECK(id[n] >= 0 && id[n] < V, "embedding: id ", id[n], " at position ",
                  position_str(n, ids.shape()), " of ids ", shape_str(ids.shape()),
                  " is outside [0, ", V, ") for a table of ", V, " rows");
}

// Ids grouped by row with a stable counting sort: the occurrences of row v are
// order[start[v] .. start[v + 1]), in increasing position. Summing each row's
// occurrences in that order makes the table gradient independent of the thread count,
// and lets every thread own whole rows of it (no atomics, no read-modify-write).
struct RowGroups {
  std::vector<int64_t> start;  // [V + 1]
  std::vector<int64_t> order;  // [N]
};

RowGroups group_by_row(const int32_t* id, int64_t N, int64_t V) {
  RowGroups g;
  g.start.assign(size_t(V + 1), 0);
  g.order.resize(size_t(N));
  for (int64_t n = 0; n < N; ++n) g.start[size_t(id[n]) + 1]++;
  for (int64_t v = 0; v < V; ++v) g.start[size_t(v + 1)] += g.start[size_t(v)];
  std::vector<int64_t> next(g.start.begin(), g.start.end() - 1);
  for (int64_t n = 0; n < N; ++n) g.order[size_t(next[size_t(id[n])]++)] = n;
  return g;
}

// dtable[v, :] = sum of dout[n, :] over the positions n with ids[n] = v (zero for rows
// no id names). One write of dtable, split over rows.
template <class T>
void embedding_bwd(const RowGroups& groups, const T* dout, T* dtable, int64_t V, int64_t C) {
  int64_t grain = std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(C, 1));
  parallel_for(0, V, grain, [&](int64_t v0, int64_t v1) {
    for (int64_t v = v0; v < v1; ++v) {
      int64_t b = groups.start[size_t(v)], e = groups.start[size_t(v + 1)];
      if (b == e) {
        // Most rows of a large vocabulary get nothing: clear each run of them with one
        // memset, which large enough lets the C library use streaming stores.
        int64_t w = v + 1;
        while (w < v1 && groups.start[size_t(w + 1)] == e) ++w;
        std::memset(dtable + v * C, 0, size_t((w - v) * C) * sizeof(T));
        v = w - 1;
        continue;
      }
      T* drow = dtable + v * C;
      std::memcpy(drow, dout + groups.order[size_t(b)] * C, size_t(C) * sizeof(T));
      for (int64_t k = b + 1; k < e; ++k) {
        const T* g = dout + groups.order[size_t(k)] * C;
        for (int64_t c = 0; c < C; ++c) drow[c] += g[c];
      }
    }
  });
}

}  // namespace

// ids [...] int32, table [V, C] -> out [..., C]
Tensor embedding(const Tensor& ids_in, const Tensor& table_in) {
  ATTNLAB_CHECK(ids_in.dtype() == DType::I32, "embedding: ids must be int32, got ",
                dtype_name(ids_in.dtype()));
  ATTNLAB_CHECK(table_in.dim() == 2, "embedding: table must be [V, C], got shape ",
                shape_str(table_in.shape()));
  Tensor ids = ids_in.contiguous(), table = table_in.contiguous();
  const int64_t V = table.size(0), C = table.size(1), N = ids.numel();
  check_ids(ids, V);
  Shape out_shape = ids.shape();
  out_shape.push_back(C);
  Tensor out = Tensor::empty(out_shape, table.dtype());
  dispatch_float(table.dtype(), "embedding", [&](auto tag) {
    using T = decltype(tag);
    const int32_t* id = ids.data<int32_t>();
    const T* w = table.data<T>();
    T* o = out.data<T>();
    int64_t grain = std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(C, 1));
    parallel_for(0, N, grain, [&](int64_t n0, int64_t n1) {
      for (int64_t n = n0; n < n1; ++n) std::memcpy(o + n * C, w + int64_t(id[n]) * C, size_t(C) * sizeof(T));
    });
  });
  if (autograd::should_record({table_in})) {
    // Ids are saved already grouped: the sort is the only per-id work the backward needs.
    auto groups = std::make_shared<RowGroups>(group_by_row(ids.data<int32_t>(), N, V));
    DType dt = table.dtype();
    autograd::record("embedding", {table_in}, out, [groups, dt, V, C](const Tensor& g) {
      Tensor dtable = Tensor::empty({V, C}, dt);
      dispatch_float(dt, "embedding backward", [&](auto tag) {
        using T = decltype(tag);
        embedding_bwd<T>(*groups, g.data<T>(), dtable.data<T>(), V, C);
      });
      return std::vector<Tensor>{dtable};
    });
  }
  return out;
}

// ---- gradient-check cases ----

void add_embedding_gradcases(std::vector<autograd::GradCase>& cases) {
  using Inputs = std::vector<Tensor>;
  // Ids repeat (row 2 three times) and skip rows (row 4 never), so the check covers
  // accumulation of several positions into one row and rows that get no gradient.
  cases.push_back({"embedding", "ids [2, 3] into table [5, 7]",
                   [](Rng& r) {
                     return Inputs{Tensor::randn({5, 7}, r, DType::F64).set_requires_grad(true)};
                   },
                   [](const Inputs& x) {
                     Tensor ids = Tensor::from_vector(std::vector<int32_t>{2, 0, 2, 3, 2, 1}, {2, 3});
                     return embedding(ids, x[0]);
                   }});
  cases.push_back({"embedding", "ids [63] into table [3, 1]",
                   [](Rng& r) {
                     return Inputs{Tensor::randn({3, 1}, r, DType::F64).set_requires_grad(true)};
                   },
                   [](const Inputs& x) {
                     std::vector<int32_t> v(63);
                     for (size_t i = 0; i < v.size(); ++i) v[i] = int32_t((i * 7) % 3);
                     return embedding(Tensor::from_vector(v, {63}), x[0]);
                   }});
}

}  // namespace attnlab::ops
