#include "attnlab/autograd/engine.h"

#include <unordered_map>
#include <unordered_set>

#include "attnlab/core/parallel.h"

namespace attnlab::autograd {

namespace {
thread_local bool t_grad_enabled = true;
}

bool grad_enabled() { return t_grad_enabled; }
void set_grad_enabled(bool on) { t_grad_enabled = on; }

bool should_record(const std::vector<Tensor>& inputs) {
  if (!t_grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

void record(const char* name, const std::vector<Tensor>& inputs, Tensor& out, BackwardFn fn) {
  std::vector<Edge> edges;
  edges.reserve(inputs.size());
  for (const Tensor& t : inputs) {
    Edge e;
    if (t.defined()) {
      e.shape = t.shape();
      e.dtype = t.dtype();
      if (t.requires_grad()) {
        if (t.grad_fn()) e.node = t.grad_fn();
        else e.leaf = t.impl().autograd;
      }
    }
    edges.push_back(std::move(e));
  }
  ATTNLAB_CHECK(!out.grad_fn(), name, ": output already has a gradient function");
  out.autograd_meta().grad_fn = std::make_shared<Node>(name, std::move(edges), std::move(fn));
}

std::vector<Tensor> Node::apply(const Tensor& grad_out) {
  ATTNLAB_CHECK(fn_, "backward through '", name_,
                "' a second time: its saved values were freed by the first backward");
  std::vector<Tensor> grads = fn_(grad_out);
  fn_ = nullptr;  // frees the saved activations now, not at the end of the pass
  ATTNLAB_CHECK(grads.size() == edges_.size(), "backward of '", name_, "' returned ", grads.size(),
                " gradients for ", edges_.size(), " inputs");
  for (size_t i = 0; i < grads.size(); ++i) {
    if (!edges_[i].needed() || !grads[i].defined()) continue;
    ATTNLAB_CHECK(grads[i].shape() == edges_[i].shape, "backward of '", name_, "': gradient ", i,
                  " has shape ", shape_str(grads[i].shape()), ", its input has ",
                  shape_str(edges_[i].shape));
  }
  return grads;
}

void accumulate_into(Tensor& dst, const Tensor& src) {
  ATTNLAB_CHECK(dst.shape() == src.shape() && dst.dtype() == src.dtype() && dst.is_contiguous(),
                "gradient accumulation: ", shape_str(src.shape()), " into ", shape_str(dst.shape()));
  Tensor s = src.contiguous();
  dispatch_float(dst.dtype(), "accumulate", [&](auto tag) {
    using T = decltype(tag);
    T* d = dst.data<T>();
    const T* x = s.data<T>();
    parallel_for(0, dst.numel(), 1 << 15, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) d[i] += x[i];
    });
  });
}

namespace {

// Nodes reachable from `root`, ordered so every node comes before the nodes it feeds
// (i.e. reverse post-order of a depth-first search from the root). Iterative, since
// graphs of long unrolled recurrences are deep.
std::vector<Node*> topological_order(Node* root) {
  std::vector<Node*> post;
  std::unordered_set<Node*> seen{root};
  std::vector<std::pair<Node*, size_t>> stack{{root, 0}};
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    if (next < node->edges().size()) {
      Node* child = node->edges()[next++].node.get();
      if (child && seen.insert(child).second) stack.push_back({child, 0});
    } else {
      post.push_back(node);
      stack.pop_back();
    }
  }
  return {post.rbegin(), post.rend()};
}

// A fresh gradient that nothing else holds becomes the leaf's gradient as it is (as
// PyTorch's AccumulateGrad does); otherwise it is copied, so that later accumulation never
// writes into a tensor someone else reads. Taking it saves a copy of every parameter
// gradient per step, and the peak memory of the copy (issue 8's attention target).
void add_to_leaf(AutogradMeta& leaf, Tensor&& g) {
  if (!leaf.grad) {
    const bool take = g.is_sole_owner() && g.is_contiguous() && g.offset() == 0 && !g.requires_grad();
    leaf.grad = std::make_shared<Tensor>(take ? std::move(g) : g.clone());
  } else {
    accumulate_into(*leaf.grad, g.to(leaf.grad->dtype()));
  }
}

}  // namespace

void backward(const Tensor& root, const Tensor& seed) {
  ATTNLAB_CHECK(root.requires_grad(), "backward: the tensor does not require a gradient "
                "(no input of the computation had requires_grad set, or it ran under NoGradGuard)");
  Tensor g0 = seed;
  if (!g0.defined()) {
    ATTNLAB_CHECK(root.numel() == 1, "backward: a seed gradient is needed for a non-scalar of shape ",
                  shape_str(root.shape()));
    g0 = Tensor::full(root.shape(), 1.0, root.dtype());
  }
  ATTNLAB_CHECK(g0.shape() == root.shape(), "backward: seed of shape ", shape_str(g0.shape()),
                " for a tensor of shape ", shape_str(root.shape()));
  NoGradGuard no_grad;  // gradients are computed without recording a second graph
  if (!root.grad_fn()) {  // a leaf: its gradient is the seed
    add_to_leaf(*root.impl().autograd, g0.to(root.dtype()).clone());
    return;
  }
  std::vector<Node*> order = topological_order(root.grad_fn().get());
  std::unordered_map<Node*, Tensor> pending;
  pending[order.front()] = g0.to(root.dtype()).contiguous();
  for (Node* node : order) {
    auto it = pending.find(node);
    if (it == pending.end()) continue;  // no gradient flowed here
    Tensor grad_out = std::move(it->second);
    pending.erase(it);
    std::vector<Tensor> grads = node->apply(grad_out);
    for (size_t i = 0; i < grads.size(); ++i) {
      const Edge& e = node->edges()[i];
      if (!e.needed() || !grads[i].defined()) continue;
      if (e.leaf) {
        add_to_leaf(*e.leaf, std::move(grads[i]));
      } else {
        auto [slot, fresh] = pending.try_emplace(e.node.get());
        if (fresh) {
          slot->second = grads[i].contiguous();
        } else {
          // The stored gradient may alias a tensor another node still reads: add out of place.
          Tensor sum = slot->second.clone();
          accumulate_into(sum, grads[i]);
          slot->second = sum;
        }
      }
    }
  }
}

}  // namespace attnlab::autograd
