#include "attnlab/core/tensor.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "attnlab/autograd/engine.h"
#include "attnlab/core/parallel.h"
#include "attnlab/core/rng.h"

namespace attnlab {

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (size_t i = s.size(); i-- > 0;) {
    st[i] = acc;
    acc *= s[i];
  }
  return st;
}

int64_t wrap_dim(int64_t d, int64_t ndim, const char* op) {
  int64_t w = d < 0 ? d + ndim : d;
  ATTNLAB_CHECK(w >= 0 && w < ndim, op, ": dimension ", d, " is out of range for a ", ndim,
                "-dimensional tensor");
  return w;
}

namespace {

uint16_t float_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);  // keep NaN a NaN
  u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest even
  return uint16_t(u >> 16);
}
float bf16_to_float(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

double load_as_double(const void* base, DType t, int64_t i) {
  switch (t) {
    case DType::F32: return static_cast<const float*>(base)[i];
    case DType::F64: return static_cast<const double*>(base)[i];
    case DType::BF16: return bf16_to_float(static_cast<const uint16_t*>(base)[i]);
    case DType::I32: return static_cast<const int32_t*>(base)[i];
  }
  return 0;
}

void store_from_double(void* base, DType t, int64_t i, double v) {
  switch (t) {
    case DType::F32: static_cast<float*>(base)[i] = float(v); break;
    case DType::F64: static_cast<double*>(base)[i] = v; break;
    case DType::BF16: static_cast<uint16_t*>(base)[i] = float_to_bf16(float(v)); break;
    case DType::I32: static_cast<int32_t*>(base)[i] = int32_t(v); break;
  }
}

// Visits every element of `shape` in row-major order, calling f(linear, offset_a, offset_b)
// with element offsets under two stride sets. The last dimension is the inner loop.
template <class F>
void for_each_strided(const Shape& shape, const Shape& sa, const Shape& sb, F&& f) {
  int64_t nd = int64_t(shape.size());
  int64_t numel = shape_numel(shape);
  if (numel == 0) return;
  if (nd == 0) {
    f(0, 0, 0);
    return;
  }
  int64_t inner = shape[nd - 1], ia = sa[nd - 1], ib = sb[nd - 1];
  int64_t outer = numel / inner;
  parallel_for(0, outer, std::max<int64_t>(1, 16384 / std::max<int64_t>(inner, 1)),
               [&](int64_t ob, int64_t oe) {
    for (int64_t o = ob; o < oe; ++o) {
      int64_t rem = o, oa = 0, obb = 0;
      for (int64_t d = nd - 2; d >= 0; --d) {
        int64_t idx = rem % shape[d];
        rem /= shape[d];
        oa += idx * sa[d];
        obb += idx * sb[d];
      }
      for (int64_t j = 0; j < inner; ++j) f(o * inner + j, oa + j * ia, obb + j * ib);
    }
  });
}

}  // namespace

Tensor Tensor::view_of(std::shared_ptr<Storage> storage, DType dtype, const Shape& shape,
                       const Shape& strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::move(storage);
  impl->dtype = dtype;
  impl->shape = shape;
  impl->strides = strides;
  impl->offset = offset;
  return Tensor(std::move(impl));
}

Tensor Tensor::empty(const Shape& shape, DType dtype) {
  for (int64_t d : shape)
    ATTNLAB_CHECK(d >= 0, "tensor shape ", shape_str(shape), " has a negative dimension");
  auto storage = std::make_shared<Storage>(size_t(shape_numel(shape)) * dtype_size(dtype));
  return view_of(std::move(storage), dtype, shape, contiguous_strides(shape), 0);
}

Tensor Tensor::zeros(const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  std::memset(t.impl().storage->data(), 0, size_t(t.numel()) * dtype_size(dtype));
  return t;
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype) {
  Tensor t = empty(shape, dtype);
  t.fill(value);
  return t;
}

Tensor Tensor::from_vector(const std::vector<float>& v, const Shape& shape) {
  ATTNLAB_CHECK(int64_t(v.size()) == shape_numel(shape), "from_vector: ", v.size(),
                " values do not fill shape ", shape_str(shape));
  Tensor t = empty(shape, DType::F32);
  if (!v.empty()) std::memcpy(t.data<float>(), v.data(), v.size() * sizeof(float));
  return t;
}
Tensor Tensor::from_vector(const std::vector<double>& v, const Shape& shape) {
  ATTNLAB_CHECK(int64_t(v.size()) == shape_numel(shape), "from_vector: ", v.size(),
                " values do not fill shape ", shape_str(shape));
  Tensor t = empty(shape, DType::F64);
  if (!v.empty()) std::memcpy(t.data<double>(), v.data(), v.size() * sizeof(double));
  return t;
}
Tensor Tensor::from_vector(const std::vector<int32_t>& v, const Shape& shape) {
  ATTNLAB_CHECK(int64_t(v.size()) == shape_numel(shape), "from_vector: ", v.size(),
                " values do not fill shape ", shape_str(shape));
  Tensor t = empty(shape, DType::I32);
  if (!v.empty()) std::memcpy(t.data<int32_t>(), v.data(), v.size() * sizeof(int32_t));
  return t;
}

Tensor Tensor::randn(const Shape& shape, Rng& rng, DType dtype, double std) {
  Tensor t = empty(shape, dtype);
  dispatch_float(dtype, "randn", [&](auto tag) {
    using T = decltype(tag);
    rng.fill_normal(t.data<T>(), t.numel(), T(0), T(std));
  });
  return t;
}

Tensor Tensor::uniform(const Shape& shape, Rng& rng, double lo, double hi, DType dtype) {
  Tensor t = empty(shape, dtype);
  dispatch_float(dtype, "uniform", [&](auto tag) {
    using T = decltype(tag);
    rng.fill_uniform(t.data<T>(), t.numel(), T(lo), T(hi));
  });
  return t;
}

int64_t Tensor::size(int64_t d) const { return shape()[size_t(wrap_dim(d, dim(), "size"))]; }

bool Tensor::is_contiguous() const {
  int64_t expect = 1;
  for (size_t i = shape().size(); i-- > 0;) {
    if (shape()[i] == 1) continue;
    if (strides()[i] != expect) return false;
    expect *= shape()[i];
  }
  return true;
}

void Tensor::check_dtype(DType want) const {
  ATTNLAB_CHECK(dtype() == want, "tensor of ", dtype_name(dtype()), " accessed as ",
                dtype_name(want));
}

void Tensor::copy_from(const Tensor& src) {
  ATTNLAB_CHECK(shape() == src.shape(), "copy_from: shape ", shape_str(src.shape()),
                " does not match ", shape_str(shape()));
  if (dtype() == src.dtype() && is_contiguous() && src.is_contiguous()) {
    size_t bytes = size_t(numel()) * dtype_size(dtype());
    const char* s = static_cast<const char*>(src.storage()->data()) + src.offset() * dtype_size(dtype());
    char* d = static_cast<char*>(storage()->data()) + offset() * dtype_size(dtype());
    if (s != d) std::memmove(d, s, bytes);
    return;
  }
  char* dbase = static_cast<char*>(storage()->data()) + offset() * dtype_size(dtype());
  const char* sbase = static_cast<const char*>(src.storage()->data()) + src.offset() * dtype_size(src.dtype());
  DType dt = dtype(), st = src.dtype();
  if (dt == DType::F32 && st == DType::F32) {
    auto* d = reinterpret_cast<float*>(dbase);
    auto* s = reinterpret_cast<const float*>(sbase);
    for_each_strided(shape(), strides(), src.strides(), [&](int64_t, int64_t od, int64_t os) { d[od] = s[os]; });
    return;
  }
  for_each_strided(shape(), strides(), src.strides(), [&](int64_t, int64_t od, int64_t os) {
    store_from_double(dbase, dt, od, load_as_double(sbase, st, os));
  });
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype());
  out.copy_from(*this);
  return out;
}

Tensor Tensor::to(DType t) const {
  if (t == dtype()) return contiguous();
  Tensor out = empty(shape(), t);
  out.copy_from(*this);
  return out;
}

Tensor Tensor::detach() const { return view_of(storage(), dtype(), shape(), strides(), offset()); }

void Tensor::fill(double value) {
  char* base = static_cast<char*>(storage()->data()) + offset() * dtype_size(dtype());
  DType dt = dtype();
  for_each_strided(shape(), strides(), strides(), [&](int64_t, int64_t o, int64_t) {
    store_from_double(base, dt, o, value);
  });
}

double Tensor::item() const {
  ATTNLAB_CHECK(numel() == 1, "item(): tensor of shape ", shape_str(shape()),
                " has ", numel(), " elements, expected 1");
  return load_as_double(static_cast<const char*>(storage()->data()) + offset() * dtype_size(dtype()), dtype(), 0);
}

std::vector<double> Tensor::to_vector() const {
  std::vector<double> out(static_cast<size_t>(numel()));
  const char* base = static_cast<const char*>(storage()->data()) + offset() * dtype_size(dtype());
  DType dt = dtype();
  Shape packed = contiguous_strides(shape());
  for_each_strided(shape(), strides(), packed, [&](int64_t i, int64_t o, int64_t) {
    out[size_t(i)] = load_as_double(base, dt, o);
  });
  return out;
}

double Tensor::at(std::initializer_list<int64_t> index) const {
  ATTNLAB_CHECK(int64_t(index.size()) == dim(), "at(): ", index.size(), " indices for a ",
                dim(), "-dimensional tensor");
  int64_t o = offset(), d = 0;
  for (int64_t i : index) {
    ATTNLAB_CHECK(i >= 0 && i < shape()[size_t(d)], "at(): index ", i, " out of range in dimension ", d);
    o += i * strides()[size_t(d++)];
  }
  return load_as_double(storage()->data(), dtype(), o);
}

Tensor Tensor::view_raw(const Shape& new_shape) const {
  ATTNLAB_CHECK(is_contiguous(), "view: tensor of shape ", shape_str(shape()), " is not contiguous");
  ATTNLAB_CHECK(shape_numel(new_shape) == numel(), "view: cannot view shape ", shape_str(shape()),
                " (", numel(), " elements) as ", shape_str(new_shape));
  return view_of(storage(), dtype(), new_shape, contiguous_strides(new_shape), offset());
}

Tensor Tensor::transpose_raw(int64_t d0, int64_t d1) const {
  d0 = wrap_dim(d0, dim(), "transpose");
  d1 = wrap_dim(d1, dim(), "transpose");
  Shape sh = shape(), st = strides();
  std::swap(sh[size_t(d0)], sh[size_t(d1)]);
  std::swap(st[size_t(d0)], st[size_t(d1)]);
  return view_of(storage(), dtype(), sh, st, offset());
}

Tensor Tensor::slice_raw(int64_t d, int64_t start, int64_t end) const {
  d = wrap_dim(d, dim(), "slice");
  int64_t n = shape()[size_t(d)];
  ATTNLAB_CHECK(0 <= start && start <= end && end <= n, "slice: range [", start, ", ", end,
                ") is outside dimension ", d, " of size ", n);
  Shape sh = shape();
  sh[size_t(d)] = end - start;
  return view_of(storage(), dtype(), sh, strides(), offset() + start * strides()[size_t(d)]);
}

AutogradMeta& Tensor::autograd_meta() {
  if (!impl().autograd) impl().autograd = std::make_shared<AutogradMeta>();
  return *impl().autograd;
}

Tensor& Tensor::set_requires_grad(bool on) {
  ATTNLAB_CHECK(!on || dtype() == DType::F32 || dtype() == DType::F64,
                "requires_grad needs a float tensor, got ", dtype_name(dtype()));
  ATTNLAB_CHECK(is_leaf(), "requires_grad can only be set on a leaf tensor");
  autograd_meta().requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const {
  if (!impl().autograd || !impl().autograd->grad) return Tensor();
  return *impl().autograd->grad;
}

void Tensor::set_grad(const Tensor& g) {
  ATTNLAB_CHECK(!g.defined() || g.shape() == shape(), "set_grad: gradient of shape ",
                shape_str(g.shape()), " for a tensor of shape ", shape_str(shape()));
  autograd_meta().grad = g.defined() ? std::make_shared<Tensor>(g) : nullptr;
}

const std::shared_ptr<autograd::Node>& Tensor::grad_fn() const {
  static const std::shared_ptr<autograd::Node> none;
  if (!impl_ || !impl_->autograd) return none;
  return impl_->autograd->grad_fn;
}

void Tensor::backward(const Tensor& seed) const { autograd::backward(*this, seed); }

}  // namespace attnlab
