#include "attnlab/ops/dct.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <thread>

#include "attnlab/core/parallel.h"
#include "harness/assert_close.h"

namespace attnlab::ops {
namespace {

using ::attnlab::testing::error_of;

constexpr int64_t kLengths[] = {1, 2, 3, 63, 127, 1000};
constexpr double kPi = 3.14159265358979323846;

// ---- the reference: the O(N^2) definition in double ----
// cos(pi (2n+1) k / (2N)) is looked up by (2n+1) k mod 4N, so large N loses no accuracy
// to large cosine arguments.
std::vector<double> dct_ref(const std::vector<double>& x, const Shape& shape, int64_t d, bool inverse) {
  int64_t N = shape[size_t(d)], outer = 1, inner = 1;
  for (int64_t j = 0; j < d; ++j) outer *= shape[size_t(j)];
  for (size_t j = size_t(d) + 1; j < shape.size(); ++j) inner *= shape[j];
  std::vector<double> cos_table(size_t(4 * N));
  for (int64_t m = 0; m < 4 * N; ++m) cos_table[size_t(m)] = std::cos(kPi * double(m) / double(2 * N));
  const double s0 = std::sqrt(1.0 / double(N)), sk = std::sqrt(2.0 / double(N));
  auto s = [=](int64_t k) { return k == 0 ? s0 : sk; };
  std::vector<double> y(x.size(), 0.0);
  for (int64_t a = 0; a < outer; ++a)
    for (int64_t i = 0; i < inner; ++i) {
      auto at = [&](int64_t n) { return size_t((a * N + n) * inner + i); };
      for (int64_t out = 0; out < N; ++out) {
        double acc = 0;
        for (int64_t in = 0; in < N; ++in) {
          // forward: out = k, in = n; inverse: out = n, in = k.
          int64_t n = inverse ? out : in, k = inverse ? in : out;
          acc += (inverse ? s(k) : 1.0) * x[at(in)] * cos_table[size_t(((2 * n + 1) * k) % (4 * N))];
        }
        y[at(out)] = inverse ? acc : s(out) * acc;
      }
    }
  return y;
}

Tensor ref_tensor(const Tensor& x, int64_t d, bool inverse) {
  if (d < 0) d += x.dim();
  return Tensor::from_vector(dct_ref(x.to_vector(), x.shape(), d, inverse), x.shape());
}

double tol_of(DType dt) { return dt == DType::F64 ? 1e-12 : 1e-6; }

double norm(const Tensor& t) {
  double s = 0;
  for (double v : t.to_vector()) s += v * v;
  return std::sqrt(s);
}

// dct and idct against the definition, their round trip, and norm preservation.
void check_transforms(const Tensor& x, int64_t d) {
  SCOPED_TRACE(cat(shape_str(x.shape()), " dim ", d, " ", dtype_name(x.dtype())));
  double tol = tol_of(x.dtype());
  Tensor y = dct(x, d), z = idct(x, d);
  EXPECT_CLOSE("dct", ref_tensor(x, d, false), y, tol);
  EXPECT_CLOSE("idct", ref_tensor(x, d, true), z, tol);
  EXPECT_CLOSE("idct(dct(x))", x, idct(y, d), tol);
  EXPECT_CLOSE("dct(idct(x))", x, dct(z, d), tol);
  EXPECT_NEAR(norm(y), norm(x), tol * norm(x));
  EXPECT_NEAR(norm(z), norm(x), tol * norm(x));
}

class DctLengths : public ::testing::TestWithParam<int64_t> {};

TEST_P(DctLengths, LastDimensionMatchesDefinition) {
  int64_t N = GetParam();
  for (DType dt : {DType::F32, DType::F64}) {
    Rng rng{uint64_t(N)};
    check_transforms(Tensor::randn({3, N}, rng, dt), 1);
    check_transforms(Tensor::randn({N}, rng, dt), -1);
  }
}

TEST_P(DctLengths, MiddleAndFirstDimensionMatchDefinition) {
  int64_t N = GetParam();
  for (DType dt : {DType::F32, DType::F64}) {
    Rng rng(uint64_t(N) + 100);
    check_transforms(Tensor::randn({2, N, 5}, rng, dt), 1);
    check_transforms(Tensor::randn({N, 3}, rng, dt), 0);
    check_transforms(Tensor::randn({2, 3, N, 2}, rng, dt), -2);
  }
}

TEST_P(DctLengths, GradientIsTheTransposeInFloat32) {
  int64_t N = GetParam();
  Rng rng(uint64_t(N) + 200);
  Tensor x = Tensor::randn({2, N, 3}, rng).set_requires_grad(true);
  Tensor g = Tensor::randn({2, N, 3}, rng);
  dct(x, 1).backward(g);
  EXPECT_CLOSE("dct backward", ref_tensor(g, 1, true), x.grad(), tol_of(DType::F32));
  Tensor x2 = Tensor::randn({3, N}, rng).set_requires_grad(true);
  Tensor g2 = Tensor::randn({3, N}, rng);
  idct(x2, -1).backward(g2);
  EXPECT_CLOSE("idct backward", ref_tensor(g2, 1, false), x2.grad(), tol_of(DType::F32));
}

INSTANTIATE_TEST_SUITE_P(Lengths, DctLengths, ::testing::ValuesIn(kLengths));

TEST(Dct, StridedAndUnalignedInputs) {
  for (DType dt : {DType::F32, DType::F64}) {
    Rng rng(9);
    // The transposed layout: transforms run across the storage's rows.
    Tensor xt = Tensor::randn({63, 8}, rng, dt).transpose_raw(0, 1);
    check_transforms(xt, 1);
    check_transforms(xt, 0);
    // A slice starting one element in: pointers FFTW sees are not SIMD-aligned.
    check_transforms(Tensor::randn({5, 129}, rng, dt).slice_raw(1, 1, 128), 1);
    check_transforms(Tensor::randn({4, 65}, rng, dt).slice_raw(0, 1, 4), 1);
    // Three loops that do not fold into two: packed first.
    Tensor p = Tensor::randn({5, 3, 4, 2}, rng, dt).transpose_raw(0, 3);
    check_transforms(p, 1);
  }
}

TEST(Dct, LargeBatchSpansManyChunks) {
  // More transforms than one FFTW execution takes, with a partial last chunk.
  for (DType dt : {DType::F32, DType::F64}) {
    Rng rng(12);
    check_transforms(Tensor::randn({1000, 63}, rng, dt), 1);
    check_transforms(Tensor::randn({63, 1000}, rng, dt), 0);
  }
}

TEST(Dct, RepeatedCallsDoNotReplan) {
  Rng rng(4);
  for (DType dt : {DType::F32, DType::F64}) {
    Tensor x = Tensor::randn({300, 77}, rng, dt), xm = Tensor::randn({4, 77, 33}, rng, dt);
    auto all = [&] {
      dct(x, 1);
      idct(x, 1);
      dct(xm, 1);
      idct(xm, 1);
    };
    all();
    size_t after_first = dct_plans_created();
    for (int i = 0; i < 3; ++i) all();
    Tensor fresh = Tensor::randn({300, 77}, rng, dt);  // new arrays, same layout
    dct(fresh, 1);
    EXPECT_EQ(dct_plans_created(), after_first);
  }
}

TEST(Dct, ConcurrentCallersShareThePlanCache) {
  // The planner is not thread-safe; callers on several threads must still get plans.
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([i, &ok] {
      Rng rng(uint64_t(50 + i));
      Tensor x = Tensor::randn({7, 40 + i}, rng, DType::F64);
      Tensor back = idct(dct(x, 1), 1);
      ok[size_t(i)] = compare(x, back).close(1e-12);
    });
  for (auto& t : threads) t.join();
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(ok[size_t(i)]) << "thread " << i;
}

TEST(Dct, BitwiseSameForAnyThreadCount) {
  int saved = num_threads();
  auto run = [](int threads) {
    set_num_threads(threads);
    Rng rng(21);
    std::vector<std::vector<double>> out;
    for (Tensor x : {Tensor::randn({513, 64}, rng), Tensor::randn({64, 513}, rng)}) {
      x.set_requires_grad(true);
      Tensor y = dct(x, 0);
      y.backward(Tensor::randn(y.shape(), rng));
      out.push_back(y.to_vector());
      out.push_back(x.grad().to_vector());
      out.push_back(idct(x.detach(), 1).to_vector());
    }
    return out;
  };
  auto one = run(1), two = run(2);
  set_num_threads(saved);
  ASSERT_EQ(one.size(), two.size());
  for (size_t i = 0; i < one.size(); ++i)
    EXPECT_EQ(0, std::memcmp(one[i].data(), two[i].data(), one[i].size() * sizeof(double))) << "tensor " << i;
}

TEST(Dct, EmptyBatchGivesEmptyResult) {
  Tensor x = Tensor::zeros({0, 5});
  EXPECT_EQ(dct(x, 1).shape(), (Shape{0, 5}));
  EXPECT_EQ(idct(x, 1).shape(), (Shape{0, 5}));
}

TEST(Dct, BadInputsGiveOneClearError) {
  Rng rng(1);
  struct Bad {
    std::function<void()> f;
    const char* expect;
  };
  const Bad bad[] = {
      {[] { dct(Tensor::zeros({3, 4}, DType::I32), 1); }, "dct: expected a float32 or float64 tensor, got int32"},
      {[&] { dct(Tensor::randn({3, 4}, rng), 2); }, "dct: dimension 2 is out of range"},
      {[&] { idct(Tensor::randn({3, 4}, rng), -3); }, "idct: dimension -3 is out of range"},
      {[] { dct(Tensor::zeros({3, 0}), 1); }, "dct: dimension 1 of [3, 0] is empty"},
      {[] { idct(Tensor::zeros({0, 3}), 0); }, "idct: dimension 0 of [0, 3] is empty"},
  };
  for (const Bad& c : bad) {
    std::string msg = error_of(c.f);
    EXPECT_NE(msg.find(c.expect), std::string::npos) << "got: " << msg << "\nexpected to contain: " << c.expect;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace attnlab::ops
