// attnlab data: corpus preparation (prepare), tokenizer training (tokenizer) and a look
// inside token files (info).
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "attnlab/cli/commands.h"
#include "attnlab/core/error.h"
#include "attnlab/data/corpus.h"
#include "attnlab/data/token_file.h"
#include "attnlab/data/tokenizer.h"

namespace attnlab::cli {

namespace {

void add_prepare(CLI::App& data) {
  auto* cmd = data.add_subcommand("prepare", "Tokenise files or folders into DIR/train.tok, DIR/val.tok, DIR/meta.json");
  auto opt = std::make_shared<data::PrepareOptions>();
  cmd->add_option("--input", opt->inputs, "A file (one document) or folder (every file inside, recursively); repeatable")
      ->required();
  cmd->add_option("--pattern", opt->pattern, "Only files in folders whose name (or relative path, if it has a /) matches this glob");
  cmd->add_option("--out", opt->out_dir, "Output folder")->required();
  cmd->add_option("--tokenizer", opt->tokenizer, "byte or spm:MODEL")->capture_default_str();
  cmd->add_option("--val-fraction", opt->val_fraction, "Fraction of documents held out for validation")
      ->capture_default_str();
  cmd->add_option("--seed", opt->seed, "Seed of the train/validation split")->capture_default_str();
  cmd->callback([opt] {
    data::PrepareResult r = data::prepare_corpus(*opt);
    std::printf("tokenizer  %s (vocabulary %d)\n", r.tokenizer_spec.c_str(), r.vocab_size);
    std::printf("train      %lld documents, %lld bytes, %lld tokens\n", (long long)r.train.documents,
                (long long)r.train.bytes, (long long)r.train.tokens);
    std::printf("val        %lld documents, %lld bytes, %lld tokens\n", (long long)r.val.documents,
                (long long)r.val.bytes, (long long)r.val.tokens);
    if (r.empty_files) std::printf("skipped    %lld empty files\n", (long long)r.empty_files);
    std::printf("wrote      %s/{train.tok,val.tok,meta.json} in %.2f s\n", opt->out_dir.c_str(), r.seconds);
  });
}

void add_tokenizer(CLI::App& data) {
  auto* cmd = data.add_subcommand("tokenizer", "Train a SentencePiece BPE tokenizer: writes PREFIX.model and PREFIX.vocab");
  auto inputs = std::make_shared<std::vector<std::string>>();
  auto pattern = std::make_shared<std::string>();
  auto vocab = std::make_shared<int>(0);
  auto prefix = std::make_shared<std::string>();
  auto opts = std::make_shared<data::SentencePieceTrainOptions>();
  cmd->add_option("--input", *inputs, "Files or folders of training text; repeatable")->required();
  cmd->add_option("--pattern", *pattern, "Only files in folders matching this glob (as for prepare)");
  cmd->add_option("--vocab-size", *vocab, "Vocabulary size, including 4 special and 256 byte pieces")->required();
  cmd->add_option("--out", *prefix, "Output prefix: writes PREFIX.model and PREFIX.vocab")->required();
  cmd->add_option("--max-sentences", opts->max_sentences, "Lines sampled for training")->capture_default_str();
  cmd->add_option("--seed", opts->seed, "Sampling seed")->capture_default_str();
  cmd->callback([=] {
    std::vector<data::CorpusFile> files = data::list_corpus_files(*inputs, *pattern);
    ATTNLAB_CHECK(!files.empty(), "data tokenizer: no files found in the inputs");
    std::vector<std::string> paths;
    for (const auto& f : files) paths.push_back(f.path);
    std::string model = data::train_sentencepiece(paths, *vocab, *prefix, *opts);
    data::SentencePieceTokenizer tok(model);
    std::printf("wrote %s (vocabulary %d, from %zu files); use --tokenizer spm:%s\n", model.c_str(),
                tok.vocab_size(), files.size(), model.c_str());
  });
}

void add_info(CLI::App& data) {
  auto* cmd = data.add_subcommand("info", "Validate a token file and print its header (or a corpus folder's files)");
  auto path = std::make_shared<std::string>();
  auto as_json = std::make_shared<bool>(false);
  cmd->add_option("path", *path, "A .tok file or a folder written by `data prepare`")->required();
  cmd->add_flag("--json", *as_json, "Print JSON");
  cmd->callback([path, as_json] {
    std::vector<std::string> files;
    if (std::filesystem::is_directory(*path)) {
      for (const char* name : {"train.tok", "val.tok"}) files.push_back((std::filesystem::path(*path) / name).string());
    } else {
      files.push_back(*path);
    }
    nlohmann::json out = nlohmann::json::array();
    for (const auto& f : files) {
      data::TokenFile tf = data::TokenFile::open(f);
      out.push_back({{"path", f}, {"vocab_size", tf.vocab_size()}, {"width", tf.width()},
                     {"tokens", tf.size()}, {"documents", tf.document_count()}});
    }
    if (*as_json) {
      std::printf("%s\n", out.dump(2).c_str());
      return;
    }
    for (const auto& j : out)
      std::printf("%s: %lld tokens, %lld documents, vocabulary %llu, %u-byte tokens\n",
                  j["path"].get<std::string>().c_str(), (long long)j["tokens"].get<int64_t>(),
                  (long long)j["documents"].get<int64_t>(), (unsigned long long)j["vocab_size"].get<uint64_t>(),
                  j["width"].get<unsigned>());
  });
}

}  // namespace

void add_data_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("data", "Prepare corpora: tokenise text into token files, train tokenizers");
  cmd->require_subcommand(1);
  add_prepare(*cmd);
  add_tokenizer(*cmd);
  add_info(*cmd);
}

}  // namespace attnlab::cli
