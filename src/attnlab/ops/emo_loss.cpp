#include "attnlab/ops/emo_loss.h"

#include <vector>

#include "attnlab/autograd/gradcheck.h"
#include "attnlab/core/error.h"
#include "attnlab/ops/ops.h"

namespace attnlab::ops {

namespace {

// Targets as [N] ids that the gather accepts (ignored rows read row 0) and a 0/1 mask [N].
struct MaskedTargets {
  Tensor ids, mask;
  int64_t count = 0;
};

MaskedTargets mask_targets(const Tensor& targets, int64_t N, int64_t V, int64_t ignore, DType dtype,
                           const char* op) {
  ATTNLAB_CHECK(targets.dtype() == DType::I32, op, ": targets must be int32, got ", dtype_name(targets.dtype()));
  ATTNLAB_CHECK(targets.numel() == N, op, ": ", targets.numel(), " targets for ", N, " rows of logits");
  std::vector<double> t = targets.to_vector();
  std::vector<int32_t> ids(static_cast<size_t>(N));
  std::vector<double> mask(static_cast<size_t>(N));
  MaskedTargets m;
  for (int64_t n = 0; n < N; ++n) {
    const int64_t id = int64_t(t[size_t(n)]);
    const bool kept = id != ignore;
    ATTNLAB_CHECK(!kept || (id >= 0 && id < V), op, ": target ", id, " at row ", n, " is outside [0, ", V,
                  ") and is not ignore_index (", ignore, ")");
    ids[size_t(n)] = kept ? int32_t(id) : 0;
    mask[size_t(n)] = kept ? 1.0 : 0.0;
    m.count += kept;
  }
  m.ids = Tensor::from_vector(ids, {N});
  m.mask = Tensor::from_vector(mask, {N}).to(dtype);
  return m;
}

// DEMD per row [N] (masked) and the masked targets, for logits [N, V].
Tensor demd_rows(const Tensor& logits2d, const MaskedTargets& t, const Tensor& unit) {
  Tensor q = softmax(logits2d);                                         // [N, V]
  Tensor expected = matmul(q, unit);                                    // [N, d]: sum_i Q_i e^_i
  Tensor target_rows = embedding(t.ids, unit);                          // [N, d]: e^_t
  Tensor similarity = sum(mul(expected, target_rows), {1});             // [N]
  return mul(add_scalar(neg(similarity), 1.0), t.mask);
}

struct Flat {
  Tensor logits;  // [N, V]
  int64_t N, V;
};

Flat flatten(const Tensor& logits, const Tensor& unit, const char* op) {
  ATTNLAB_CHECK(logits.dim() >= 1 && logits.size(-1) >= 1, op, ": logits must be [..., V], got ",
                shape_str(logits.shape()));
  const int64_t V = logits.size(-1), N = logits.numel() / V;
  ATTNLAB_CHECK(unit.dim() == 2 && unit.size(0) == V, op, ": the cost embedding must be [V = ", V, ", d], got ",
                shape_str(unit.shape()));
  ATTNLAB_CHECK(unit.dtype() == logits.dtype(), op, ": the cost embedding is ", dtype_name(unit.dtype()),
                ", the logits ", dtype_name(logits.dtype()));
  return {reshape(logits, {N, V}), N, V};
}

}  // namespace

EmoMode parse_emo_mode(const std::string& name) {
  if (name == "ce-equal") return EmoMode::CeEqual;
  if (name == "emo-emphasised") return EmoMode::EmoEmphasised;
  throw Error(cat("train.emo_mode = '", name, "': expected ce-equal or emo-emphasised"));
}

Tensor emo_unit_rows(const Tensor& embedding) {
  ATTNLAB_CHECK(embedding.dim() == 2, "emo: the cost embedding must be [V, d], got ", shape_str(embedding.shape()));
  // A tiny eps keeps the rows unit to rounding (the default 1e-12 would leave 1 - |e^|^2
  // ~ 1e-12 / |e|^2) while a zero row still gives 0, not NaN.
  return l2_normalize(embedding.detach(), 1e-30).detach();
}

Tensor emo_distance(const Tensor& logits, const Tensor& targets, const Tensor& unit_embedding, int64_t ignore_index) {
  Flat f = flatten(logits, unit_embedding, "emo_distance");
  MaskedTargets t = mask_targets(targets, f.N, f.V, ignore_index, logits.dtype(), "emo_distance");
  return reshape(demd_rows(f.logits, t, unit_embedding.detach()), targets.shape());
}

Tensor emo_loss(const Tensor& logits, const Tensor& targets, const Tensor& unit_embedding, EmoMode mode,
                int64_t ignore_index, double eps) {
  Flat f = flatten(logits, unit_embedding, "emo_loss");
  MaskedTargets t = mask_targets(targets, f.N, f.V, ignore_index, logits.dtype(), "emo_loss");
  Tensor demd = demd_rows(f.logits, t, unit_embedding.detach());                              // [N]
  Tensor ce = cross_entropy_per_token(f.logits, reshape(targets.contiguous(), {f.N}), ignore_index);  // [N]
  // The ratios are constants (stop-gradient): computed from detached values.
  Tensor per_row;
  if (mode == EmoMode::CeEqual) {
    Tensor ratio = div(ce.detach(), add_scalar(demd.detach(), eps));
    per_row = scale(add(ce, mul(ratio, demd)), 0.5);
  } else {
    Tensor ratio = div(demd.detach(), add_scalar(ce.detach(), eps));
    per_row = add(demd, mul(ratio, ce));
  }
  // Ignored rows hold 0 in both terms; the mean is over the rows kept.
  return scale(sum(per_row), t.count ? 1.0 / double(t.count) : 0.0);
}

// ---- gradient-check cases ----

void add_emo_gradcases(std::vector<autograd::GradCase>& cases) {
  using Inputs = std::vector<Tensor>;
  auto unit = [](Rng& r, int64_t V, int64_t d) { return emo_unit_rows(Tensor::randn({V, d}, r, DType::F64)); };
  cases.push_back({"emo_distance", "[5, 7] logits, d = 3, one target ignored",
                   [=](Rng& r) {
                     Tensor logits = Tensor::randn({5, 7}, r, DType::F64, 2.0).set_requires_grad(true);
                     return Inputs{logits, unit(r, 7, 3)};
                   },
                   [](const Inputs& x) {
                     Tensor t = Tensor::from_vector(std::vector<int32_t>{3, 0, -100, 6, 6}, {5});
                     return emo_distance(x[0], t, x[1]);
                   }});
  cases.push_back({"emo_distance", "[2, 3, 33] logits, targets [2, 3], d = 8",
                   [=](Rng& r) {
                     Tensor logits = Tensor::randn({2, 3, 33}, r, DType::F64, 2.0).set_requires_grad(true);
                     return Inputs{logits, unit(r, 33, 8)};
                   },
                   [](const Inputs& x) {
                     Tensor t = Tensor::from_vector(std::vector<int32_t>{32, 0, 7, 7, 19, 1}, {2, 3});
                     return emo_distance(x[0], t, x[1]);
                   }});
}

}  // namespace attnlab::ops
