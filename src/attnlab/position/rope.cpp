#include "attnlab/position/rope.h"

#include <algorithm>
#include <cmath>
#include <numbers>

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

RopeScaling parse_rope_scaling(const std::string& name) {
  if (name == "none") return RopeScaling::None;
  if (name == "pi") return RopeScaling::PI;
  if (name == "ntk") return RopeScaling::NTK;
  if (name == "dynamic_ntk") return RopeScaling::DynamicNTK;
  if (name == "yarn") return RopeScaling::YaRN;
  throw Error(cat("rope scaling '", name, "': expected none, pi, ntk, dynamic_ntk or yarn"));
}

const char* rope_scaling_name(RopeScaling s) {
  switch (s) {
    case RopeScaling::None: return "none";
    case RopeScaling::PI: return "pi";
    case RopeScaling::NTK: return "ntk";
    case RopeScaling::DynamicNTK: return "dynamic_ntk";
    case RopeScaling::YaRN: return "yarn";
  }
  return "none";
}

std::vector<double> rope_frequencies(const RopeParams& p, int64_t rotary_dim, int64_t length) {
  const double R = double(rotary_dim), s = p.factor;
  bool needs_length = p.scaling == RopeScaling::DynamicNTK || p.scaling == RopeScaling::YaRN;
  ATTNLAB_CHECK(s > 0, "rope: scaling factor ", s, " must be > 0");
  ATTNLAB_CHECK(!needs_length || p.original_length > 0, "rope: scaling '", rope_scaling_name(p.scaling),
                "' needs the trained length (rope_original_length > 0)");
  ATTNLAB_CHECK(p.scaling == RopeScaling::None || p.scaling == RopeScaling::PI || rotary_dim > 2,
                "rope: scaling '", rope_scaling_name(p.scaling), "' needs a rotary dim > 2, got ", rotary_dim);
  double base = p.base;
  if (p.scaling == RopeScaling::NTK) base *= std::pow(s, R / (R - 2));
  // Dynamic NTK: the factor grows with the length seen so far, so lengths up to L_train
  // keep the trained frequencies exactly.
  if (p.scaling == RopeScaling::DynamicNTK && length > p.original_length)
    base *= std::pow(s * double(length) / double(p.original_length) - s + 1, R / (R - 2));
  std::vector<double> theta(size_t(rotary_dim / 2));
  for (int64_t i = 0; i < rotary_dim / 2; ++i) theta[size_t(i)] = std::pow(base, -2.0 * double(i) / R);
  if (p.scaling == RopeScaling::PI)
    for (double& t : theta) t /= s;
  if (p.scaling == RopeScaling::YaRN && s != 1) {  // s = 1 must give plain RoPE bit for bit
    // Dimension index whose wavelength fits `rot` times into L_train (YaRN's find_correction_dim).
    auto dim_of = [&](double rot) {
      return R * std::log(double(p.original_length) / (rot * 2 * std::numbers::pi)) / (2 * std::log(p.base));
    };
    double lo = std::max(std::floor(dim_of(p.beta_fast)), 0.0);
    double hi = std::min(std::ceil(dim_of(p.beta_slow)), R - 1);
    if (lo == hi) hi += 0.001;  // as the reference: avoids 0/0 in the ramp
    for (int64_t i = 0; i < rotary_dim / 2; ++i) {
      // r = 1: high frequencies (many rotations within L_train) keep theta; r = 0: interpolate.
      double r = 1 - std::clamp((double(i) - lo) / (hi - lo), 0.0, 1.0);
      double t = theta[size_t(i)];
      theta[size_t(i)] = (t / s) * (1 - r) + t * r;
    }
  }
  return theta;
}

double rope_mscale(const RopeParams& p) {
  return p.scaling == RopeScaling::YaRN && p.factor > 1 ? 1 + 0.1 * std::log(p.factor) : 1.0;
}

namespace {

// Rotates every (a, b) pair of x by sign * angle; sign = -1 is the inverse (the backward).
// The cos/sin table is computed once per call for the T_len positions and shared by every
// batch row and head (computing it per row made sin/cos 6-7% of a small model's training
// step); each entry is computed exactly as before, so results are bitwise unchanged.
template <class T>
void rope_apply(const T* x, T* y, int64_t rows, int64_t T_len, int64_t D, int64_t R, int64_t start_pos,
                const std::vector<double>& theta, RopeStyle style, double sign, double mscale) {
  int64_t half = R / 2;
  std::vector<T> cos_t(static_cast<size_t>(T_len * half)), sin_t(static_cast<size_t>(T_len * half));
  parallel_for(0, T_len, std::max<int64_t>(1, 4096 / std::max<int64_t>(half, 1)), [&](int64_t tb, int64_t te) {
    for (int64_t t = tb; t < te; ++t) {
      for (int64_t i = 0; i < half; ++i) {
        double a = double(start_pos + t) * theta[size_t(i)];
        cos_t[size_t(t * half + i)] = T(mscale * std::cos(a));
        sin_t[size_t(t * half + i)] = T(mscale * sign * std::sin(a));
      }
    }
  });
  parallel_for(0, rows, 16, [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      const T* c_row = cos_t.data() + (r % T_len) * half;
      const T* s_row = sin_t.data() + (r % T_len) * half;
      const T* xr = x + r * D;
      T* yr = y + r * D;
      for (int64_t i = 0; i < half; ++i) {
        int64_t ia = style == RopeStyle::HalfSplit ? i : 2 * i;
        int64_t ib = style == RopeStyle::HalfSplit ? i + half : 2 * i + 1;
        T a = xr[ia], b = xr[ib], c = c_row[i], s = s_row[i];
        yr[ia] = a * c - b * s;
        yr[ib] = a * s + b * c;
      }
      for (int64_t d = R; d < D; ++d) yr[d] = xr[d];
    }
  });
}

}  // namespace

Tensor rope(const Tensor& x_in, int64_t start_pos, const RopeParams& p, int64_t length) {
  ATTNLAB_CHECK(x_in.dim() == 4, "rope: expected x [B, H, T, D], got ", shape_str(x_in.shape()));
  int64_t D = x_in.size(3), T_len = x_in.size(2);
  int64_t R = p.rotary_dim == 0 ? D : p.rotary_dim;
  ATTNLAB_CHECK(R > 0 && R <= D && R % 2 == 0, "rope: rotary_dim ", R, " must be even and at most the head dim ", D);
  ATTNLAB_CHECK(start_pos >= 0, "rope: negative start position ", start_pos);
  Tensor x = x_in.contiguous();
  std::vector<double> theta = rope_frequencies(p, R, length > 0 ? length : start_pos + T_len);
  double mscale = rope_mscale(p);
  int64_t rows = x.numel() / std::max<int64_t>(D, 1);
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  dispatch_float(x.dtype(), "rope", [&](auto tag) {
    using T = decltype(tag);
    rope_apply<T>(x.data<T>(), out.data<T>(), rows, T_len, D, R, start_pos, theta, p.style, 1.0, mscale);
  });
  if (autograd::should_record({x_in})) {
    autograd::record("rope", {x_in}, out, [=](const Tensor& g) {
      Tensor gx = Tensor::empty(g.shape(), g.dtype());
      dispatch_float(g.dtype(), "rope", [&](auto tag) {
        using T = decltype(tag);
        rope_apply<T>(g.data<T>(), gx.data<T>(), rows, T_len, D, R, start_pos, theta, p.style, -1.0, mscale);
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
  // YaRN at s = 4: the mscale and the ramp (frequencies mixed from theta and theta / s).
  position::RopeParams yarn;
  yarn.scaling = position::RopeScaling::YaRN;
  yarn.factor = 4;
  yarn.original_length = 2048;
  cases.push_back({"rope", "yarn s 4 [1, 2, 5, 8] from position 3",
                   [=](Rng& r) { return Inputs{input(r, {1, 2, 5, 8})}; },
                   [=](const Inputs& x) { return position::rope(x[0], 3, yarn); }});
  position::RopeParams partial;
  partial.rotary_dim = 4;
  cases.push_back({"rope", "partial rotary_dim 4 of D 10",
                   [=](Rng& r) { return Inputs{input(r, {1, 2, 5, 10})}; },
                   [=](const Inputs& x) { return position::rope(x[0], 0, partial); }});
}

}  // namespace attnlab::ops
