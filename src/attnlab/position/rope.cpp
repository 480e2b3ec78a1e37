#include "attnlab/position/rope.h"

#include <cmath>

#include "attnlab/autograd/node.h"
#include "attnlab/core/parallel.h"
#include "attnlab/ops/gradcases.h"

namespace attnlab::position {

RopeStyle parse_rope_style(const std::string& name) {
  if (name == "half") return RopeStyle::HalfSplit;
  if (name == "interleaved") return RopeStyle::Interleaved;
  throw Error(cat("rope style '", name, "': expected 'half' or 'interleaved'"));
}

const char* rope_style_name(RopeStyle s) { return s == RopeStyle::HalfSplit ? "half" : "interleaved"; }

std::vector<double> rope_frequencies(const RopeParams& p, int64_t rotary_dim) {
  std::vector<double> theta(size_t(rotary_dim / 2));
  for (int64_t i = 0; i < rotary_dim / 2; ++i)
    theta[size_t(i)] = std::pow(p.base, -2.0 * double(i) / double(rotary_dim));
  return theta;
}

namespace {

// Rotates every (a, b) pair of x by sign * angle; sign = -1 is the inverse (the backward).
template <class T>
void rope_apply(const T* x, T* y, int64_t rows, int64_t T_len, int64_t D, int64_t R, int64_t start_pos,
                const std::vector<double>& theta, RopeStyle style, double sign) {
  int64_t half = R / 2;
  parallel_for(0, rows, 16, [&](int64_t rb, int64_t re) {
    std::vector<T> cos_t(static_cast<size_t>(half));
    std::vector<T> sin_t(static_cast<size_t>(half));
    int64_t cached_pos = -1;
    for (int64_t r = rb; r < re; ++r) {
      int64_t pos = start_pos + r % T_len;
      if (pos != cached_pos) {
        for (int64_t i = 0; i < half; ++i) {
          double a = double(pos) * theta[size_t(i)];
          cos_t[size_t(i)] = T(std::cos(a));
          sin_t[size_t(i)] = T(sign * std::sin(a));
        }
        cached_pos = pos;
      }
      const T* xr = x + r * D;
      T* yr = y + r * D;
      for (int64_t i = 0; i < half; ++i) {
        int64_t ia = style == RopeStyle::HalfSplit ? i : 2 * i;
        int64_t ib = style == RopeStyle::HalfSplit ? i + half : 2 * i + 1;
        T a = xr[ia], b = xr[ib], c = cos_t[size_t(i)], s = sin_t[size_t(i)];
        yr[ia] = a * c - b * s;
        yr[ib] = a * s + b * c;
      }
      for (int64_t d = R; d < D; ++d) yr[d] = xr[d];
    }
  });
}

}  // namespace

Tensor rope(const Tensor& x_in, int64_t start_pos, const RopeParams& p) {
  ATTNLAB_CHECK(x_in.dim() == 4, "rope: expected x [B, H, T, D], got ", shape_str(x_in.shape()));
  int64_t D = x_in.size(3), T_len = x_in.size(2);
  int64_t R = p.rotary_dim == 0 ? D : p.rotary_dim;
  ATTNLAB_CHECK(R > 0 && R <= D && R % 2 == 0, "rope: rotary_dim ", R, " must be even and at most the head dim ", D);
  ATTNLAB_CHECK(start_pos >= 0, "rope: negative start position ", start_pos);
  Tensor x = x_in.contiguous();
  std::vector<double> theta = rope_frequencies(p, R);
  int64_t rows = x.numel() / std::max<int64_t>(D, 1);
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  dispatch_float(x.dtype(), "rope", [&](auto tag) {
    using T = decltype(tag);
    rope_apply<T>(x.data<T>(), out.data<T>(), rows, T_len, D, R, start_pos, theta, p.style, 1.0);
  });
  if (autograd::should_record({x_in})) {
    autograd::record("rope", {x_in}, out, [=](const Tensor& g) {
      Tensor gx = Tensor::empty(g.shape(), g.dtype());
      dispatch_float(g.dtype(), "rope", [&](auto tag) {
        using T = decltype(tag);
        rope_apply<T>(g.data<T>(), gx.data<T>(), rows, T_len, D, R, start_pos, theta, p.style, -1.0);
      });
      return std::vector<Tensor>{gx};
    });
  }
  return out;
}

}  // namespace attnlab::position

namespace attnlab::ops {

void add_rope_gradcases(std::vector<autograd::GradCase>& cases) {
  using Inputs = std::vector<Tensor>;
  auto input = [](Rng& rng, const Shape& s) { return Tensor::randn(s, rng, DType::F64).set_requires_grad(true); };
  for (auto style : {position::RopeStyle::HalfSplit, position::RopeStyle::Interleaved}) {
    position::RopeParams p;
    p.style = style;
    cases.push_back({"rope", cat(position::rope_style_name(style), " [2, 3, 7, 6] from position 5"),
                     [=](Rng& r) { return Inputs{input(r, {2, 3, 7, 6})}; },
                     [=](const Inputs& x) { return position::rope(x[0], 5, p); }});
  }
  position::RopeParams partial;
  partial.rotary_dim = 4;
  cases.push_back({"rope", "partial rotary_dim 4 of D 10",
                   [=](Rng& r) { return Inputs{input(r, {1, 2, 5, 10})}; },
                   [=](const Inputs& x) { return position::rope(x[0], 0, partial); }});
}

}  // namespace attnlab::ops
