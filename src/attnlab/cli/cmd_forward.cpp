// attnlab forward CHECKPOINT (--tokens FILE | --text TEXT) --out FILE.safetensors
// Dumps the logits of one sequence, for parity checks with other implementations.
// FILE holds whitespace-separated token ids.
#include <cstdio>
#include <sstream>

#include "attnlab/autograd/node.h"
#include "attnlab/cli/commands.h"
#include "attnlab/data/tokenizer.h"
#include "attnlab/io/atomic_file.h"
#include "attnlab/io/safetensors.h"
#include "attnlab/train/checkpoint.h"

namespace attnlab::cli {

namespace {
std::vector<int32_t> read_token_ids(const std::string& path, int64_t vocab) {
  std::istringstream in(io::read_file(path));
  std::vector<int32_t> ids;
  std::string word;
  while (in >> word) {
    long long v = 0;
    size_t used = 0;
    try {
      v = std::stoll(word, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    ATTNLAB_CHECK(used == word.size(), path, ": token ", ids.size(), " is '", word, "', expected an integer id");
    ATTNLAB_CHECK(v >= 0 && v < vocab, path, ": token ", ids.size(), " = ", v, " is outside the vocabulary [0, ",
                  vocab, ")");
    ids.push_back(int32_t(v));
  }
  ATTNLAB_CHECK(!ids.empty(), path, ": no token ids in the file");
  return ids;
}
}  // namespace

void add_forward_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("forward", "Write the logits of one token sequence to a safetensors file");
  struct Args {
    std::string checkpoint, tokens, text, out, form = "parallel";
    std::vector<std::string> sets;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("checkpoint", a->checkpoint, "Run folder or step folder")->required();
  auto* tokens = cmd->add_option("--tokens", a->tokens, "File of whitespace-separated token ids");
  cmd->add_option("--text", a->text, "Text to tokenize instead of --tokens")->excludes(tokens);
  cmd->add_option("--out", a->out, "Output .safetensors (tensors: tokens [T], logits [T, V])")->required();
  cmd->add_option("--form", a->form, "Mixer form: ref, parallel or recurrent");
  cmd->add_option("--set", a->sets, "Override a config key (repeatable)");
  cmd->callback([a] {
    train::LoadedModel m = train::load_model(a->checkpoint, a->sets);
    std::vector<int32_t> ids;
    if (!a->tokens.empty()) {
      ids = read_token_ids(a->tokens, m.run.model.vocab_size);
    } else {
      ATTNLAB_CHECK(!a->text.empty(), "forward: give --tokens FILE or --text TEXT");
      ids = data::make_tokenizer(m.run.data.tokenizer)->encode(a->text);
    }
    int64_t T = int64_t(ids.size());
    train::check_sequence_length(m, T, a->tokens.empty() ? std::string("forward --text") : "forward --tokens " + a->tokens);
    autograd::NoGradGuard no_grad;
    mixers::Form form = mixers::parse_form(a->form);
    model::DecodeState state = m.model->make_state();
    Tensor x = Tensor::from_vector(ids, {1, T});
    Tensor logits = m.model->forward(x, form, form == mixers::Form::Recurrent ? &state : nullptr);
    io::save_safetensors(a->out, {{"tokens", Tensor::from_vector(ids, {T})},
                                  {"logits", logits.view_raw({T, logits.size(2)})}},
                         {{"checkpoint", m.dir}, {"form", a->form}});
    std::printf("wrote %s: logits [%lld, %lld]\n", a->out.c_str(), (long long)T, (long long)logits.size(2));
  });
}

}  // namespace attnlab::cli
