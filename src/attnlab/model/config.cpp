#include "attnlab/model/config.h"

#include "attnlab/core/error.h"

namespace attnlab::model {

int64_t ModelConfig::ff_dim() const {
  if (d_ff > 0) return d_ff;
  if (mlp == "gelu") return 4 * d_model;
  return (8 * d_model / 3 + 31) / 32 * 32;
}

void ModelConfig::validate() const {
  ATTNLAB_CHECK(vocab_size > 0, "model.vocab_size is not set (it comes from the training data's tokenizer)");
  config::validate_config(*this, "model config");
}

std::unique_ptr<mixers::Mixer> make_mixer(const MixerConfig& cfg, const mixers::MixerContext& ctx) {
  return mixers::find_mixer(cfg.name).build(*cfg.options, ctx);
}

}  // namespace attnlab::model
