// Tensor: a view (shape, strides in elements, offset) onto shared Storage, plus the
// autograd slot. Copying a Tensor copies the handle, not the data (like torch.Tensor).
//
// Kernels work on contiguous row-major buffers: ops call contiguous() on their inputs,
// which is free when the input already is. Views (reshape of a contiguous tensor,
// transpose, slice) share storage; the autograd-aware versions live in ops/shape.h.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "attnlab/core/dtype.h"
#include "attnlab/core/error.h"
#include "attnlab/core/storage.h"

namespace attnlab {

using Shape = std::vector<int64_t>;

class Rng;
class Tensor;
namespace autograd { class Node; }

struct AutogradMeta {
  bool requires_grad = false;
  std::shared_ptr<Tensor> grad;              // leaf tensors: accumulated gradient
  std::shared_ptr<autograd::Node> grad_fn;   // non-leaf tensors: the op that made it
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;  // in elements
  Shape shape;
  Shape strides;       // in elements
  DType dtype = DType::F32;
  std::shared_ptr<AutogradMeta> autograd;  // null until needed
};

std::string shape_str(const Shape& s);     // "[2, 3, 4]"
int64_t shape_numel(const Shape& s);
Shape contiguous_strides(const Shape& s);

class Tensor {
 public:
  Tensor() = default;  // undefined

  // ---- construction (fresh storage; values uninitialised unless stated) ----
  static Tensor empty(const Shape& shape, DType dtype = DType::F32);
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32);
  static Tensor full(const Shape& shape, double value, DType dtype = DType::F32);
  static Tensor from_vector(const std::vector<float>& values, const Shape& shape);
  static Tensor from_vector(const std::vector<double>& values, const Shape& shape);
  static Tensor from_vector(const std::vector<int32_t>& values, const Shape& shape);
  static Tensor randn(const Shape& shape, Rng& rng, DType dtype = DType::F32, double std = 1.0);
  static Tensor uniform(const Shape& shape, Rng& rng, double lo, double hi, DType dtype = DType::F32);
  // A tensor over existing storage (views, kernels that write into preallocated memory).
  static Tensor view_of(std::shared_ptr<Storage> storage, DType dtype, const Shape& shape,
                        const Shape& strides, int64_t offset);

  // ---- properties ----
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  const Shape& strides() const { return impl().strides; }
  int64_t offset() const { return impl().offset; }
  DType dtype() const { return impl().dtype; }
  int64_t dim() const { return int64_t(impl().shape.size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const { return shape_numel(impl().shape); }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return impl().storage; }
  bool same_storage(const Tensor& other) const { return storage() == other.storage(); }
  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }
  // True when this handle is the only one to its view and the view the only one to its
  // storage: nothing else can read or write these values, so they may be taken over.
  bool is_sole_owner() const {
    return impl_ && impl_.use_count() == 1 && impl_->storage.use_count() == 1;
  }

  template <class T> T* data() {
    check_dtype(dtype_of<T>());
    return static_cast<T*>(impl().storage->data()) + impl().offset;
  }
  template <class T> const T* data() const {
    check_dtype(dtype_of<T>());
    return static_cast<const T*>(impl().storage->data()) + impl().offset;
  }

  // ---- data movement (not recorded by autograd; see ops/ for differentiable versions) ----
  Tensor contiguous() const;            // self if already contiguous, else a packed copy
  Tensor clone() const;                 // always a packed copy
  Tensor to(DType dtype) const;         // converted packed copy (self if same dtype and contiguous)
  Tensor detach() const;                // same data, no autograd history
  void copy_from(const Tensor& src);    // same shape; converts dtype
  void fill(double value);
  void zero() { fill(0.0); }
  double item() const;                  // the single value of a one-element tensor
  std::vector<double> to_vector() const;  // all values in row-major order
  double at(std::initializer_list<int64_t> index) const;

  // Raw views without autograd (used by kernels and by the differentiable views).
  Tensor view_raw(const Shape& shape) const;  // contiguous input only
  Tensor transpose_raw(int64_t d0, int64_t d1) const;
  Tensor slice_raw(int64_t dim, int64_t start, int64_t end) const;

  // ---- autograd ----
  // True for leaves marked with set_requires_grad and for results of recorded ops.
  bool requires_grad() const {
    return impl_ && impl_->autograd && (impl_->autograd->requires_grad || impl_->autograd->grad_fn);
  }
  // Marks a leaf as a parameter/input whose gradient is wanted.
  Tensor& set_requires_grad(bool on);
  // The accumulated gradient of a leaf (undefined until a backward pass reaches it).
  Tensor grad() const;
  // Installs the buffer gradients accumulate into (a view into a flat gradient buffer).
  void set_grad(const Tensor& g);
  const std::shared_ptr<autograd::Node>& grad_fn() const;
  bool is_leaf() const { return !grad_fn(); }
  // Back-propagates from this tensor: seed 1 for a scalar, else `seed` of the same shape.
  void backward(const Tensor& seed = Tensor()) const;

  TensorImpl& impl() const {
    ATTNLAB_CHECK(impl_, "use of an undefined tensor");
    return *impl_;
  }
  AutogradMeta& autograd_meta();  // creates on first use

 private:
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}
  void check_dtype(DType want) const;
  std::shared_ptr<TensorImpl> impl_;
};

// Normalises a possibly negative dimension index, naming `op` in the error.
int64_t wrap_dim(int64_t d, int64_t ndim, const char* op);

}  // namespace attnlab
