#include "attnlab/model/lm.h"

#include <cmath>

#include "attnlab/model/config.h"
#include "attnlab/ops/ops.h"

namespace attnlab::model {

size_t DecodeState::bytes() const {
  size_t b = 0;
  for (const auto& s : layers) b += s->bytes();
  return b;
}

LanguageModel::LanguageModel(const ModelConfig& cfg, uint64_t seed, DType dtype) : cfg_(cfg) {
  cfg_.validate();
  const int64_t C = cfg_.d_model, V = cfg_.vocab_size, F = cfg_.ff_dim();
  const bool layer_norm = cfg_.norm == "layer";
  const double std_out = 0.02 / std::sqrt(2.0 * double(cfg_.n_layers));
  embed_ = params_.declare("embed.weight", {V, C}, Init::normal(0.02), false);
  for (int64_t l = 0; l < cfg_.n_layers; ++l) {
    std::string p = "blocks." + std::to_string(l) + ".";
    Block blk;
    blk.norm1_w = params_.declare(p + "norm1.weight", {C}, Init::ones(), false);
    if (layer_norm) blk.norm1_b = params_.declare(p + "norm1.bias", {C}, Init::zeros(), false);
    mixers::MixerContext ctx{C, l, cfg_.n_layers, p + "mixer.", &params_};
    blk.mixer = make_mixer(cfg_.mixer, ctx);
    blk.norm2_w = params_.declare(p + "norm2.weight", {C}, Init::ones(), false);
    if (layer_norm) blk.norm2_b = params_.declare(p + "norm2.bias", {C}, Init::zeros(), false);
    if (cfg_.mlp == "swiglu") blk.mlp_gate = params_.declare(p + "mlp.gate.weight", {F, C}, Init::normal(0.02));
    blk.mlp_in = params_.declare(p + "mlp.up.weight", {F, C}, Init::normal(0.02));
    blk.mlp_out = params_.declare(p + "mlp.down.weight", {C, F}, Init::normal(std_out));
    blocks_.push_back(std::move(blk));
  }
  norm_w_ = params_.declare("norm.weight", {C}, Init::ones(), false);
  if (layer_norm) norm_b_ = params_.declare("norm.bias", {C}, Init::zeros(), false);
  if (!cfg_.tie_embeddings) head_ = params_.declare("head.weight", {V, C}, Init::normal(0.02));
  params_.allocate(seed, dtype);
}

Tensor LanguageModel::norm(const Tensor& x, const std::shared_ptr<Param>& w,
                           const std::shared_ptr<Param>& b) const {
  if (cfg_.norm == "layer") return ops::layer_norm(x, w->value, b->value, cfg_.norm_eps);
  return ops::rms_norm(x, w->value, cfg_.norm_eps);
}

namespace {
Tensor linear(const Tensor& x, const std::shared_ptr<Param>& w) {
  return ops::matmul(x, ops::transpose(w->value, 0, 1));
}
}  // namespace

Tensor LanguageModel::mlp(const Block& blk, const Tensor& x) const {
  if (cfg_.mlp == "swiglu") return linear(ops::swiglu(linear(x, blk.mlp_gate), linear(x, blk.mlp_in)), blk.mlp_out);
  return linear(ops::gelu_tanh(linear(x, blk.mlp_in)), blk.mlp_out);
}

Tensor LanguageModel::forward(const Tensor& tokens, mixers::Form form, DecodeState* state) {
  return linear(hidden(tokens, form, state), head_ ? head_ : embed_);
}

Tensor LanguageModel::hidden(const Tensor& tokens, mixers::Form form, DecodeState* state) {
  ATTNLAB_CHECK(tokens.dim() == 2 && tokens.dtype() == DType::I32, "model: expected int32 tokens [B, T], got ",
                dtype_name(tokens.dtype()), " ", shape_str(tokens.shape()));
  if (state) {
    ATTNLAB_CHECK(int64_t(state->layers.size()) == cfg_.n_layers, "model: decode state has ",
                  state->layers.size(), " layers, the model ", cfg_.n_layers);
  }
  int64_t limit = cfg_.max_seq_len;
  int64_t total = tokens.size(1) + (state ? state->length() : 0);
  ATTNLAB_CHECK(limit == 0 || total <= limit, "model: a sequence of ", total,
                " tokens is longer than model.max_seq_len = ", limit);
  Tensor x = ops::embedding(tokens, embed_->value);
  for (size_t l = 0; l < blocks_.size(); ++l) {
    Block& blk = blocks_[l];
    mixers::MixerState* s = state ? state->layers[l].get() : nullptr;
    x = ops::add(x, blk.mixer->forward(norm(x, blk.norm1_w, blk.norm1_b), form, s));
    x = ops::add(x, mlp(blk, norm(x, blk.norm2_w, blk.norm2_b)));
  }
  return norm(x, norm_w_, norm_b_);
}

Tensor LanguageModel::loss(const Tensor& tokens, const Tensor& targets, mixers::Form form) {
  Tensor logits = forward(tokens, form);
  int64_t N = logits.size(0) * logits.size(1);
  return ops::cross_entropy(ops::reshape(logits, {N, cfg_.vocab_size}), targets.contiguous().view_raw({N}));
}

DecodeState LanguageModel::make_state() const {
  DecodeState s;
  for (const Block& blk : blocks_) s.layers.push_back(blk.mixer->make_state());
  return s;
}

}  // namespace attnlab::model
