// Softmax -> linear-time conversion: the student config follows the teacher's heads and
// rotary settings, unconvertible teacher settings are one error naming them, shared
// parameters are copied bit for bit and new ones initialised, and --init-from loads a
// full model or names the parameter it cannot find.
#include "attnlab/train/convert.h"

#include <gtest/gtest.h>

#include "attnlab/io/config_schema.h"
#include "attnlab/mixers/dijiang/dijiang.h"
#include "attnlab/mixers/registry.h"
#include "attnlab/mixers/retention/retention.h"
#include "attnlab/model/lm.h"
#include "attnlab/train/checkpoint.h"
#include "harness/assert_close.h"
#include "harness/temp_dir.h"

namespace attnlab::train {
namespace {

using ::attnlab::testing::error_of;

RunConfig teacher_config(const std::vector<std::string>& sets = {}) {
  return config::parse_config_text<RunConfig>(
      "[model]\nvocab_size = 40\nd_model = 32\nn_layers = 2\n[model.mixer]\nname = \"softmax\"\nheads = 4\n"
      "position = \"rope\"\nrope_base = 500.0\n[train]\nseq_len = 16\n",
      "teacher", sets);
}

template <class O>
const O& options(const RunConfig& run) {
  return dynamic_cast<const mixers::OptionsOf<O>&>(*run.model.mixer.options).value;
}

TEST(Convert, StudentConfigFollowsTheTeachersHeadsAndRotation) {
  RunConfig d = student_config(teacher_config(), "dijiang");
  EXPECT_EQ(d.model.mixer.name, "dijiang");
  const auto& dj = options<mixers::DijiangOptions>(d);
  EXPECT_EQ(dj.heads, 4);
  EXPECT_EQ(dj.head_dim, 8);
  EXPECT_EQ(dj.position, "rope");
  EXPECT_EQ(dj.rope_style, "half");
  EXPECT_EQ(dj.rope_base, 500.0);
  RunConfig r = student_config(teacher_config({"model.mixer.position=nope"}), "retention",
                               {"model.mixer.decay_learnable=true"});
  const auto& rt = options<mixers::RetentionOptions>(r);
  EXPECT_FALSE(rt.rotary);
  EXPECT_EQ(rt.value_head_dim, 8);
  EXPECT_EQ(rt.rope_frequencies, "standard");
  EXPECT_TRUE(rt.decay_learnable);
  EXPECT_EQ(r.model.d_model, 32);
}

TEST(Convert, UnconvertibleTeacherSettingsAreOneErrorNamingThem) {
  EXPECT_NE(error_of([] { student_config(teacher_config({"model.mixer.position=alibi"}), "dijiang"); })
                .find("model.mixer.position = \"alibi\" has no counterpart in dijiang"),
            std::string::npos);
  EXPECT_NE(error_of([] { student_config(teacher_config({"model.mixer.kv_heads=2"}), "retention"); })
                .find("kv_heads = 2"),
            std::string::npos);
  EXPECT_NE(error_of([] { student_config(teacher_config(), "mamba"); }).find("--to must be dijiang or retention"),
            std::string::npos);
}

TEST(Convert, SharedParametersAreCopiedNewOnesInitialisedAndInitFromLoadsThem) {
  ::attnlab::testing::TempDir tmp;
  RunConfig teacher_run = teacher_config();
  model::LanguageModel teacher(teacher_run.model, 3);
  save_checkpoint(tmp.file("teacher"), teacher_run, teacher, nullptr, 7, 1);
  for (const char* to : {"dijiang", "retention"}) {
    ConvertReport r = convert_checkpoint(tmp.file("teacher"), to, tmp.file(to));
    LoadedModel student = load_model(tmp.file(to));
    EXPECT_EQ(student.run.model.mixer.name, to);
    EXPECT_EQ(r.copied.size() + r.initialised.size(), student.model->params().params().size());
    for (const std::string& name : r.copied)
      EXPECT_CLOSE(name, teacher.params().find(name)->value, student.model->params().find(name)->value, 0.0);
    auto has = [](const std::vector<std::string>& v, const std::string& s) {
      return std::find(v.begin(), v.end(), s) != v.end();
    };
    for (const char* shared : {"embed.weight", "blocks.1.mixer.wq.weight", "blocks.1.mixer.wo.weight"})
      EXPECT_TRUE(has(r.copied, shared)) << to << " " << shared;
    EXPECT_TRUE(has(r.initialised, "blocks.0.mixer.wg.weight")) << to;
    EXPECT_TRUE(r.dropped.empty()) << to;
    // --init-from: a fresh model of the student's config takes every value.
    model::LanguageModel fresh(student.run.model, 99);
    init_params_from(fresh.params(), tmp.file(to));
    EXPECT_CLOSE("all parameters", student.model->params().values(), fresh.params().values(), 0.0);
  }
  // The teacher's checkpoint lacks the student's gate: one error naming it.
  model::LanguageModel dijiang(student_config(teacher_run, "dijiang").model, 1);
  std::string e = error_of([&] { init_params_from(dijiang.params(), tmp.file("teacher")); });
  EXPECT_NE(e.find("parameter 'blocks.0.mixer.wg.weight' of the configured model is missing"), std::string::npos) << e;
  // A retention checkpoint for a wider model: the first mismatched shape is named.
  model::LanguageModel wide(student_config(teacher_config({"model.d_model=64"}), "retention").model, 1);
  e = error_of([&] { init_params_from(wide.params(), tmp.file("retention")); });
  EXPECT_NE(e.find("has shape"), std::string::npos) << e;
}

}  // namespace
}  // namespace attnlab::train
