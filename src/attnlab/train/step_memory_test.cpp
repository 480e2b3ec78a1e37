// The training step allocates nothing new once warm (DESIGN.md convention 10; first touch
// of fresh pages is slow on our machines, specs/machine.md #5): after the first steps every
// large block a step needs comes from the caching allocator, the step returns all it
// took, and the high-water mark stops growing. Checked with the allocator's counters on
// the trainer's step (forward, cross-entropy, backward, clipping, AdamW) for both MLP and
// norm kinds.
#include <gtest/gtest.h>

#include "attnlab/core/rng.h"
#include "attnlab/core/storage.h"
#include "attnlab/io/config_schema.h"
#include "attnlab/model/lm.h"
#include "attnlab/train/adamw.h"

namespace attnlab::train {
namespace {

Tensor tokens(int64_t B, int64_t T, int64_t V, uint64_t seed) {
  Rng rng(seed);
  std::vector<int32_t> ids(static_cast<size_t>(B * T));
  for (auto& id : ids) id = int32_t(rng.next_below(uint64_t(V)));
  return Tensor::from_vector(ids, {B, T});
}

TEST(TrainingStep, TakesNoFreshLargeBlocksOnceWarm) {
  for (const char* mlp : {"swiglu", "gelu"}) {
    const std::string norm = std::string(mlp) == "gelu" ? "layer" : "rms";
    // Logits [4 * 128, 700] and the MLP's hidden activations [512, 256 or 192] are above
    // the allocator's 256 KiB caching threshold, so the step exercises the cached path.
    std::string toml = std::string("vocab_size = 700\nd_model = 64\nn_layers = 2\nmlp = \"") + mlp +
                       "\"\nnorm = \"" + norm + "\"\n[mixer]\nname = \"softmax\"\nheads = 4\n";
    auto cfg = config::parse_config_text<model::ModelConfig>(toml, "step_memory_test");
    model::LanguageModel model(cfg, 3);
    AdamW opt(model.params(), AdamWParams{});
    Tensor x = tokens(4, 128, 700, 1), y = tokens(4, 128, 700, 2);
    auto step = [&] {
      model.params().zero_grads();
      Tensor loss = model.loss(x, y);
      loss.backward();
      clip_grad_norm(model.params(), 1.0);
      opt.step(1e-3);
    };
    step();
    step();
    const AllocatorStats warm = allocator_stats();
    allocator_reset_peak();
    const size_t peak_after_warmup = [&] {
      step();
      return allocator_stats().peak_bytes_in_use;
    }();
    for (int s = 0; s < 3; ++s) step();
    const AllocatorStats after = allocator_stats();
    EXPECT_EQ(after.fresh_large_allocations, warm.fresh_large_allocations) << mlp;
    // At least the logits and the MLP's hidden activations come from the cache in each of
    // the 4 steps.
    EXPECT_GE(after.reused_allocations, warm.reused_allocations + 4 * 3) << mlp << ": too few cached blocks reused";
    EXPECT_EQ(after.bytes_in_use, warm.bytes_in_use) << mlp << ": a step keeps memory it took";
    EXPECT_EQ(after.peak_bytes_in_use, peak_after_warmup) << mlp << ": the high-water mark still grows";
    EXPECT_GT(peak_after_warmup, warm.bytes_in_use) << mlp;
  }
}

}  // namespace
}  // namespace attnlab::train
