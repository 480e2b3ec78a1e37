// Parameters live in one flat float32 buffer and their gradients in another
// (DESIGN.md: one place to combine gradients across processes, one loop for the
// optimizer, one write for a checkpoint). Modules declare their parameters while they
// are built; allocate() then lays the buffers out in declaration order and hands each
// module a view.
//
// Initial values are a pure function of (seed, position in the flat buffer), so a model
// initialises identically whatever the thread count.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "attnlab/core/tensor.h"

namespace attnlab::model {

struct Init {
  enum class Kind { Normal, Uniform, Zeros, Ones, Constant, Values } kind = Kind::Normal;
  double a = 0.02;  // std (Normal), low (Uniform), value (Constant)
  double b = 0.0;   // high (Uniform)
  static Init normal(double std) { return {Kind::Normal, std, 0, nullptr}; }
  static Init uniform(double lo, double hi) { return {Kind::Uniform, lo, hi, nullptr}; }
  static Init zeros() { return {Kind::Zeros, 0, 0, nullptr}; }
  static Init ones() { return {Kind::Ones, 0, 0, nullptr}; }
  static Init constant(double v) { return {Kind::Constant, v, 0, nullptr}; }
  // Given values, one per element in row-major order (per-head decays, per-position factors).
  static Init values(std::vector<double> v) {
    Init i{Kind::Values, 0, 0, nullptr};
    i.given = std::make_shared<const std::vector<double>>(std::move(v));
    return i;
  }
  std::shared_ptr<const std::vector<double>> given;  // Values only
};

struct Param {
  std::string name;   // as in the checkpoint: "blocks.3.mixer.wq.weight"
  Shape shape;
  Init init;
  bool weight_decay = true;  // false for norms, biases, embeddings by default
  int64_t offset = 0;        // in the flat buffer, set by allocate()
  Tensor value;              // view into the flat buffer, requires_grad, after allocate()
  Tensor grad;               // view into the flat gradient buffer
};

class ParamStore {
 public:
  // Declares a parameter; its value exists after allocate().
  std::shared_ptr<Param> declare(const std::string& name, const Shape& shape, Init init,
                                 bool weight_decay = true);
  // Lays out both flat buffers and initialises every parameter from `seed`. Training
  // uses float32; float64 serves the reference forms and gradient checks in tests.
  void allocate(uint64_t seed, DType dtype = DType::F32);

  bool allocated() const { return values_.defined(); }
  int64_t numel() const { return total_; }
  const std::vector<std::shared_ptr<Param>>& params() const { return params_; }
  const Param* find(const std::string& name) const;
  DType dtype() const { return values_.dtype(); }
  Tensor& values() { return values_; }   // [numel]
  Tensor& grads() { return grads_; }     // [numel]
  void zero_grads() { grads_.zero(); }

 private:
  std::vector<std::shared_ptr<Param>> params_;
  int64_t total_ = 0;
  Tensor values_, grads_;
};

}  // namespace attnlab::model
