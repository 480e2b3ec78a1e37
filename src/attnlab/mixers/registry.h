// The one table of token mixers (DESIGN.md convention 3). Config parsing
// (model/config.h) and the registry-walking tests (registry_test.cpp) read it; the CLI's
// `list` and the benchmarks are to read it too but do not yet. Adding a mixer means its
// folder, one line in registry.cpp and its section in docs/MECHANISMS.md
// (docs/adding-a-mixer.md).
//
// Each mixer has an options struct with a visit() (io/config_schema.h) declaring the
// keys it accepts in [model.mixer] beside `name`. MixerOptions type-erases it.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "attnlab/io/config_schema.h"
#include "attnlab/mixers/mixer.h"

namespace attnlab::mixers {

class MixerOptions {
 public:
  virtual ~MixerOptions() = default;
  virtual std::unique_ptr<MixerOptions> clone() const = 0;
  virtual void visit(config::Reader& v) = 0;
  virtual void visit(config::Validator& v) = 0;
  virtual void visit(config::Lister& v) = 0;
  virtual void visit(config::Writer& v) = 0;
  // Tells options that default to "the training length" (length-scaling rules) what it
  // was; the trainer calls it, so checkpoints record the value.
  virtual void set_training_length(int64_t seq_len) = 0;
};

// Wraps a mixer's options struct O (with template visit()).
template <class O>
class OptionsOf : public MixerOptions {
 public:
  O value;
  std::unique_ptr<MixerOptions> clone() const override { return std::make_unique<OptionsOf<O>>(*this); }
  void visit(config::Reader& v) override { value.visit(v); }
  void visit(config::Validator& v) override { value.visit(v); }
  void visit(config::Lister& v) override { value.visit(v); }
  void visit(config::Writer& v) override { value.visit(v); }
  void set_training_length(int64_t seq_len) override {
    if constexpr (requires(O& o) { o.set_training_length(seq_len); }) value.set_training_length(seq_len);
  }
};

struct MixerEntry {
  std::string name;
  std::string summary;
  std::vector<Form> forms;
  std::function<std::unique_ptr<MixerOptions>()> default_options;
  std::function<std::unique_ptr<Mixer>(const MixerOptions&, const MixerContext&)> build;
  // Option settings ("position=alibi") the registry-walking tests run every form with;
  // an empty list is the defaults. Every entry must have at least one.
  std::vector<std::vector<std::string>> test_variants;
};

// Builds an entry for mixer class M taking options O in its constructor.
template <class O, class M>
MixerEntry mixer_entry(std::string name, std::string summary, std::vector<Form> forms,
                       std::vector<std::vector<std::string>> test_variants) {
  MixerEntry e;
  e.name = std::move(name);
  e.summary = std::move(summary);
  e.forms = std::move(forms);
  e.default_options = [] { return std::make_unique<OptionsOf<O>>(); };
  e.build = [](const MixerOptions& o, const MixerContext& ctx) -> std::unique_ptr<Mixer> {
    return std::make_unique<M>(dynamic_cast<const OptionsOf<O>&>(o).value, ctx);
  };
  e.test_variants = std::move(test_variants);
  return e;
}

const std::vector<MixerEntry>& mixer_registry();
const MixerEntry& find_mixer(const std::string& name);  // error naming the known mixers
std::vector<std::string> mixer_names();

}  // namespace attnlab::mixers
