#include "attnlab/train/update_stats.h"

#include <algorithm>
#include <cmath>

#include "attnlab/core/error.h"

namespace attnlab::train {

BlockCosine block_cosine(const BlockSums& s) {
  const size_t P = s.dot.size();
  ATTNLAB_CHECK(s.uu.size() == P && s.vv.size() == P, "block_cosine: sums of different lengths");
  BlockCosine r;
  r.local.assign(P, 0.0);
  r.weight.assign(P, 0.0);
  double dot = 0, uu = 0, vv = 0;
  for (size_t p = 0; p < P; ++p) {
    dot += s.dot[p];
    uu += s.uu[p];
    vv += s.vv[p];
    const double n = std::sqrt(s.uu[p]) * std::sqrt(s.vv[p]);
    r.local[p] = n > 0 ? s.dot[p] / n : 0.0;
  }
  const double norm = std::sqrt(uu) * std::sqrt(vv);
  for (size_t p = 0; p < P; ++p) {
    r.weight[p] = norm > 0 ? std::sqrt(s.uu[p]) * std::sqrt(s.vv[p]) / norm : 0.0;
    r.W += r.weight[p];
    r.mean_local += r.local[p];
  }
  r.global = norm > 0 ? dot / norm : 0.0;
  r.mean_local = P ? r.mean_local / double(P) : 0.0;
  return r;
}

std::string parameter_group(const std::string& name) {
  if (name.rfind("embed.", 0) == 0) return "embed";
  if (name.rfind("head.", 0) == 0) return "head";
  if (name.find(".mixer.") != std::string::npos) return "mixer";
  if (name.find(".mlp.") != std::string::npos) return "mlp";
  if (name.find("norm") != std::string::npos) return "norm";
  return "other";
}

UpdateDiagnostics::UpdateDiagnostics(model::ParamStore& params, int64_t every) : params_(params), every_(every) {
  for (const auto& p : params_.params()) {
    std::string g = parameter_group(p->name);
    auto it = std::find(group_names_.begin(), group_names_.end(), g);
    if (it == group_names_.end()) it = group_names_.insert(group_names_.end(), g);
    group_of_param_.push_back(size_t(it - group_names_.begin()));
  }
}

void UpdateDiagnostics::before_step(int64_t done) {
  // Keep the weights for a diagnostic step and for the step before it (its update is the
  // "previous update" the diagnostic step compares with).
  if (!enabled() || (done % every_ != 0 && (done + 1) % every_ != 0)) return;
  before_ = params_.values().to_vector();
  kept_for_ = done;
}

void UpdateDiagnostics::after_step(int64_t done, nlohmann::json& line) {
  if (!enabled() || kept_for_ != done) return;
  kept_for_ = -1;
  const std::vector<double> w = params_.values().to_vector();
  const std::vector<double> g = params_.grads().to_vector();
  std::vector<double> update(w.size());
  for (size_t i = 0; i < w.size(); ++i) update[i] = w[i] - before_[i];
  if (done % every_ == 0) {
    const size_t G = group_names_.size();
    BlockSums with_grad(G), with_prev(G);
    std::vector<double> weight_sq(G, 0.0);
    const bool have_prev = prev_done_ == done - 1 && prev_update_.size() == update.size();
    const auto& params = params_.params();
    for (size_t k = 0; k < params.size(); ++k) {
      const size_t grp = group_of_param_[k];
      const int64_t begin = params[k]->offset, end = begin + shape_numel(params[k]->shape);
      for (int64_t i = begin; i < end; ++i) {
        const double u = update[size_t(i)], descent = -g[size_t(i)];
        with_grad.dot[grp] += u * descent;
        with_grad.uu[grp] += u * u;
        with_grad.vv[grp] += descent * descent;
        weight_sq[grp] += before_[size_t(i)] * before_[size_t(i)];
        if (have_prev) {
          const double q = prev_update_[size_t(i)];
          with_prev.dot[grp] += u * q;
          with_prev.vv[grp] += q * q;
        }
      }
    }
    with_prev.uu = with_grad.uu;
    auto log_cosines = [&](const BlockSums& s, const std::string& what) {
      BlockCosine c = block_cosine(s);
      line["upd_cos_" + what] = c.global;
      line["upd_W_" + what] = c.W;
      line["upd_cos_" + what + "_mean"] = c.mean_local;
      for (size_t p = 0; p < G; ++p) line["upd_cos_" + what + "." + group_names_[p]] = c.local[p];
    };
    log_cosines(with_grad, "grad");
    if (have_prev) log_cosines(with_prev, "prev");
    double uu = 0, ww = 0;
    for (size_t p = 0; p < G; ++p) {
      uu += with_grad.uu[p];
      ww += weight_sq[p];
      line["upd_ratio." + group_names_[p]] = weight_sq[p] > 0 ? std::sqrt(with_grad.uu[p] / weight_sq[p]) : 0.0;
    }
    line["upd_ratio"] = ww > 0 ? std::sqrt(uu / ww) : 0.0;
  }
  prev_update_ = std::move(update);
  prev_done_ = done;
}

}  // namespace attnlab::train
