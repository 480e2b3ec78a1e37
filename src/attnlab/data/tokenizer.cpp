#include "attnlab/data/tokenizer.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <filesystem>
#include <fstream>
#include <unordered_map>

#include "attnlab/core/error.h"
#include "attnlab/core/parallel.h"
#include "attnlab/io/atomic_file.h"

namespace attnlab::data {

namespace fs = std::filesystem;

// ---- byte ----

std::vector<int32_t> ByteTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids(text.size());
  for (size_t i = 0; i < text.size(); ++i) ids[i] = int32_t(static_cast<unsigned char>(text[i]));
  return ids;
}

std::string ByteTokenizer::decode(std::span<const int32_t> ids) const {
  std::string out;
  out.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    int32_t id = ids[i];
    ATTNLAB_CHECK(id >= 0 && id < kVocab, "byte tokenizer: decode got id ", id, " at position ", i,
                  ", expected 0..", kVocab - 1);
    if (id < 256) out.push_back(char(static_cast<unsigned char>(id)));
  }
  return out;
}

// ---- SentencePiece ----

struct SentencePieceTokenizer::Impl {
  sentencepiece::SentencePieceProcessor sp;
};

SentencePieceTokenizer::SentencePieceTokenizer(const std::string& model_path) : impl_(std::make_unique<Impl>()) {
  ATTNLAB_CHECK(!model_path.empty(), "sentencepiece tokenizer: empty model path");
  std::error_code ec;
  ATTNLAB_CHECK(fs::is_regular_file(model_path, ec), "sentencepiece tokenizer: model file ", model_path,
                " does not exist (train one with `attnlab data tokenizer`)");
  path_ = fs::absolute(model_path).lexically_normal().string();
  auto status = impl_->sp.Load(path_);
  ATTNLAB_CHECK(status.ok(), "sentencepiece tokenizer: cannot load model ", path_, ": ", status.ToString());
  vocab_size_ = impl_->sp.GetPieceSize();
  bos_ = impl_->sp.bos_id();
  eos_ = impl_->sp.eos_id();
  pad_ = impl_->sp.pad_id();
  ATTNLAB_CHECK(eos_ >= 0 && eos_ < vocab_size_, "sentencepiece tokenizer: model ", path_,
                " has no end-of-sequence piece (eos_id ", eos_, "); documents need one");
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

std::vector<int32_t> SentencePieceTokenizer::encode(std::string_view text) const {
  std::vector<int> ids;
  auto status = impl_->sp.Encode(text, &ids);
  ATTNLAB_CHECK(status.ok(), "sentencepiece tokenizer ", path_, ": encode failed: ", status.ToString());
  return std::vector<int32_t>(ids.begin(), ids.end());
}

std::string SentencePieceTokenizer::decode(std::span<const int32_t> ids) const {
  std::vector<int> v(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    ATTNLAB_CHECK(ids[i] >= 0 && ids[i] < vocab_size_, "sentencepiece tokenizer ", path_, ": decode got id ",
                  ids[i], " at position ", i, ", expected 0..", vocab_size_ - 1);
    v[i] = ids[i];
  }
  std::string out;
  auto status = impl_->sp.Decode(v, &out);
  ATTNLAB_CHECK(status.ok(), "sentencepiece tokenizer ", path_, ": decode failed: ", status.ToString());
  return out;
}

std::string SentencePieceTokenizer::piece(int32_t id) const {
  ATTNLAB_CHECK(id >= 0 && id < vocab_size_, "sentencepiece tokenizer ", path_, ": no piece ", id,
                ", expected 0..", vocab_size_ - 1);
  return impl_->sp.IdToPiece(id);
}

std::unique_ptr<Tokenizer> make_tokenizer(const std::string& spec) {
  if (spec == "byte") return std::make_unique<ByteTokenizer>();
  if (spec.rfind("spm:", 0) == 0) {
    std::string path = spec.substr(4);
    ATTNLAB_CHECK(!path.empty(), "tokenizer spec '", spec, "': missing model path, expected spm:PATH");
    std::error_code ec;
    ATTNLAB_CHECK(fs::is_regular_file(path, ec), "tokenizer spec '", spec, "': model file ", path,
                  " does not exist");
    return std::make_unique<SentencePieceTokenizer>(path);
  }
  throw Error(cat("tokenizer spec '", spec, "': expected 'byte' or 'spm:PATH' (a SentencePiece .model file)"));
}

// ---- training ----

namespace {

// Feeds SentencePiece the non-empty lines of each file in turn, without holding them all:
// the trainer samples at most max_sentences of them itself.
class LineIterator final : public sentencepiece::SentenceIterator {
 public:
  explicit LineIterator(const std::vector<std::string>& files) : files_(files) { advance(); }
  bool done() const override { return done_; }
  void Next() override { advance(); }
  const std::string& value() const override { return line_; }
  sentencepiece::util::Status status() const override {
    if (error_.empty()) return {};
    return sentencepiece::util::Status(sentencepiece::util::StatusCode::kNotFound, error_);
  }

 private:
  void advance() {
    while (true) {
      if (in_.is_open() && std::getline(in_, line_)) {
        if (!line_.empty() && line_.back() == '\r') line_.pop_back();
        if (!line_.empty()) return;
        continue;
      }
      if (in_.is_open()) {
        if (in_.bad()) { error_ = "cannot read " + files_[next_ - 1]; done_ = true; return; }
        in_.close();
      }
      if (next_ >= files_.size()) { done_ = true; return; }
      in_.clear();
      in_.open(files_[next_++], std::ios::binary);
      if (!in_) { error_ = "cannot open " + files_[next_ - 1]; done_ = true; return; }
    }
  }

  const std::vector<std::string>& files_;
  size_t next_ = 0;
  std::ifstream in_;
  std::string line_, error_;
  bool done_ = false;
};

}  // namespace

std::string train_sentencepiece(const std::vector<std::string>& files, int vocab_size,
                                const std::string& model_prefix, const SentencePieceTrainOptions& options) {
  ATTNLAB_CHECK(!files.empty(), "train_sentencepiece: no input files");
  ATTNLAB_CHECK(!model_prefix.empty(), "train_sentencepiece: empty model prefix");
  // 4 special pieces + 256 byte pieces come before any learned piece.
  ATTNLAB_CHECK(vocab_size > 260, "train_sentencepiece: vocabulary size ", vocab_size,
                " too small, expected more than 260 (4 special pieces and 256 byte pieces)");
  ATTNLAB_CHECK(options.max_sentences > 0, "train_sentencepiece: max_sentences must be positive");
  for (const auto& f : files) {
    std::error_code ec;
    ATTNLAB_CHECK(fs::is_regular_file(f, ec), "train_sentencepiece: input ", f, " is not a readable file");
  }
  fs::path parent = fs::path(model_prefix).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    fs::create_directories(parent, ec);
    ATTNLAB_CHECK(!ec, "train_sentencepiece: cannot create folder ", parent.string(), ": ", ec.message());
  }

  int threads = options.threads > 0 ? options.threads : num_threads();
  // identity normalisation and kept whitespace make decode(encode(text)) == text for
  // valid UTF-8; byte fallback means no text maps to <unk>.
  std::unordered_map<std::string, std::string> kwargs = {
      {"model_type", "bpe"},
      {"vocab_size", std::to_string(vocab_size)},
      {"byte_fallback", "true"},
      {"normalization_rule_name", "identity"},
      {"remove_extra_whitespaces", "false"},
      {"allow_whitespace_only_pieces", "true"},
      {"split_digits", "true"},
      {"character_coverage", std::to_string(options.character_coverage)},
      {"input_sentence_size", std::to_string(options.max_sentences)},
      {"shuffle_input_sentence", "true"},
      {"unk_id", "0"}, {"bos_id", "1"}, {"eos_id", "2"}, {"pad_id", "3"},
      {"num_threads", std::to_string(threads)},
      {"minloglevel", "2"},  // SentencePiece logs every step to stderr otherwise
  };
  sentencepiece::SetRandomGeneratorSeed(unsigned(options.seed));
  LineIterator lines(files);
  std::string model;
  auto status = sentencepiece::SentencePieceTrainer::Train(kwargs, &lines, &model);
  ATTNLAB_CHECK(status.ok(), "train_sentencepiece (vocabulary ", vocab_size, ", ", files.size(),
                " file(s)): ", status.ToString());

  sentencepiece::SentencePieceProcessor sp;
  status = sp.LoadFromSerializedProto(model);
  ATTNLAB_CHECK(status.ok(), "train_sentencepiece: the trained model does not load: ", status.ToString());
  std::string vocab;
  for (int i = 0; i < sp.GetPieceSize(); ++i)
    vocab += cat(sp.IdToPiece(i), '\t', sp.GetScore(i), '\n');
  std::string model_path = model_prefix + ".model";
  io::write_file_atomic(model_path, model);
  io::write_file_atomic(model_prefix + ".vocab", vocab);
  return model_path;
}

}  // namespace attnlab::data
