// Element types. float32 is the working type; float64 serves references and gradient
// checks; bf16 is reserved for storage (weights, KV caches) and has no kernels yet.
// int32 holds token ids and other indices.
#pragma once
#include <cstddef>
#include <cstdint>

#include "attnlab/core/error.h"

namespace attnlab {

enum class DType : uint8_t { F32, F64, BF16, I32 };

constexpr size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F64: return 8;
    case DType::BF16: return 2;
    case DType::I32: return 4;
  }
  return 0;
}

constexpr const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "float32";
    case DType::F64: return "float64";
    case DType::BF16: return "bfloat16";
    case DType::I32: return "int32";
  }
  return "?";
}

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::F32; }
template <> constexpr DType dtype_of<double>() { return DType::F64; }
template <> constexpr DType dtype_of<int32_t>() { return DType::I32; }

// Calls f(T{}) with T = float or double matching `t`; other types are an error naming `op`.
// Usage: dispatch_float(x.dtype(), "softmax", [&](auto tag) { using T = decltype(tag); ... });
template <class F>
decltype(auto) dispatch_float(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::F32: return f(float{});
    case DType::F64: return f(double{});
    default: break;
  }
  throw Error(cat(op, ": expected a float32 or float64 tensor, got ", dtype_name(t)));
}

}  // namespace attnlab
