#include "attnlab/autograd/checkpoint.h"

#include "attnlab/autograd/engine.h"
#include "attnlab/autograd/node.h"

namespace attnlab::autograd {

namespace {
// Turns grad mode on for a scope (the engine runs backward closures with it off).
class GradOnGuard {
 public:
  GradOnGuard() : previous_(grad_enabled()) { set_grad_enabled(true); }
  ~GradOnGuard() { set_grad_enabled(previous_); }
  GradOnGuard(const GradOnGuard&) = delete;
  GradOnGuard& operator=(const GradOnGuard&) = delete;

 private:
  bool previous_;
};
}  // namespace

Tensor checkpoint(const char* name, const CheckpointFn& fn, const std::vector<Tensor>& inputs) {
  Tensor out;
  {
    NoGradGuard no_grad;
    out = fn(inputs);
  }
  if (!should_record(inputs)) return out;
  std::vector<Tensor> saved;
  std::vector<bool> wants_grad;
  for (const Tensor& t : inputs) {
    saved.push_back(t.defined() ? t.detach() : Tensor());
    wants_grad.push_back(t.defined() && t.requires_grad());
  }
  out = out.detach();
  record(name, inputs, out, [fn, saved, wants_grad](const Tensor& g) {
    std::vector<Tensor> leaves;
    for (size_t i = 0; i < saved.size(); ++i) {
      Tensor leaf = saved[i].defined() ? saved[i].detach() : Tensor();
      if (wants_grad[i]) leaf.set_requires_grad(true);
      leaves.push_back(leaf);
    }
    GradOnGuard grad_on;
    Tensor again = fn(leaves);
    if (again.requires_grad()) backward(again, g);
    std::vector<Tensor> grads;
    for (size_t i = 0; i < leaves.size(); ++i)
      grads.push_back(wants_grad[i] ? leaves[i].grad() : Tensor());
    return grads;
  });
  return out;
}

}  // namespace attnlab::autograd
