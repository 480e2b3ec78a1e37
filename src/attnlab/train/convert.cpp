#include "attnlab/train/convert.h"

#include <filesystem>

#include "attnlab/io/config_schema.h"
#include "attnlab/io/safetensors.h"
#include "attnlab/mixers/registry.h"
#include "attnlab/mixers/softmax/softmax.h"
#include "attnlab/model/lm.h"
#include "attnlab/train/checkpoint.h"

namespace attnlab::train {

namespace fs = std::filesystem;

RunConfig student_config(const RunConfig& teacher, const std::string& to, const std::vector<std::string>& sets) {
  ATTNLAB_CHECK(to == "dijiang" || to == "retention", "convert: --to must be dijiang or retention, got '", to, "'");
  const model::MixerConfig& tm = teacher.model.mixer;
  ATTNLAB_CHECK(tm.name == "softmax", "convert: the teacher's mixer is '", tm.name,
                "'; conversion starts from a softmax checkpoint");
  const auto& t = dynamic_cast<const mixers::OptionsOf<mixers::SoftmaxOptions>&>(*tm.options).value;
  auto refuse = [&](bool bad, const std::string& what) {
    ATTNLAB_CHECK(!bad, "convert: the teacher's model.mixer.", what, " has no counterpart in ", to);
  };
  refuse(t.kv_heads != 0 && t.kv_heads != t.heads, cat("kv_heads = ", t.kv_heads, " (grouped-query heads)"));
  refuse(t.position == "alibi", "position = \"alibi\"");
  refuse(t.window != 0, cat("window = ", t.window));
  refuse(t.rope_scaling != "none", cat("rope_scaling = \"", t.rope_scaling, "\""));
  refuse(t.key_norm, "key_norm = true");
  refuse(t.cosine, "cosine = true");
  const int64_t D = t.head_dim ? t.head_dim : teacher.model.d_model / t.heads;
  std::vector<std::string> mixer_sets{cat("heads=", t.heads), cat("head_dim=", D), cat("rope_base=", t.rope_base),
                                      "rope_style=" + t.rope_style};
  if (to == "dijiang") {
    mixer_sets.push_back("position=" + t.position);
  } else {
    mixer_sets.push_back(cat("value_head_dim=", D));
    mixer_sets.push_back(std::string("rotary=") + (t.position == "rope" ? "true" : "false"));
    mixer_sets.push_back("rope_frequencies=standard");  // the teacher's rotation, unchanged
  }
  RunConfig student = teacher;
  student.model.mixer = config::parse_config_text<model::MixerConfig>("name = \"" + to + "\"", "convert", mixer_sets);
  return config::apply_overrides(student, sets, "convert --set");
}

ConvertReport convert_checkpoint(const std::string& teacher_path, const std::string& to, const std::string& out_dir,
                                 const std::vector<std::string>& sets) {
  LoadedModel teacher = load_model(teacher_path);
  RunConfig run = student_config(teacher.run, to, sets);
  model::LanguageModel student(run.model, uint64_t(run.train.seed));
  ConvertReport report;
  const model::ParamStore& tp = teacher.model->params();
  for (const auto& p : student.params().params()) {
    const model::Param* src = tp.find(p->name);
    if (!src) {
      report.initialised.push_back(p->name);
      continue;
    }
    ATTNLAB_CHECK(src->shape == p->shape, "convert: '", p->name, "' is ", shape_str(src->shape), " in the teacher but ",
                  shape_str(p->shape), " in the ", to, " student");
    p->value.detach().copy_from(src->value.detach());
    report.copied.push_back(p->name);
  }
  for (const auto& p : tp.params())
    if (!student.params().find(p->name)) report.dropped.push_back(p->name);
  report.checkpoint = save_checkpoint(out_dir, run, student, nullptr, 0, 1);
  return report;
}

void init_params_from(model::ParamStore& params, const std::string& path) {
  const std::string dir = resolve_checkpoint(path);
  const std::string file_path = (fs::path(dir) / "model.safetensors").string();
  io::SafetensorsFile file = io::load_safetensors(file_path);
  for (const auto& p : params.params()) {
    ATTNLAB_CHECK(file.contains(p->name), "--init-from ", file_path, ": parameter '", p->name,
                  "' of the configured model is missing (", file.order.size(), " tensors in the file)");
    const Tensor& t = file.tensors.at(p->name);
    ATTNLAB_CHECK(t.shape() == p->shape, "--init-from ", file_path, ": parameter '", p->name, "' has shape ",
                  shape_str(t.shape()), ", the configured model needs ", shape_str(p->shape));
    p->value.detach().copy_from(t);
  }
  for (const auto& name : file.order)
    ATTNLAB_CHECK(params.find(name), "--init-from ", file_path, ": tensor '", name,
                  "' is not a parameter of the configured model (a different mixer or size?)");
}

}  // namespace attnlab::train
