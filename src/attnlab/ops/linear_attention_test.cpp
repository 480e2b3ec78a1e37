// Decayed linear attention: the chunkwise and recurrent kernels against the explicit T x T
// reference in float64 (values, the final state and every gradient, d log gamma and the
// initial state's included) at odd lengths and chunk remainders, in float32 and float64;
// state continuation; long-sequence numerics; bad input.
#include <gtest/gtest.h>

#include <cmath>

#include "attnlab/autograd/engine.h"
#include "attnlab/autograd/node.h"
#include "attnlab/ops/ops.h"
#include "harness/assert_close.h"

namespace attnlab::ops {
namespace {

using testing::error_of;

struct Problem {
  int64_t B, H, T, Dk, Dv;
};

// Inputs drawn in float64; log gamma spans a slow and a fast decay (gamma 0.999 .. 0.8).
std::vector<Tensor> make_inputs(const Problem& p, uint64_t seed) {
  Rng rng(seed);
  std::vector<Tensor> x{Tensor::randn({p.B, p.H, p.T, p.Dk}, rng, DType::F64, 0.5),
                        Tensor::randn({p.B, p.H, p.T, p.Dk}, rng, DType::F64, 0.5),
                        Tensor::randn({p.B, p.H, p.T, p.Dv}, rng, DType::F64)};
  std::vector<double> lg;
  for (int64_t h = 0; h < p.H; ++h)
    lg.push_back(std::log(0.999) + (std::log(0.8) - std::log(0.999)) * double(h) / double(std::max<int64_t>(p.H - 1, 1)));
  x.push_back(Tensor::from_vector(lg, {p.H}));
  x.push_back(Tensor::randn({p.B, p.H, p.Dk, p.Dv}, rng, DType::F64));
  return x;
}

struct Result {
  Tensor o;
  std::vector<Tensor> grads;  // q, k, v, log gamma, s0
};

// Runs f on copies of `in` in `dt` that require grad, back-propagates sum(o * w).
template <class F>
Result run(const std::vector<Tensor>& in, DType dt, bool with_state, const Tensor& w, F f) {
  std::vector<Tensor> x;
  for (const Tensor& t : in) x.push_back(t.to(dt).clone().set_requires_grad(true));
  Tensor o = f(x[0], x[1], x[2], x[3], with_state ? x[4] : Tensor());
  autograd::backward(sum(mul(o, w.to(dt))));
  Result r{o.detach(), {}};
  for (size_t i = 0; i < (with_state ? 5u : 4u); ++i) r.grads.push_back(x[i].grad());
  return r;
}

const char* kNames[] = {"dq", "dk", "dv", "dlog_gamma", "ds0"};

TEST(DecayedLinearAttention, FormsMatchTheReferenceOnValuesAndGradientsAtOddLengths) {
  for (int64_t T : {int64_t(1), int64_t(63), int64_t(127), int64_t(1000)}) {
    Problem p{T >= 1000 ? 1 : 2, 3, T, 5, 4};
    auto in = make_inputs(p, 7 + uint64_t(T));
    Rng rng(99);
    Tensor w = Tensor::randn({p.B, p.H, p.T, p.Dv}, rng, DType::F64);
    for (bool with_state : {false, true}) {
      Result ref = run(in, DType::F64, with_state, w, [](auto q, auto k, auto v, auto lg, auto s0) {
        return decayed_linear_attention_reference(q, k, v, lg, s0);
      });
      for (DType dt : {DType::F32, DType::F64}) {
        const double tol = dt == DType::F32 ? 1e-4 : 1e-10;
        // Chunk 16 leaves remainders at 63, 127 and 1000; 64 at 127 and 1000; 1 is the recurrence.
        for (auto opt : {DecayedLinearOptions::make(16), DecayedLinearOptions::make(64),
                         DecayedLinearOptions::make(1), DecayedLinearOptions::make(64, true)}) {
          std::string what = cat(dtype_name(dt), " T=", T, " chunk=", opt.chunk, opt.recurrent ? " recurrent" : "",
                                 with_state ? " with s0" : "");
          Result got = run(in, dt, with_state, w, [&](auto q, auto k, auto v, auto lg, auto s0) {
            return decayed_linear_attention(q, k, v, lg, s0, opt);
          });
          EXPECT_CLOSE("o " + what, ref.o, got.o, tol);
          for (size_t i = 0; i < ref.grads.size(); ++i)
            EXPECT_CLOSE(kNames[i] + (" " + what), ref.grads[i], got.grads[i], tol);
        }
      }
    }
  }
}

TEST(DecayedLinearAttention, FinalStateMatchesTheComposedStateAndContinuesTheSequence) {
  autograd::NoGradGuard no_grad;
  Problem p{2, 3, 101, 4, 3};
  auto in = make_inputs(p, 5);
  for (bool recurrent : {false, true}) {
    auto opt = DecayedLinearOptions::make(16, recurrent);
    Tensor s_whole;
    Tensor whole = decayed_linear_attention(in[0], in[1], in[2], in[3], in[4], opt, &s_whole);
    EXPECT_CLOSE("state vs composed", decayed_linear_state(in[1], in[2], in[3], in[4]), s_whole, 1e-12);
    // 37 tokens, then the remaining 64 from the state the first call left.
    auto part = [&](const Tensor& t, int64_t a, int64_t b) { return t.slice_raw(2, a, b).contiguous(); };
    Tensor s_mid, s_end;
    Tensor first = decayed_linear_attention(part(in[0], 0, 37), part(in[1], 0, 37), part(in[2], 0, 37), in[3], in[4],
                                            opt, &s_mid);
    Tensor second = decayed_linear_attention(part(in[0], 37, 101), part(in[1], 37, 101), part(in[2], 37, 101), in[3],
                                             s_mid, opt, &s_end);
    EXPECT_CLOSE("first part", part(whole, 0, 37), first, 1e-12);
    EXPECT_CLOSE("second part", part(whole, 37, 101), second, 1e-12);
    EXPECT_CLOSE("final state", s_whole, s_end, 1e-12);
  }
}

TEST(DecayedLinearAttention, NormalisedFormDividesByTheDecayedKeySum) {
  Problem p{1, 2, 45, 3, 2};
  Rng rng(3);
  Tensor q = Tensor::uniform({1, 2, 45, 3}, rng, 0.1, 1.0, DType::F64);
  Tensor k = Tensor::uniform({1, 2, 45, 3}, rng, 0.1, 1.0, DType::F64);
  Tensor v = Tensor::randn({1, 2, 45, 2}, rng, DType::F64);
  Tensor lg = Tensor::from_vector(std::vector<double>{std::log(0.9), std::log(0.5)}, {2});
  Tensor got = decayed_linear_attention_normalized(q, k, v, lg, Tensor(), 0.0, DecayedLinearOptions::make(8));
  Tensor num = decayed_linear_attention_reference(q, k, v, lg, Tensor());
  Tensor den = decayed_linear_attention_reference(q, k, Tensor::full({1, 2, 45, 1}, 1.0, DType::F64), lg, Tensor());
  EXPECT_CLOSE("normalised", div(num, den), got, 1e-12);
  (void)p;
}

// Convention 7: at 50,000 tokens with a slow and a fast head, float32 stays finite and the
// chunkwise form equals the recurrence (float64) at the last tokens.
TEST(DecayedLinearAttention, LongSequenceStaysFiniteAndChunkwiseEqualsRecurrent) {
  autograd::NoGradGuard no_grad;
  Problem p{1, 2, 50000, 4, 4};
  auto in = make_inputs(p, 11);
  std::vector<Tensor> x32;
  for (const Tensor& t : in) x32.push_back(t.to(DType::F32));
  Tensor chunked = decayed_linear_attention(x32[0], x32[1], x32[2], x32[3], Tensor(), DecayedLinearOptions::make(64));
  Tensor recurrent = decayed_linear_attention(in[0], in[1], in[2], in[3], Tensor(), DecayedLinearOptions::make(64, true));
  for (double y : chunked.to_vector()) ASSERT_TRUE(std::isfinite(y));
  EXPECT_CLOSE("last 100 tokens", recurrent.slice_raw(2, p.T - 100, p.T), chunked.slice_raw(2, p.T - 100, p.T), 1e-4);
}

TEST(DecayedLinearAttention, BadInputIsOneClearError) {
  Problem p{1, 2, 5, 3, 2};
  auto in = make_inputs(p, 1);
  Tensor bad_lg = Tensor::from_vector(std::vector<double>{-0.1, 0.2}, {2});
  EXPECT_NE(error_of([&] { decayed_linear_attention(in[0], in[1], in[2], bad_lg, Tensor()); })
                .find("log_gamma[1] = 0.2 must be <= 0"),
            std::string::npos);
  EXPECT_NE(error_of([&] { decayed_linear_attention(in[0], in[1], in[2], in[3].slice_raw(0, 0, 1), Tensor()); })
                .find("log_gamma must be [H] = [2]"),
            std::string::npos);
  EXPECT_NE(error_of([&] { decayed_linear_attention(in[0], in[2], in[2], in[3], Tensor()); }).find("shapes do not fit"),
            std::string::npos);
  EXPECT_NE(error_of([&] { decayed_linear_attention(in[0], in[1], in[2], in[3], in[0]); }).find("initial state must be"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              decayed_linear_attention(in[0], in[1], in[2], in[3], Tensor(), DecayedLinearOptions::make(0));
            }).find("chunk must be >= 1"),
            std::string::npos);
}

}  // namespace
}  // namespace attnlab::ops
