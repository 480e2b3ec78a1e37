#include "attnlab/ops/dct.h"

#include <fftw3.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <vector>

#include "attnlab/autograd/node.h"
#include "attnlab/core/parallel.h"
#include "attnlab/ops/gradcases.h"
#include "attnlab/ops/shape.h"

namespace attnlab::ops {

namespace {

// Elements per FFTW execution: small enough for L2, large enough that the call costs
// nothing. Fixed (not derived from the thread count) so the split, and with it which
// plan computes which transform, is the same for any number of threads.
constexpr int64_t kChunkElems = 1 << 14;

// fftw_iodim64 and fftw_r2r_kind are the same types in both precisions.
template <class T> struct Fftw;
template <> struct Fftw<float> {
  static void* plan(const fftw_iodim64& dim, const fftw_iodim64& loop, float* in, float* out,
                    fftw_r2r_kind kind, unsigned flags) {
    return fftwf_plan_guru64_r2r(1, &dim, 1, &loop, in, out, &kind, flags);
  }
  static void execute(void* p, float* in, float* out) { fftwf_execute_r2r(static_cast<fftwf_plan>(p), in, out); }
  static void destroy(void* p) { fftwf_destroy_plan(static_cast<fftwf_plan>(p)); }
  static bool aligned(const float* p) { return fftwf_alignment_of(const_cast<float*>(p)) == 0; }
};
template <> struct Fftw<double> {
  static void* plan(const fftw_iodim64& dim, const fftw_iodim64& loop, double* in, double* out,
                    fftw_r2r_kind kind, unsigned flags) {
    return fftw_plan_guru64_r2r(1, &dim, 1, &loop, in, out, &kind, flags);
  }
  static void execute(void* p, double* in, double* out) { fftw_execute_r2r(static_cast<fftw_plan>(p), in, out); }
  static void destroy(void* p) { fftw_destroy_plan(static_cast<fftw_plan>(p)); }
  static bool aligned(const double* p) { return fftw_alignment_of(const_cast<double*>(p)) == 0; }
};

// A plan is valid for any arrays with its strides and SIMD alignment, so it is keyed by
// exactly those: `howmany` rows of n adjacent elements, row j at j * in_dist in the
// input and j * out_dist in the output.
struct PlanKey {
  bool inverse;
  DType dtype;
  int64_t n, howmany, in_dist, out_dist;
  bool aligned;
  auto operator<=>(const PlanKey&) const = default;
};

// FFTW's planner is not thread-safe (only fftw_execute* is), so plans are made under
// one mutex, once per layout, and kept for the life of the process.
class PlanCache {
 public:
  ~PlanCache() {
    for (auto& [key, plan] : plans_) {
      if (key.dtype == DType::F32) Fftw<float>::destroy(plan);
      else Fftw<double>::destroy(plan);
    }
  }

  // `in` and `out` are arrays the plan will run on; FFTW_ESTIMATE neither reads nor
  // writes them while planning. FFTW_ESTIMATE also picks the algorithm by rules rather
  // than by timing, so the same layout gets the same plan (and bitwise the same
  // results) in every run; FFTW_MEASURE would not.
  template <class T>
  void* get(const PlanKey& key, const T* in, T* out) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = plans_.find(key);
    if (it != plans_.end()) return it->second;
    fftw_iodim64 dim{key.n, 1, 1}, loop{key.howmany, key.in_dist, key.out_dist};
    // The input is the caller's tensor: FFTW must not use it as scratch.
    unsigned flags = FFTW_ESTIMATE | FFTW_PRESERVE_INPUT | (key.aligned ? 0u : unsigned(FFTW_UNALIGNED));
    void* plan = Fftw<T>::plan(dim, loop, const_cast<T*>(in), out, key.inverse ? FFTW_REDFT01 : FFTW_REDFT10,
                               flags);
    ATTNLAB_CHECK(plan, key.inverse ? "idct" : "dct", ": FFTW could not plan a transform of length ", key.n);
    plans_.emplace(key, plan);
    ++created_;
    return plan;
  }

  size_t created() {
    std::lock_guard<std::mutex> lock(mutex_);
    return created_;
  }

 private:
  std::mutex mutex_;
  std::map<PlanKey, void*> plans_;
  size_t created_ = 0;
};

PlanCache& plan_cache() {
  static PlanCache cache;
  return cache;
}

// The transforms of one call as (at most) two nested loops: element k of transform
// (a, j) is at a*outer.is + j*inner.is + k*is_n in x and the same with os in y.
struct LoopDim {
  int64_t n = 1, is = 0, os = 0;
};
struct DctLayout {
  int64_t N = 1, is_n = 0, os_n = 0;
  LoopDim outer, inner;
};

// Folds every dimension but `d` into loops, merging neighbours that step through both
// x and y evenly. False when more than two loops remain (x must be packed first); a
// contiguous x always fits: the dimensions before d fold into one, those after into another.
bool dct_layout(const Tensor& x, int64_t d, DctLayout& L) {
  const Shape& shape = x.shape();
  Shape ostr = contiguous_strides(shape);
  std::vector<LoopDim> loops;
  for (int64_t j = 0; j < x.dim(); ++j) {
    size_t u = size_t(j);
    if (j == d || shape[u] == 1) continue;
    LoopDim cur{shape[u], x.strides()[u], ostr[u]};
    if (!loops.empty() && loops.back().is == cur.is * cur.n && loops.back().os == cur.os * cur.n)
      loops.back() = {loops.back().n * cur.n, cur.is, cur.os};
    else
      loops.push_back(cur);
  }
  if (loops.size() > 2) return false;
  L.N = shape[size_t(d)];
  // A stride along a dimension of size 1 means nothing; call such rows adjacent.
  L.is_n = L.N == 1 ? 1 : x.strides()[size_t(d)];
  L.os_n = L.N == 1 ? 1 : ostr[size_t(d)];
  if (loops.size() == 2) L.outer = loops[0];
  if (!loops.empty()) L.inner = loops.back();
  return true;
}

// FFTW's REDFT10 is Y_k = 2 sum_n x_n cos(pi (2n+1) k / (2N)): the orthonormal DCT-II is
// Y_k / sqrt(4N) at k = 0 and Y_k / sqrt(2N) elsewhere. REDFT01 is
// Y_n = X_0 + 2 sum_{k>0} X_k cos(...): the orthonormal DCT-III is
// (Y_n + (sqrt(2) - 1) X_0) / sqrt(2N), which fixes the k = 0 weight after the
// transform instead of scaling a copy of the input before it.
//
// FFTW's r2r transforms are scalar code that is fast only on rows whose elements are
// adjacent: at stride 4096, N = 64 runs 4-5x slower. So a transform with strided
// input is first gathered into a row of a per-thread scratch block, and one with
// strided output is written to scratch rows and scattered (scaled on the way) by us.
template <class T>
void dct_run(const Tensor& x, Tensor& y, const DctLayout& L, bool inverse) {
  const T* xb = x.data<T>();
  T* yb = y.data<T>();
  const int64_t N = L.N;
  const int64_t bs = std::clamp<int64_t>(kChunkElems / N, 1, L.inner.n);
  const int64_t blocks = (L.inner.n + bs - 1) / bs, tasks = L.outer.n * blocks;
  const bool gather = L.is_n != 1, scatter = L.os_n != 1;
  // Distance between consecutive transforms where FFTW reads and writes them.
  const int64_t src_dist = gather ? N : L.inner.is, dst_dist = scatter ? N : L.inner.os;
  struct Chunk {
    const T* in;
    T* out;
    int64_t count;
  };
  auto chunk = [&](int64_t t) {
    int64_t a = t / blocks, j0 = (t % blocks) * bs;
    return Chunk{xb + a * L.outer.is + j0 * L.inner.is, yb + a * L.outer.os + j0 * L.inner.os,
                 std::min(bs, L.inner.n - j0)};
  };
  // Scratch is 64-byte aligned, so whether a chunk runs the aligned or the unaligned
  // plan depends only on the layout, never on where the allocator put things.
  auto aligned = [&](const Chunk& c) {
    return (gather || Fftw<T>::aligned(c.in)) && (scatter || Fftw<T>::aligned(c.out));
  };
  auto make_scratch = [&](bool on) { return on ? Tensor::empty({bs * N}, dtype_of<T>()) : Tensor(); };

  // Plans for full and tail chunks at either alignment, fetched before the parallel
  // loop so the planner only ever runs on this thread.
  void* plans[2][2] = {};
  {
    Tensor sin = make_scratch(gather), sout = make_scratch(scatter);
    for (int64_t t = 0; t < tasks; ++t) {
      Chunk c = chunk(t);
      bool al = aligned(c);
      void*& slot = plans[c.count == bs][al];
      if (!slot)
        slot = plan_cache().get<T>({inverse, dtype_of<T>(), N, c.count, src_dist, dst_dist, al},
                                   gather ? sin.data<T>() : c.in, scatter ? sout.data<T>() : c.out);
    }
  }
  const T f = T(1.0 / std::sqrt(2.0 * double(N)));
  const T f0 = inverse ? f : T(0.5 / std::sqrt(double(N)));
  const T r = T(std::sqrt(2.0) - 1.0);
  // Small calls (under about one chunk of elements in all) stay on this thread.
  const int64_t grain = std::max<int64_t>(1, kChunkElems / (bs * N));
  parallel_for(0, tasks, grain, [&](int64_t t0, int64_t t1) {
    Tensor sin = make_scratch(gather), sout = make_scratch(scatter);
    for (int64_t t = t0; t < t1; ++t) {
      Chunk c = chunk(t);
      const T* src = c.in;
      T* dst = scatter ? sout.data<T>() : c.out;
      if (gather) {
        T* s = sin.data<T>();
        for (int64_t k = 0; k < N; ++k) {
          const T* xk = c.in + k * L.is_n;
          for (int64_t j = 0; j < c.count; ++j) s[j * N + k] = xk[j * L.inner.is];
        }
        src = s;
      }
      Fftw<T>::execute(plans[c.count == bs][aligned(c)], const_cast<T*>(src), dst);
      if (scatter) {
        for (int64_t k = 0; k < N; ++k) {
          T* o = c.out + k * L.os_n;
          T fk = k == 0 ? f0 : f;
          if (inverse) {
            for (int64_t j = 0; j < c.count; ++j) o[j * L.inner.os] = (dst[j * N + k] + r * src[j * src_dist]) * f;
          } else {
            for (int64_t j = 0; j < c.count; ++j) o[j * L.inner.os] = dst[j * N + k] * fk;
          }
        }
      } else {
        for (int64_t j = 0; j < c.count; ++j) {
          T* o = dst + j * dst_dist;
          if (inverse) {
            T a = r * src[j * src_dist];
            for (int64_t k = 0; k < N; ++k) o[k] = (o[k] + a) * f;
          } else {
            o[0] *= f0;
            for (int64_t k = 1; k < N; ++k) o[k] *= f;
          }
        }
      }
    }
  });
}

Tensor dct_apply(const Tensor& x_in, int64_t dim, bool inverse) {
  const char* op = inverse ? "idct" : "dct";
  int64_t d = wrap_dim(dim, x_in.dim(), op);
  return dispatch_float(x_in.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    ATTNLAB_CHECK(x_in.size(d) >= 1, op, ": dimension ", d, " of ", shape_str(x_in.shape()),
                  " is empty; a transform needs length >= 1");
    Tensor y = Tensor::empty(x_in.shape(), x_in.dtype());
    if (y.numel() == 0) return y;
    Tensor x = x_in;
    DctLayout L;
    if (!dct_layout(x, d, L)) {
      x = x_in.contiguous();
      dct_layout(x, d, L);
    }
    dct_run<T>(x, y, L, inverse);
    return y;
  });
}

}  // namespace

// ---- forward and backward: the matrix is orthogonal, so each is the other's transpose ----

Tensor dct(const Tensor& x, int64_t dim) {
  Tensor y = dct_apply(x, dim, false);
  if (autograd::should_record({x})) {
    int64_t d = wrap_dim(dim, x.dim(), "dct");
    autograd::record("dct", {x}, y, [d](const Tensor& g) { return std::vector<Tensor>{dct_apply(g, d, true)}; });
  }
  return y;
}

Tensor idct(const Tensor& x, int64_t dim) {
  Tensor y = dct_apply(x, dim, true);
  if (autograd::should_record({x})) {
    int64_t d = wrap_dim(dim, x.dim(), "idct");
    autograd::record("idct", {x}, y, [d](const Tensor& g) { return std::vector<Tensor>{dct_apply(g, d, false)}; });
  }
  return y;
}

size_t dct_plans_created() { return plan_cache().created(); }

// ---- gradient-check cases ----

void add_dct_gradcases(std::vector<autograd::GradCase>& cases) {
  using Inputs = std::vector<Tensor>;
  auto input = [](Rng& rng, const Shape& s) {
    return Tensor::randn(s, rng, DType::F64).set_requires_grad(true);
  };
  using Fn = Tensor (*)(const Tensor&, int64_t);
  for (auto [name, fn] : {std::pair<const char*, Fn>{"dct", dct}, std::pair<const char*, Fn>{"idct", idct}}) {
    cases.push_back({name, "[3, 8] last dim", [=](Rng& r) { return Inputs{input(r, {3, 8})}; },
                     [fn](const Inputs& x) { return fn(x[0], -1); }});
    cases.push_back({name, "[2, 7, 3] middle dim", [=](Rng& r) { return Inputs{input(r, {2, 7, 3})}; },
                     [fn](const Inputs& x) { return fn(x[0], 1); }});
    cases.push_back({name, "[63] one dim, N=63", [=](Rng& r) { return Inputs{input(r, {63})}; },
                     [fn](const Inputs& x) { return fn(x[0], 0); }});
    cases.push_back({name, "[4, 1] N=1", [=](Rng& r) { return Inputs{input(r, {4, 1})}; },
                     [fn](const Inputs& x) { return fn(x[0], 1); }});
    cases.push_back({name, "transposed view of [5, 6], dim 1", [=](Rng& r) { return Inputs{input(r, {5, 6})}; },
                     [fn](const Inputs& x) { return fn(transpose(x[0], 0, 1), 1); }});
  }
}

}  // namespace attnlab::ops
