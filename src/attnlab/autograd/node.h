// The autograd graph. An op whose inputs require gradients records one Node: the edges
// to where each input's gradient goes, and a backward closure that holds the saved
// activations. backward() (engine.h) walks the nodes in reverse topological order and
// releases each closure as soon as it has run, so saved activations are freed as the
// backward pass goes.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "attnlab/core/tensor.h"

namespace attnlab::autograd {

class Node;

// Where the gradient of one input goes: into another node (the input was computed),
// into a leaf's gradient buffer, or nowhere (the input needs no gradient).
struct Edge {
  std::shared_ptr<Node> node;
  std::shared_ptr<AutogradMeta> leaf;
  Shape shape;
  DType dtype = DType::F32;
  bool needed() const { return node || leaf; }
};

// Maps the gradient of the output to one gradient per input, in input order. Entries
// for inputs that need no gradient may be left undefined.
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_out)>;

class Node {
 public:
  Node(std::string name, std::vector<Edge> edges, BackwardFn fn)
      : name_(std::move(name)), edges_(std::move(edges)), fn_(std::move(fn)) {}

  const std::string& name() const { return name_; }
  const std::vector<Edge>& edges() const { return edges_; }
  bool input_needs_grad(size_t i) const { return i < edges_.size() && edges_[i].needed(); }

  // Runs the backward closure once and frees it (and with it the saved activations).
  std::vector<Tensor> apply(const Tensor& grad_out);
  bool released() const { return !fn_; }

 private:
  std::string name_;
  std::vector<Edge> edges_;
  BackwardFn fn_;
};

// ---- grad mode: recording is on unless a NoGradGuard is alive on this thread ----
bool grad_enabled();
void set_grad_enabled(bool on);

class NoGradGuard {
 public:
  NoGradGuard() : previous_(grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// True when grad mode is on and any input requires a gradient.
bool should_record(const std::vector<Tensor>& inputs);

// Makes `out` the result of op `name` applied to `inputs`, with `fn` as its backward.
// Call only when should_record(inputs) is true.
void record(const char* name, const std::vector<Tensor>& inputs, Tensor& out, BackwardFn fn);

}  // namespace attnlab::autograd
