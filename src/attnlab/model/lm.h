// The one language model class (DESIGN.md convention 6): every mixer plugs into it.
//
//   tokens [B, T] -> x = embed(tokens)                        [B, T, C]
//   each block:   x = x + mixer(norm1(x));  x = x + mlp(norm2(x))
//   logits = head(norm(x))                                    [B, T, V]
//
// Initialisation (GPT-2 / LLaMA style small models): embeddings and every projection
// N(0, 0.02); projections that write into the residual stream (the mixer's output and
// the MLP's down projection) N(0, 0.02 / sqrt(2 * layers)); norm gains 1, biases 0.
// The head is tied to the embedding unless model.tie_embeddings = false.
#pragma once
#include <memory>
#include <vector>

#include "attnlab/mixers/mixer.h"
#include "attnlab/model/config.h"
#include "attnlab/model/params.h"

namespace attnlab::model {

// What decoding carries between calls: one mixer state per layer.
struct DecodeState {
  std::vector<std::unique_ptr<mixers::MixerState>> layers;
  int64_t length() const { return layers.empty() ? 0 : layers[0]->length(); }
  size_t bytes() const;
};

class LanguageModel {
 public:
  // Declares and initialises every parameter from `seed`. Training uses float32; float64
  // serves golden parity (tests/golden/), reference runs and finite-difference checks.
  LanguageModel(const ModelConfig& cfg, uint64_t seed, DType dtype = DType::F32);

  const ModelConfig& config() const { return cfg_; }
  ParamStore& params() { return params_; }
  const ParamStore& params() const { return params_; }

  // tokens int32 [B, T] -> logits [B, T, V]. With a state, tokens continue the sequence it holds.
  Tensor forward(const Tensor& tokens, mixers::Form form = mixers::Form::Parallel,
                 DecodeState* state = nullptr);
  // The trunk without the head: the final normed states [B, T, C] (for task heads such as
  // lra/classifier.h). forward() is head(hidden()).
  Tensor hidden(const Tensor& tokens, mixers::Form form = mixers::Form::Parallel, DecodeState* state = nullptr);
  // Mean cross-entropy of next-token targets int32 [B, T] (ignore_index -100).
  Tensor loss(const Tensor& tokens, const Tensor& targets, mixers::Form form = mixers::Form::Parallel);

  DecodeState make_state() const;

 private:
  struct Block {
    std::shared_ptr<Param> norm1_w, norm1_b, norm2_w, norm2_b;
    std::unique_ptr<mixers::Mixer> mixer;
    std::shared_ptr<Param> mlp_in, mlp_gate, mlp_out;  // mlp_gate only for SwiGLU
  };
  Tensor norm(const Tensor& x, const std::shared_ptr<Param>& w, const std::shared_ptr<Param>& b) const;
  Tensor mlp(const Block& blk, const Tensor& x) const;

  ModelConfig cfg_;
  ParamStore params_;
  std::shared_ptr<Param> embed_, head_, norm_w_, norm_b_;
  std::vector<Block> blocks_;
};

}  // namespace attnlab::model
