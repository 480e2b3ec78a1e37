// attnlab convert CHECKPOINT --to dijiang|retention --out DIR [--set key=value ...]
#include <cstdio>

#include "attnlab/cli/commands.h"
#include "attnlab/train/convert.h"

namespace attnlab::cli {

void add_convert_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "convert", "Turn a softmax checkpoint into a linear-time one (shared parameters copied, new ones initialised)");
  struct Args {
    std::string checkpoint, to, out;
    std::vector<std::string> sets;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("checkpoint", a->checkpoint, "Softmax checkpoint: a step folder or a run folder")->required();
  cmd->add_option("--to", a->to, "Student mixer: dijiang or retention")->required();
  cmd->add_option("--out", a->out, "Folder for the student's checkpoint (then: attnlab train CONFIG --init-from DIR)")
      ->required();
  cmd->add_option("--set", a->sets, "Override a key of the student's config: --set model.mixer.decay_learnable=false");
  cmd->callback([a] {
    train::ConvertReport r = train::convert_checkpoint(a->checkpoint, a->to, a->out, a->sets);
    std::printf("converted to %s: %zu parameters copied, %zu initialised", a->to.c_str(), r.copied.size(),
                r.initialised.size());
    for (size_t i = 0; i < r.initialised.size(); ++i)
      std::printf("%s%s", i ? ", " : " (", r.initialised[i].c_str());
    std::printf("%s, %zu teacher tensors dropped\n", r.initialised.empty() ? "" : ")", r.dropped.size());
    std::printf("checkpoint: %s\n", r.checkpoint.c_str());
    std::printf("fine-tune: attnlab train %s/config.toml --init-from %s --out RUN\n", r.checkpoint.c_str(),
                a->out.c_str());
  });
}

}  // namespace attnlab::cli
