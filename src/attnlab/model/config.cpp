#include "attnlab/model/config.h"

#include "attnlab/core/error.h"

namespace attnlab::model {

int64_t ModelConfig::ff_dim() const {
  if (d_ff > 0) return d_ff;
  if (mlp == "gelu") return 4 * d_model;
  return (8 * d_model / 3 + 31) / 32 * 32;
}

void ModelConfig::validate() const {
  ATTNLAB_CHECK(vocab_size > 0, "model.vocab_size must be positive, got ", vocab_size);
  ATTNLAB_CHECK(d_model > 0, "model.d_model must be positive, got ", d_model);
  ATTNLAB_CHECK(n_layers > 0, "model.n_layers must be positive, got ", n_layers);
  ATTNLAB_CHECK(d_ff >= 0, "model.d_ff must be >= 0, got ", d_ff);
  ATTNLAB_CHECK(norm == "rms" || norm == "layer", "model.norm = '", norm, "': expected rms or layer");
  ATTNLAB_CHECK(norm_eps > 0, "model.norm_eps must be positive, got ", norm_eps);
  ATTNLAB_CHECK(mlp == "swiglu" || mlp == "gelu", "model.mlp = '", mlp, "': expected swiglu or gelu");
  ATTNLAB_CHECK(max_seq_len >= 0, "model.max_seq_len must be >= 0, got ", max_seq_len);
}

}  // namespace attnlab::model
