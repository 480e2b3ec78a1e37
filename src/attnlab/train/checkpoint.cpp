#include "attnlab/train/checkpoint.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "attnlab/io/atomic_file.h"
#include "attnlab/io/safetensors.h"

namespace attnlab::train {

namespace fs = std::filesystem;

namespace {

constexpr const char* kFormat = "attnlab-checkpoint-1";

std::string step_name(const std::string& prefix, int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "_%06lld", (long long)step);
  return prefix + buf;
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

}  // namespace

std::string save_checkpoint(const std::string& out_dir, const RunConfig& run, const model::LanguageModel& model,
                            const AdamW* optimizer, int64_t step, int64_t keep, const std::string& prefix) {
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  ATTNLAB_CHECK(!ec, "checkpoint: cannot create folder '", out_dir, "': ", ec.message());
  const std::string name = step_name(prefix, step);
  const fs::path final_dir = fs::path(out_dir) / name;
  const fs::path tmp_dir = fs::path(out_dir) / ("." + name + ".tmp." + std::to_string(::getpid()));
  fs::remove_all(tmp_dir, ec);
  fs::create_directories(tmp_dir, ec);
  ATTNLAB_CHECK(!ec, "checkpoint: cannot create folder '", tmp_dir.string(), "': ", ec.message());
  try {
    io::NamedTensors params;
    for (const auto& p : model.params().params()) params.push_back({p->name, p->value.detach()});
    io::Metadata meta{{"format", kFormat}, {"step", std::to_string(step)}};
    io::save_safetensors((tmp_dir / "model.safetensors").string(), params, meta);
    io::write_file_atomic((tmp_dir / "config.toml").string(), config::to_toml(run));
    if (optimizer) {
      AdamW& opt = const_cast<AdamW&>(*optimizer);
      io::Metadata state{{"format", kFormat},
                         {"step", std::to_string(step)},
                         {"adam_t", std::to_string(opt.steps_taken())},
                         {"seed", std::to_string(run.train.seed)}};
      io::save_safetensors((tmp_dir / "train_state.safetensors").string(),
                           {{"adamw.m", opt.m()}, {"adamw.v", opt.v()}}, state);
    }
    fs::remove_all(final_dir, ec);  // a stale folder of the same step from an interrupted run
    fs::rename(tmp_dir, final_dir, ec);
    ATTNLAB_CHECK(!ec, "checkpoint: cannot rename '", tmp_dir.string(), "' to '", final_dir.string(), "': ",
                  ec.message());
  } catch (...) {
    fs::remove_all(tmp_dir, ec);
    throw;
  }
  io::write_file_atomic((fs::path(out_dir) / "latest").string(), name + "\n");
  // Prune the oldest step folders beyond `keep`.
  std::vector<std::string> steps;
  for (const auto& entry : fs::directory_iterator(out_dir, ec)) {
    std::string n = entry.path().filename().string();
    if (entry.is_directory() && n.rfind("step_", 0) == 0) steps.push_back(n);
  }
  // Numeric order: names gain a digit past step 999999.
  std::sort(steps.begin(), steps.end(), [](const std::string& a, const std::string& b) {
    return a.size() != b.size() ? a.size() < b.size() : a < b;
  });
  for (size_t i = 0; i + size_t(keep) < steps.size(); ++i)
    if (steps[i] != name) fs::remove_all(fs::path(out_dir) / steps[i], ec);
  return final_dir.string();
}

std::string resolve_checkpoint(const std::string& path) {
  fs::path p(path);
  ATTNLAB_CHECK(fs::exists(p), "checkpoint '", path, "' does not exist");
  if (fs::exists(p / "model.safetensors")) return p.string();
  ATTNLAB_CHECK(fs::exists(p / "latest"), "'", path,
                "' is not a checkpoint: expected model.safetensors in it, or a `latest` file naming one");
  std::string step = trim(io::read_file((p / "latest").string()));
  fs::path dir = p / step;
  ATTNLAB_CHECK(fs::exists(dir / "model.safetensors"), "checkpoint '", path, "': latest names '", step,
                "', which has no model.safetensors");
  return dir.string();
}

LoadedModel load_model(const std::string& path, const std::vector<std::string>& sets) {
  LoadedModel out;
  out.dir = resolve_checkpoint(path);
  const std::string config_path = (fs::path(out.dir) / "config.toml").string();
  out.run = config::parse_config_file<RunConfig>(config_path, sets);
  fill_trained_length(out.run);
  out.model = std::make_unique<model::LanguageModel>(out.run.model, 0);
  const std::string model_path = (fs::path(out.dir) / "model.safetensors").string();
  io::SafetensorsFile file = io::load_safetensors(model_path);
  size_t matched = 0;
  for (const auto& p : out.model->params().params()) {
    ATTNLAB_CHECK(file.contains(p->name), model_path, ": tensor '", p->name, "' required by ", config_path,
                  " is missing");
    const Tensor& t = file.tensors.at(p->name);
    ATTNLAB_CHECK(t.shape() == p->shape, model_path, ": tensor '", p->name, "' has shape ", shape_str(t.shape()),
                  ", ", config_path, " gives ", shape_str(p->shape));
    ATTNLAB_CHECK(t.dtype() == DType::F32 || t.dtype() == DType::F64 || t.dtype() == DType::BF16, model_path,
                  ": tensor '", p->name, "' is ", dtype_name(t.dtype()), ", expected a float type");
    p->value.detach().copy_from(t);
    ++matched;
  }
  for (const auto& name : file.order)
    ATTNLAB_CHECK(out.model->params().find(name), model_path, ": tensor '", name,
                  "' is not a parameter of the model that ", config_path, " describes");
  (void)matched;
  return out;
}

void check_sequence_length(const LoadedModel& m, int64_t tokens, const std::string& what) {
  const int64_t limit = m.run.model.max_seq_len;
  ATTNLAB_CHECK(limit == 0 || tokens <= limit, what, " needs a sequence of ", tokens,
                " tokens, longer than model.max_seq_len = ", limit, " in ",
                (fs::path(m.dir) / "config.toml").string());
}

TrainState load_train_state(const std::string& step_dir) {
  const std::string path = (fs::path(step_dir) / "train_state.safetensors").string();
  io::SafetensorsFile f = io::load_safetensors(path);
  TrainState s;
  auto number = [&](const char* key) {
    auto it = f.metadata.find(key);
    ATTNLAB_CHECK(it != f.metadata.end(), path, ": metadata '", key, "' is missing");
    try {
      return std::stoll(it->second);
    } catch (const std::exception&) {
      throw Error(cat(path, ": metadata '", key, "' = '", it->second, "' is not an integer"));
    }
  };
  s.step = number("step");
  s.adam_t = number("adam_t");
  s.adam_m = f.at("adamw.m");
  s.adam_v = f.at("adamw.v");
  return s;
}

}  // namespace attnlab::train
