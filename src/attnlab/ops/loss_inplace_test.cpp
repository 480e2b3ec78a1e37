// cross_entropy's backward reuses the logits' memory for their gradient when nothing else
// holds them (a model's head output): the gradients are the same as when the logits are
// kept alive (the ordinary path), the peak memory of the backward is one [N, V] buffer
// lower, and a second backward through the same graph (which would read the overwritten
// logits) is the engine's error.
#include <gtest/gtest.h>

#include "attnlab/core/rng.h"
#include "attnlab/core/storage.h"
#include "attnlab/ops/loss.h"
#include "attnlab/ops/matmul.h"
#include "harness/assert_close.h"

namespace attnlab::ops {
namespace {

struct Grads {
  Tensor dh, dw;
  size_t backward_peak;  // allocator high-water mark during backward, above its start
};

// loss = cross_entropy(h @ w, targets); with keep_logits the caller holds the logits.
Grads run(DType dtype, bool keep_logits, bool per_token) {
  const int64_t N = 67, C = 9, V = 1031;  // [N, V] logits: 270 KiB in float32, a cached block
  Rng rng(4);
  Tensor h = Tensor::randn({N, C}, rng, dtype).set_requires_grad(true);
  Tensor w = Tensor::randn({C, V}, rng, dtype).set_requires_grad(true);
  std::vector<int32_t> t(static_cast<size_t>(N));
  for (auto& v : t) v = int32_t(rng.next_below(uint64_t(V)));
  t[3] = -100;  // an ignored row gets zero gradient on both paths
  Tensor targets = Tensor::from_vector(t, {N});
  Tensor loss;
  Tensor kept;
  {
    Tensor logits = matmul(h, w);
    loss = per_token ? cross_entropy_per_token(logits, targets) : cross_entropy(logits, targets);
    if (keep_logits) kept = logits;
  }
  Rng srng(8);
  Tensor seed = per_token ? Tensor::randn({N}, srng, dtype) : Tensor();
  allocator_reset_peak();
  size_t base = allocator_stats().bytes_in_use;
  loss.backward(seed);
  return {h.grad(), w.grad(), allocator_stats().peak_bytes_in_use - base};
}

TEST(CrossEntropyInPlace, SameGradientsAsWithTheLogitsKeptAndLessMemory) {
  for (DType dtype : {DType::F32, DType::F64}) {
    for (bool per_token : {false, true}) {
      Grads ordinary = run(dtype, true, per_token), reused = run(dtype, false, per_token);
      std::string where = std::string(dtype_name(dtype)) + (per_token ? " per token" : " mean");
      EXPECT_CLOSE("d h " + where, ordinary.dh, reused.dh, 0.0);
      EXPECT_CLOSE("d w " + where, ordinary.dw, reused.dw, 0.0);
      const size_t logits_bytes = size_t(67 * 1031) * dtype_size(dtype);
      EXPECT_LE(reused.backward_peak + logits_bytes, ordinary.backward_peak) << where;
    }
  }
}

TEST(CrossEntropyInPlace, ASecondBackwardIsAnErrorThatSaysWhy) {
  Rng rng(2);
  Tensor h = Tensor::randn({5, 3}, rng).set_requires_grad(true);
  Tensor w = Tensor::randn({3, 11}, rng);
  Tensor loss = cross_entropy(matmul(h, w), Tensor::from_vector(std::vector<int32_t>{1, 2, 3, 4, 5}, {5}));
  loss.backward();
  try {
    loss.backward();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("through 'cross_entropy' a second time"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace attnlab::ops
