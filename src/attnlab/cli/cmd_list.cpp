// attnlab list [mixers|ops|config] [--json]: what this build holds, read from the
// registries (mixers, ops) and the config schema.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "attnlab/cli/commands.h"
#include "attnlab/mixers/registry.h"
#include "attnlab/ops/op_table.h"
#include "attnlab/train/run_config.h"

namespace attnlab::cli {

namespace {

std::vector<config::FieldInfo> mixer_fields(const mixers::MixerEntry& e) {
  auto options = e.default_options();
  config::Lister l("model.mixer");
  options->visit(l);
  return l.fields;
}

nlohmann::json fields_json(const std::vector<config::FieldInfo>& fields) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& f : fields) {
    if (f.kind == config::Kind::Section) continue;
    j.push_back({{"key", f.key}, {"type", config::kind_name(f.kind)}, {"default", f.value}, {"doc", f.doc},
                 {"choices", f.choices}, {"rules", f.rules}});
  }
  return j;
}

void print_mixers(bool as_json) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& e : mixers::mixer_registry()) {
    std::vector<std::string> forms;
    for (auto f : e.forms) forms.push_back(mixers::form_name(f));
    if (as_json) {
      j.push_back({{"name", e.name}, {"summary", e.summary}, {"forms", forms}, {"options", fields_json(mixer_fields(e))}});
      continue;
    }
    std::string fs;
    for (const auto& f : forms) fs += (fs.empty() ? "" : ", ") + f;
    std::printf("%s: %s\n  forms: %s\n  options ([model.mixer] with name = \"%s\"):\n", e.name.c_str(),
                e.summary.c_str(), fs.c_str(), e.name.c_str());
    std::string table = config::format_fields(mixer_fields(e));
    std::string line;
    for (char c : table) {
      line += c;
      if (c == '\n') {
        std::printf("    %s", line.c_str());
        line.clear();
      }
    }
    if (!line.empty()) std::printf("    %s\n", line.c_str());
  }
  if (as_json) std::printf("%s\n", j.dump(2).c_str());
}

void print_ops(bool as_json) {
  if (as_json) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& op : ops::op_table()) j.push_back({{"name", op.name}, {"family", op.family}, {"summary", op.summary}});
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  for (const auto& op : ops::op_table()) std::printf("%-24s %-14s %s\n", op.name, op.family, op.summary);
}

void print_config(bool as_json) {
  auto fields = config::list_fields<train::RunConfig>();
  if (as_json) std::printf("%s\n", fields_json(fields).dump(2).c_str());
  else std::printf("%s", config::format_fields(fields).c_str());
}

}  // namespace

void add_list_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("list", "List mixers (with their options), ops, or every config key");
  auto what = std::make_shared<std::string>("mixers");
  auto as_json = std::make_shared<bool>(false);
  cmd->add_option("what", *what, "mixers (default), ops or config")->check(CLI::IsMember({"mixers", "ops", "config"}));
  cmd->add_flag("--json", *as_json, "Print JSON");
  cmd->callback([what, as_json] {
    if (*what == "mixers") print_mixers(*as_json);
    else if (*what == "ops") print_ops(*as_json);
    else print_config(*as_json);
  });
}

}  // namespace attnlab::cli
