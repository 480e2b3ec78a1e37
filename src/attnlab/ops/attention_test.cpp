// The fused attention kernel against the explicit-loop oracle (ops/attention_reference.cpp)
// at odd lengths and every option, gradients against the oracle's backward and between
// precisions, numerics at the edges (empty rows, large logits) and the shape errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "attnlab/core/parallel.h"
#include "attnlab/kernels/cpu/attention_fused.h"
#include "attnlab/kernels/cpu/attention_tiles.h"
#include "attnlab/ops/ops.h"
#include "harness/assert_close.h"

namespace attnlab::ops {
namespace {

using testing::kOddSizes;


std::vector<float> alibi_slopes(int64_t heads) {
  std::vector<float> s;
  for (int64_t h = 0; h < heads; ++h) s.push_back(std::pow(2.0f, -8.0f * float(h + 1) / float(heads)));
  return s;
}

struct Problem {
  int64_t B, H, Hkv, Tq, Tk, D, Dv;
};

// q, k, v drawn in float64 and rounded to `dt`, so both precisions see the same values.
std::vector<Tensor> make_qkv(const Problem& p, DType dt, uint64_t seed) {
  Rng rng(seed);
  return {Tensor::randn({p.B, p.H, p.Tq, p.D}, rng, DType::F64).to(dt),
          Tensor::randn({p.B, p.Hkv, p.Tk, p.D}, rng, DType::F64).to(dt),
          Tensor::randn({p.B, p.Hkv, p.Tk, p.Dv}, rng, DType::F64).to(dt)};
}

std::string describe(const Problem& p, DType dt) {
  return cat(dtype_name(dt), " B=", p.B, " H=", p.H, " Hkv=", p.Hkv, " Tq=", p.Tq, " Tk=", p.Tk,
             " D=", p.D, " Dv=", p.Dv);
}

// Rows with lse = -inf in the reference must be -inf in the kernel too (compare() skips them).
void expect_same_empty_rows(const Tensor& ref, const Tensor& got, const std::string& what) {
  std::vector<double> r = ref.to_vector(), g = got.to_vector();
  for (size_t i = 0; i < r.size(); ++i) {
    if (std::isinf(r[i])) EXPECT_TRUE(std::isinf(g[i]) && g[i] < 0) << what << " row " << i;
    else EXPECT_TRUE(std::isfinite(g[i])) << what << " row " << i << " lse " << g[i];
  }
}

void check_forward(const Problem& p, const AttentionOptions& opt, DType dt, uint64_t seed = 7,
                   double tol = 0) {
  std::vector<Tensor> x = make_qkv(p, dt, seed);
  Tensor lse_ref, lse;
  Tensor ref = attention_reference(x[0], x[1], x[2], opt, &lse_ref);
  Tensor got = attention_forward(x[0], x[1], x[2], opt, &lse);
  const std::string what = describe(p, dt);
  const double t = tol > 0 ? tol : default_tolerance(dt);
  EXPECT_CLOSE("o " + what, ref, got, t);
  EXPECT_CLOSE("lse " + what, lse_ref, lse, t);
  expect_same_empty_rows(lse_ref, lse, what);
}

void check_backward(const Problem& p, const AttentionOptions& opt, DType dt, double tol,
                    uint64_t seed = 11) {
  std::vector<Tensor> x = make_qkv(p, dt, seed);
  Rng rng(seed + 1);
  Tensor dout = Tensor::randn({p.B, p.H, p.Tq, p.Dv}, rng, DType::F64).to(dt);
  std::vector<Tensor> ref = attention_reference_backward(x[0], x[1], x[2], dout, opt);
  Tensor lse;
  Tensor o = attention_forward(x[0], x[1], x[2], opt, &lse);
  std::vector<Tensor> got = attention_backward(x[0], x[1], x[2], o, lse, dout, opt);
  const std::string what = describe(p, dt);
  const char* names[3] = {"dq ", "dk ", "dv "};
  for (size_t i = 0; i < 3; ++i) {
    std::vector<double> r = ref[i].to_vector();
    if (std::all_of(r.begin(), r.end(), [](double x) { return x == 0; })) {
      // One visible key per row (T = 1): the softmax is constant, dq = dk = 0 exactly,
      // and a relative error would divide rounding noise by zero.
      EXPECT_LT(compare(ref[i], got[i]).max_abs, tol) << names[i] << what;
    } else {
      EXPECT_CLOSE(names[i] + what, ref[i], got[i], tol);
    }
  }
}

// ---- kernel sets (attention_tiles.h) ----

// Runs the body once per supported set and restores the set in use afterwards.
class EveryKernelSet {
 public:
  EveryKernelSet() : saved_(kernels::active_kernel_set()) {}
  ~EveryKernelSet() { kernels::set_kernel_set(saved_); }
  template <class F>
  void run(F&& body) {
    for (kernels::KernelSet s : kernels::supported_kernel_sets()) {
      SCOPED_TRACE(cat("kernel set ", kernels::kernel_set_name(s)));
      kernels::set_kernel_set(s);
      body();
    }
  }

 private:
  kernels::KernelSet saved_;
};

// ---- the vectorised exp ----

TEST(AttentionExp, MatchesLibmAcrossTheRangeInEveryKernelSet) {
  EveryKernelSet sets;
  sets.run([] {
    // 23947 values: whole vectors and a scalar tail, whatever the vector width.
    std::vector<float> x;
    for (double v = -87.0; v <= 88.0; v += 0.00731) x.push_back(float(v));
    std::vector<float> y = x;
    kernels::attention_expf_row(y.data(), int64_t(y.size()));
    double worst = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const double want = std::exp(double(x[i]));
      worst = std::max(worst, std::abs(double(y[i]) - want) / want);
    }
    EXPECT_LT(worst, 3e-7);
    const float inf = std::numeric_limits<float>::infinity();
    std::vector<float> edge = {0.0f, -inf, -1000.0f, -87.5f, std::numeric_limits<float>::quiet_NaN()};
    for (int rep = 0; rep < 4; ++rep) edge.insert(edge.end(), edge.begin(), edge.begin() + 5);
    kernels::attention_expf_row(edge.data(), int64_t(edge.size()));
    for (size_t i = 0; i < edge.size(); i += 5) {
      EXPECT_EQ(edge[i], 1.0f);
      EXPECT_EQ(edge[i + 1], 0.0f);
      EXPECT_EQ(edge[i + 2], 0.0f);
      EXPECT_EQ(edge[i + 3], 0.0f);
      EXPECT_TRUE(std::isnan(edge[i + 4]));
    }
  });
}

// ---- forward against the oracle ----

TEST(AttentionForward, MatchesReferenceAtOddLengthsAndHeadDims) {
  for (DType dt : {DType::F32, DType::F64})
    for (int64_t T : kOddSizes)
      for (int64_t D : {1, 3, 64}) {
        // T = 1000 with one batch and few heads to stay fast (also under the sanitizers).
        Problem p = T < 1000 ? Problem{2, 2, 2, T, T, D, D}
                             : (D < 64 ? Problem{1, 2, 1, T, T, D, D} : Problem{1, 1, 1, T, T, D, D});
        check_forward(p, AttentionOptions::make(1.0 / std::sqrt(double(D))), dt);
      }
}

TEST(AttentionForward, ValueDimDiffersFromKeyDim) {
  for (DType dt : {DType::F32, DType::F64}) {
    check_forward({2, 2, 2, 63, 63, 5, 11}, AttentionOptions::make(0.4), dt);
    check_forward({1, 2, 2, 127, 127, 64, 3}, AttentionOptions::make(0.125), dt);
  }
}

TEST(AttentionForward, GroupedAndMultiQueryHeads) {
  for (DType dt : {DType::F32, DType::F64})
    for (int64_t Hkv : {2, 1})
      for (int64_t T : {63, 127}) check_forward({2, 6, Hkv, T, T, 8, 8}, AttentionOptions::make(0.35), dt);
}

TEST(AttentionForward, AlibiSlopesCausalAndNot) {
  for (DType dt : {DType::F32, DType::F64}) {
    check_forward({1, 4, 2, 127, 127, 16, 16}, AttentionOptions::make(0.25, true, -1, alibi_slopes(4)), dt);
    check_forward({1, 4, 4, 63, 63, 16, 16}, AttentionOptions::make(0.25, false, -1, alibi_slopes(4)), dt);
    check_forward({1, 2, 1, 1000, 1000, 4, 4}, AttentionOptions::make(0.5, true, -1, alibi_slopes(2)), dt);
  }
}

TEST(AttentionForward, NonCausal) {
  for (DType dt : {DType::F32, DType::F64})
    for (int64_t T : kOddSizes)
      if (T < 1000) check_forward({2, 2, 1, T, T, 8, 8}, AttentionOptions::make(0.35, false), dt);
      else check_forward({1, 1, 1, T, T, 8, 8}, AttentionOptions::make(0.35, false), dt);
}

TEST(AttentionForward, FewerQueriesThanKeys) {
  for (DType dt : {DType::F32, DType::F64}) {
    // Decoding: one query at the last position, and a short chunk after a cache.
    check_forward({2, 4, 2, 1, 127, 16, 16}, AttentionOptions::make(0.25), dt);
    check_forward({1, 4, 1, 1, 1000, 16, 16}, AttentionOptions::make(0.25), dt);
    check_forward({2, 4, 2, 5, 127, 16, 16}, AttentionOptions::make(0.25), dt);
    // An explicit offset: rows at positions 3..7 of 127 keys.
    check_forward({1, 2, 2, 5, 127, 16, 16}, AttentionOptions::make(0.25, true, 3), dt);
    check_forward({1, 2, 2, 5, 127, 16, 16}, AttentionOptions::make(0.25, false), dt);
  }
}

TEST(AttentionForward, SlidingWindow) {
  for (DType dt : {DType::F32, DType::F64})
    for (int64_t w : {1, 17, 100}) {
      check_forward({1, 2, 1, 127, 127, 8, 8}, AttentionOptions::make(0.35, true, -1, {}, w), dt);
      check_forward({1, 2, 2, 63, 63, 8, 8}, AttentionOptions::make(0.35, false, -1, {}, w), dt);
      check_forward({1, 1, 1, 1000, 1000, 4, 4}, AttentionOptions::make(0.35, true, -1, {}, w), dt);
      check_forward({1, 2, 1, 5, 127, 8, 8}, AttentionOptions::make(0.35, true, -1, alibi_slopes(2), w), dt);
    }
}

TEST(AttentionForward, RowsWithoutVisibleKeysGiveZeroAndZeroGradients) {
  // Rows at positions 100..226 with a window of 20 over 127 keys: rows from position 146
  // on see nothing.
  const Problem p{1, 2, 1, 127, 127, 8, 8};
  const AttentionOptions opt = AttentionOptions::make(0.35, true, 100, {}, 20);
  for (DType dt : {DType::F32, DType::F64}) {
    check_forward(p, opt, dt);
    std::vector<Tensor> x = make_qkv(p, dt, 3);
    for (Tensor& t : x) t.set_requires_grad(true);
    Tensor lse;
    Tensor o = attention_forward(x[0], x[1], x[2], opt, &lse);
    for (int64_t h = 0; h < 2; ++h)
      for (int64_t i = 0; i < 127; ++i) {
        const bool empty = 100 + i - 20 + 1 >= 127;
        EXPECT_EQ(std::isinf(lse.at({0, h, i})), empty) << "row " << i;
        for (int64_t c = 0; c < 8 && empty; ++c) EXPECT_EQ(o.at({0, h, i, c}), 0.0);
      }
    Rng rng(5);
    Tensor y = attention(x[0], x[1], x[2], opt);
    y.backward(Tensor::randn(y.shape(), rng, dt));
    Tensor dq = x[0].grad();
    for (int64_t h = 0; h < 2; ++h)
      for (int64_t i = 46; i < 127; ++i)
        for (int64_t c = 0; c < 8; ++c) ASSERT_EQ(dq.at({0, h, i, c}), 0.0) << "row " << i;
    for (const Tensor& t : x)
      for (double g : t.grad().to_vector()) ASSERT_TRUE(std::isfinite(g));
    check_backward(p, opt, dt, dt == DType::F64 ? 1e-10 : 1e-5);
  }
  // Every row empty: a query block entirely past the window.
  check_forward({1, 1, 1, 3, 4, 2, 2}, AttentionOptions::make(1.0, true, 50, {}, 5), DType::F32);
}

TEST(AttentionForward, EmptyLengths) {
  // No keys at all (an empty cache with an explicit offset): every row outputs 0.
  check_forward({1, 2, 1, 3, 0, 4, 5}, AttentionOptions::make(0.5, true, 0), DType::F32);
  check_forward({1, 2, 1, 3, 0, 4, 5}, AttentionOptions::make(0.5, false, 0), DType::F64);
  // No queries.
  std::vector<Tensor> x = make_qkv({1, 2, 1, 0, 6, 4, 5}, DType::F32, 1);
  Tensor lse;
  Tensor o = attention_forward(x[0], x[1], x[2], AttentionOptions::make(0.5), &lse);
  EXPECT_EQ(o.shape(), Shape({1, 2, 0, 5}));
  std::vector<Tensor> g = attention_backward(x[0], x[1], x[2], o, lse, o, AttentionOptions::make(0.5));
  EXPECT_EQ(g[1].to_vector(), std::vector<double>(6 * 4, 0.0)) << "keys nobody saw get zero gradients";
}

TEST(AttentionForward, LargeLogitsStayFinite) {
  for (DType dt : {DType::F32, DType::F64}) {
    const Problem p{1, 2, 1, 127, 127, 16, 16};
    const AttentionOptions opt = AttentionOptions::make(100.0);
    check_forward(p, opt, dt);
    std::vector<Tensor> x = make_qkv(p, dt, 9);
    Rng rng(1);
    Tensor dout = Tensor::randn({p.B, p.H, p.Tq, p.Dv}, rng, dt);
    Tensor lse;
    Tensor o = attention_forward(x[0], x[1], x[2], opt, &lse);
    for (const Tensor& t : attention_backward(x[0], x[1], x[2], o, lse, dout, opt))
      for (double g : t.to_vector()) ASSERT_TRUE(std::isfinite(g));
  }
}

TEST(AttentionForward, StridedViewsNeedNoCopyAndAgree) {
  Rng rng(21);
  // [B, T, H, D] as projections produce them, viewed as [B, H, T, D].
  Tensor q = Tensor::randn({2, 63, 6, 16}, rng).transpose_raw(1, 2);
  Tensor k = Tensor::randn({2, 63, 2, 16}, rng).transpose_raw(1, 2);
  Tensor v = Tensor::randn({2, 63, 2, 8}, rng).transpose_raw(1, 2);
  const AttentionOptions opt = AttentionOptions::make(0.25, true, -1, alibi_slopes(6), 40);
  Tensor o = attention_forward(q, k, v, opt);
  EXPECT_CLOSE("strided", attention_reference(q, k, v, opt), o, 2e-5);
  EXPECT_EQ(o.to_vector(), attention_forward(q.contiguous(), k.contiguous(), v.contiguous(), opt).to_vector());
}

// ---- backward ----

TEST(AttentionBackward, MatchesReferenceGradientsAtOddLengths) {
  for (DType dt : {DType::F32, DType::F64}) {
    const double tol = dt == DType::F64 ? 1e-10 : 1e-5;
    for (int64_t T : kOddSizes) {
      Problem p = T < 1000 ? Problem{2, 6, 2, T, T, 16, 8} : Problem{1, 2, 1, T, T, 16, 16};
      check_backward(p, AttentionOptions::make(0.25), dt, tol);
    }
    check_backward({1, 4, 2, 127, 127, 3, 5}, AttentionOptions::make(0.5, true, -1, alibi_slopes(4), 30), dt, tol);
    check_backward({2, 3, 1, 63, 63, 8, 8}, AttentionOptions::make(0.5, false, -1, alibi_slopes(3)), dt, tol);
    check_backward({1, 3, 3, 5, 127, 8, 8}, AttentionOptions::make(0.5), dt, tol);
    check_backward({1, 3, 1, 1, 1000, 8, 8}, AttentionOptions::make(0.5), dt, tol);
    check_backward({1, 2, 2, 7, 127, 8, 8}, AttentionOptions::make(0.5, true, 60, {}, 16), dt, tol);
  }
}

TEST(AttentionBackward, Float32GradientsMatchFloat64OfTheSameInputs) {
  for (int64_t T : {127, 1000}) {
    const Problem p = T < 1000 ? Problem{2, 4, 2, T, T, 32, 32} : Problem{1, 2, 1, T, T, 64, 64};
    const AttentionOptions opt = AttentionOptions::make(1.0 / std::sqrt(double(p.D)));
    std::vector<Tensor> grads[2];
    const DType dts[2] = {DType::F32, DType::F64};
    for (int w = 0; w < 2; ++w) {
      std::vector<Tensor> x = make_qkv(p, DType::F32, 17);  // float32 values in both runs
      for (Tensor& t : x) t = t.to(dts[w]).set_requires_grad(true);
      Rng rng(18);
      Tensor dout = Tensor::randn({p.B, p.H, p.Tq, p.Dv}, rng, DType::F32).to(dts[w]);
      attention(x[0], x[1], x[2], opt).backward(dout);
      for (Tensor& t : x) grads[w].push_back(t.grad());
    }
    const char* names[3] = {"dq", "dk", "dv"};
    for (int i = 0; i < 3; ++i)
      EXPECT_CLOSE(cat(names[i], " T=", T), grads[1][size_t(i)], grads[0][size_t(i)], 1e-5);
  }
}

TEST(AttentionBackward, KeyTileChunksForAnyThreadCount) {
  // B x Hkv not a multiple of the threads: the key tiles are split into chunks whose dq
  // sums are added in a fixed order. Exercise it whatever ATTNLAB_THREADS says.
  const int saved = num_threads();
  for (int threads : {1, 3, 4}) {
    set_num_threads(threads);
    check_backward({1, 4, 1, 300, 300, 16, 16}, AttentionOptions::make(0.25), DType::F64, 1e-10);
    check_backward({1, 6, 3, 200, 200, 8, 8}, AttentionOptions::make(0.25, true, -1, {}, 70), DType::F32, 1e-5);
  }
  set_num_threads(saved);
}

TEST(AttentionBackward, RepeatsBitForBit) {
  // Multi-query heads (B x Hkv = 1) split the key tiles into chunks with separate dq sums.
  for (Problem p : {Problem{1, 4, 1, 300, 300, 16, 16}, Problem{2, 6, 3, 200, 200, 16, 16}}) {
    std::vector<Tensor> x = make_qkv(p, DType::F32, 23);
    Rng rng(24);
    Tensor dout = Tensor::randn({p.B, p.H, p.Tq, p.Dv}, rng);
    const AttentionOptions opt = AttentionOptions::make(0.25);
    Tensor lse;
    Tensor o = attention_forward(x[0], x[1], x[2], opt, &lse);
    std::vector<Tensor> a = attention_backward(x[0], x[1], x[2], o, lse, dout, opt);
    std::vector<Tensor> b = attention_backward(x[0], x[1], x[2], o, lse, dout, opt);
    for (size_t i = 0; i < 3; ++i) EXPECT_EQ(a[i].to_vector(), b[i].to_vector()) << i;
  }
}

TEST(AttentionBackward, AutogradMatchesTheKernelEntries) {
  const Problem p{1, 4, 2, 63, 63, 8, 8};
  const AttentionOptions opt = AttentionOptions::make(0.3, true, -1, alibi_slopes(4));
  std::vector<Tensor> x = make_qkv(p, DType::F64, 31);
  for (Tensor& t : x) t.set_requires_grad(true);
  Rng rng(32);
  Tensor dout = Tensor::randn({p.B, p.H, p.Tq, p.Dv}, rng, DType::F64);
  Tensor y = attention(x[0], x[1], x[2], opt);
  EXPECT_TRUE(y.requires_grad());
  y.backward(dout);
  Tensor lse;
  Tensor o = attention_forward(x[0].detach(), x[1].detach(), x[2].detach(), opt, &lse);
  std::vector<Tensor> g = attention_backward(x[0].detach(), x[1].detach(), x[2].detach(), o, lse, dout, opt);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(x[i].grad().to_vector(), g[i].to_vector()) << i;
  // Inputs without requires_grad record nothing.
  EXPECT_FALSE(attention(x[0].detach(), x[1].detach(), x[2].detach(), opt).requires_grad());
}

// ---- every kernel set the CPU supports (attention_tiles.h) ----

TEST(AttentionKernelSets, EverySupportedSetMatchesTheReference) {
  // The scalar set exists everywhere; on x86-64 with AVX2 (every CI machine) so does avx2.
  EXPECT_EQ(kernels::supported_kernel_sets().back(), kernels::KernelSet::scalar);
  EveryKernelSet sets;
  sets.run([] {
    for (DType dt : {DType::F32, DType::F64}) {
      const double tol = dt == DType::F64 ? 1e-10 : 1e-5;
      // Odd lengths across the 128-row and 128-key tiles, head dims around the vector widths.
      for (int64_t T : {1, 67, 129, 301})
        for (int64_t D : {3, 17, 64}) {
          Problem p = T < 300 ? Problem{2, 2, 1, T, T, D, D} : Problem{1, 2, 2, T, T, D, D};
          check_forward(p, AttentionOptions::make(1.0 / std::sqrt(double(D))), dt);
        }
      check_forward({1, 4, 2, 257, 257, 33, 31}, AttentionOptions::make(0.3, true, -1, alibi_slopes(4), 70), dt);
      check_forward({1, 3, 1, 5, 300, 16, 16}, AttentionOptions::make(0.4, true, 200), dt);  // decoding block
      // Few-row calls (decoding) take the scores as dot products with the stored keys.
      for (int64_t Tq : {1, 3, 4})
        for (int64_t D : {5, 16, 64})
          check_forward({2, 4, 2, Tq, 301, D, 7}, AttentionOptions::make(0.3, true, 301 - Tq, alibi_slopes(4), 200), dt);
      check_forward({2, 2, 2, 130, 141, 9, 9}, AttentionOptions::make(0.5, false, -1, alibi_slopes(2)), dt);
      check_backward({1, 4, 2, 263, 263, 17, 19}, AttentionOptions::make(0.3, true, -1, alibi_slopes(4)), dt, tol);
      check_backward({2, 2, 1, 131, 131, 64, 64}, AttentionOptions::make(0.125, true, -1, {}, 50), dt, tol);
      check_backward({1, 3, 3, 70, 150, 8, 8}, AttentionOptions::make(0.5, false), dt, tol);
    }
  });
}

TEST(AttentionKernelSets, DistanceBiasEqualToAlibiGivesAlibi) {
  // A causal ALiBi bias is the distance table tab[h][d] = -slope_h * d, so the Kerple path
  // of every set must reproduce the ALiBi reference, values and input gradients.
  const Problem p{1, 3, 3, 203, 203, 16, 16};
  const std::vector<float> slopes = alibi_slopes(p.H);
  std::vector<double> tab;
  for (int64_t h = 0; h < p.H; ++h)
    for (int64_t d = 0; d < p.Tk; ++d) tab.push_back(-double(slopes[size_t(h)]) * double(d));
  EveryKernelSet sets;
  sets.run([&] {
    for (DType dt : {DType::F32, DType::F64}) {
      std::vector<Tensor> x = make_qkv(p, dt, 5);
      Tensor bias = Tensor::from_vector(tab, {p.H, p.Tk}).to(dt);
      const AttentionOptions plain = AttentionOptions::make(0.25);
      const AttentionOptions alibi = AttentionOptions::make(0.25, true, -1, slopes);
      const double tol = dt == DType::F64 ? 1e-10 : 2e-5;
      EXPECT_CLOSE(cat("o ", dtype_name(dt)), attention_reference(x[0], x[1], x[2], alibi),
                   attention_distance_bias(x[0], x[1], x[2], bias, plain), tol);
      Rng rng(9);
      Tensor dout = Tensor::randn({p.B, p.H, p.Tq, p.Dv}, rng, DType::F64).to(dt);
      std::vector<Tensor> ref = attention_reference_backward(x[0], x[1], x[2], dout, alibi);
      for (Tensor& t : x) t.set_requires_grad(true);
      attention_distance_bias(x[0], x[1], x[2], bias, plain).backward(dout);
      for (size_t i = 0; i < 3; ++i) EXPECT_CLOSE(cat("grad ", i, " ", dtype_name(dt)), ref[i], x[i].grad(), tol);
    }
  });
}

TEST(AttentionKernelSets, AnUnsupportedSetIsAnErrorNamingWhatIsSupported) {
  const kernels::KernelSet saved = kernels::active_kernel_set();
  for (kernels::KernelSet s : {kernels::KernelSet::avx512, kernels::KernelSet::avx2}) {
    if (kernels::kernel_set_supported(s)) continue;
    try {
      kernels::set_kernel_set(s);
      ADD_FAILURE() << "no error for " << kernels::kernel_set_name(s);
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("not supported by this CPU (it supports: "), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(kernels::active_kernel_set(), saved);
  EXPECT_NE(kernels::kernel_set_info().find(kernels::kernel_set_name(saved)), std::string::npos);
}

TEST(AttentionMemory, GrowsLinearlyWithLength) {
  // T = 2048, one head of width 16: a T x T float matrix would be 16 MiB, the inputs,
  // outputs and gradients together are under 1 MiB.
  const Problem p{1, 1, 1, 2048, 2048, 16, 16};
  std::vector<Tensor> x = make_qkv(p, DType::F32, 41);
  Rng rng(42);
  Tensor dout = Tensor::randn({1, 1, 2048, 16}, rng);
  const size_t before = allocator_stats().bytes_in_use;
  size_t peak = 0;
  {
    Tensor lse;
    Tensor o = attention_forward(x[0], x[1], x[2], AttentionOptions::make(0.25), &lse);
    peak = std::max(peak, allocator_stats().bytes_in_use);
    std::vector<Tensor> g = attention_backward(x[0], x[1], x[2], o, lse, dout, AttentionOptions::make(0.25));
    peak = std::max(peak, allocator_stats().bytes_in_use);
  }
  EXPECT_LT(peak - before, size_t(4) << 20) << "bytes held after forward and backward";
}

// ---- errors ----

void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning " << parts[0];
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    for (const std::string& part : parts) EXPECT_NE(msg.find(part), std::string::npos) << msg;
  }
}

TEST(AttentionErrors, BadShapesAndOptionsNameTheOpAndShapes) {
  auto t = [](const Shape& s, DType dt = DType::F32) { return Tensor::zeros(s, dt); };
  const AttentionOptions o = AttentionOptions::make(0.5);
  expect_error([&] { attention(t({1, 6, 4, 8}), t({1, 4, 4, 8}), t({1, 4, 4, 8}), o); },
               {"attention", "q [1, 6, 4, 8]", "k [1, 4, 4, 8]", "not a multiple of 4 kv heads"});
  expect_error([&] { attention(t({1, 2, 4, 8}), t({1, 2, 4, 7}), t({1, 2, 4, 8}), o); },
               {"attention", "[1, 2, 4, 7]", "head dims differ"});
  expect_error([&] { attention(t({2, 4, 8}), t({1, 2, 4, 8}), t({1, 2, 4, 8}), o); },
               {"attention", "q [2, 4, 8]", "rank 4"});
  expect_error([&] { attention(t({1, 2, 4, 8}), t({1, 2, 4, 8}), t({1, 2, 4, 8}), AttentionOptions::make(0.5, true, -1, {0.5f})); },
               {"attention", "1 ALiBi slopes", "one per query head (2)"});
  expect_error([&] { attention(t({1, 2, 4, 8}), t({2, 2, 4, 8}), t({2, 2, 4, 8}), o); },
               {"attention", "batch sizes differ"});
  expect_error([&] { attention(t({1, 2, 4, 8}), t({1, 2, 4, 8}), t({1, 2, 5, 8}), o); },
               {"attention", "v [1, 2, 5, 8]", "same kv heads and length"});
  expect_error([&] { attention(t({1, 2, 4, 8}), t({1, 2, 4, 8}, DType::F64), t({1, 2, 4, 8}), o); },
               {"attention", "dtypes differ", "float64"});
  expect_error([&] { attention(t({1, 2, 4, 8}, DType::I32), t({1, 2, 4, 8}, DType::I32), t({1, 2, 4, 8}, DType::I32), o); },
               {"attention", "expected float32 or float64", "int32"});
  expect_error([&] { attention(t({1, 2, 9, 8}), t({1, 2, 4, 8}), t({1, 2, 4, 8}), o); },
               {"attention", "Tq <= Tk"});
  expect_error([&] { attention(t({1, 2, 4, 8}), t({1, 2, 4, 8}), t({1, 2, 4, 8}), AttentionOptions::make(0.5, true, -1, {}, -3)); },
               {"attention", "window must be >= 0"});
  expect_error([&] { attention(t({1, 2, 4, 8}), t({1, 2, 4, 8}), t({1, 2, 4, 8}), AttentionOptions::make(0.5, true, -2)); },
               {"attention", "q_offset"});
  expect_error([&] { attention_reference(t({1, 3, 4, 8}), t({1, 2, 4, 8}), t({1, 2, 4, 8}), o); },
               {"attention_reference", "not a multiple"});
}

}  // namespace
}  // namespace attnlab::ops
