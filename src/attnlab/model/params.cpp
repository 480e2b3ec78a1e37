#include "attnlab/model/params.h"

#include "attnlab/core/rng.h"

namespace attnlab::model {

std::shared_ptr<Param> ParamStore::declare(const std::string& name, const Shape& shape, Init init,
                                           bool weight_decay) {
  ATTNLAB_CHECK(!allocated(), "parameter '", name, "' declared after the buffers were allocated");
  ATTNLAB_CHECK(!find(name), "parameter '", name, "' declared twice");
  for (int64_t d : shape) ATTNLAB_CHECK(d > 0, "parameter '", name, "' has shape ", shape_str(shape));
  auto p = std::make_shared<Param>();
  p->name = name;
  p->shape = shape;
  p->init = init;
  p->weight_decay = weight_decay;
  // Each parameter starts on a 16-float (64-byte) boundary so its view stays aligned.
  p->offset = total_;
  total_ += (shape_numel(shape) + 15) / 16 * 16;
  params_.push_back(p);
  return p;
}

void ParamStore::allocate(uint64_t seed, DType dtype) {
  ATTNLAB_CHECK(!allocated(), "parameters allocated twice");
  values_ = Tensor::zeros({total_}, dtype);
  grads_ = Tensor::zeros({total_}, dtype);
  for (auto& p : params_) {
    int64_t n = shape_numel(p->shape);
    Tensor flat = values_.slice_raw(0, p->offset, p->offset + n);
    Rng rng(seed, uint64_t(p->offset));  // position-keyed: same values for any thread count
    switch (p->init.kind) {
      case Init::Kind::Normal:
        dispatch_float(dtype, "parameter init", [&](auto tag) {
          using T = decltype(tag);
          rng.fill_normal(flat.data<T>(), n, T(0), T(p->init.a));
        });
        break;
      case Init::Kind::Uniform:
        dispatch_float(dtype, "parameter init", [&](auto tag) {
          using T = decltype(tag);
          rng.fill_uniform(flat.data<T>(), n, T(p->init.a), T(p->init.b));
        });
        break;
      case Init::Kind::Zeros: flat.fill(0.0); break;
      case Init::Kind::Ones: flat.fill(1.0); break;
      case Init::Kind::Constant: flat.fill(p->init.a); break;
      case Init::Kind::Values:
        ATTNLAB_CHECK(p->init.given && int64_t(p->init.given->size()) == n, "parameter ", p->name, ": ",
                      p->init.given ? p->init.given->size() : 0, " initial values for ", n, " elements");
        flat.copy_from(Tensor::from_vector(*p->init.given, {n}).to(dtype));
        break;
    }
    p->value = flat.view_raw(p->shape);
    p->value.set_requires_grad(true);
    p->grad = grads_.slice_raw(0, p->offset, p->offset + n).view_raw(p->shape);
    p->value.set_grad(p->grad);
  }
}

const Param* ParamStore::find(const std::string& name) const {
  for (const auto& p : params_)
    if (p->name == name) return p.get();
  return nullptr;
}

}  // namespace attnlab::model
