// Tokenizers: text <-> token ids, the first stage of DESIGN.md's data flow.
//
// A tokenizer is named by a spec string that recreates it ("byte", "spm:PATH"); corpora
// record the spec in their meta.json so a model is always paired with its tokenizer.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace attnlab::data {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Text to ids. No BOS/EOS is added: callers place them (prepare appends EOS per document).
  virtual std::vector<int32_t> encode(std::string_view text) const = 0;
  // Ids to text. Special ids (BOS, EOS, PAD) produce no text; an id outside
  // [0, vocab_size) is an error.
  virtual std::string decode(std::span<const int32_t> ids) const = 0;
  virtual int32_t vocab_size() const = 0;
  // Special ids; -1 where the tokenizer has none (only possible for SentencePiece
  // models trained elsewhere; EOS always exists because documents end with it).
  virtual int32_t bos_id() const = 0;
  virtual int32_t eos_id() const = 0;
  virtual int32_t pad_id() const = 0;
  virtual std::string name() const = 0;  // "byte", "sentencepiece"
  virtual std::string spec() const = 0;  // make_tokenizer(spec()) builds an equal tokenizer
};

// Ids 0..255 are the bytes themselves, so any byte string round-trips exactly (invalid
// UTF-8 included); BOS = 256, EOS = 257, PAD = 258; vocabulary 259.
class ByteTokenizer final : public Tokenizer {
 public:
  static constexpr int32_t kBos = 256, kEos = 257, kPad = 258, kVocab = 259;
  std::vector<int32_t> encode(std::string_view text) const override;
  std::string decode(std::span<const int32_t> ids) const override;
  int32_t vocab_size() const override { return kVocab; }
  int32_t bos_id() const override { return kBos; }
  int32_t eos_id() const override { return kEos; }
  int32_t pad_id() const override { return kPad; }
  std::string name() const override { return "byte"; }
  std::string spec() const override { return "byte"; }
};

// A SentencePiece model (Debian's libsentencepiece). Models trained by
// train_sentencepiece round-trip every valid UTF-8 text exactly (identity normalisation,
// whitespace kept, byte fallback); invalid UTF-8 comes back with U+FFFD in its place,
// which is SentencePiece's behaviour and why the byte tokenizer is the default.
class SentencePieceTokenizer final : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(const std::string& model_path);
  ~SentencePieceTokenizer() override;
  std::vector<int32_t> encode(std::string_view text) const override;
  std::string decode(std::span<const int32_t> ids) const override;
  int32_t vocab_size() const override { return vocab_size_; }
  int32_t bos_id() const override { return bos_; }
  int32_t eos_id() const override { return eos_; }
  int32_t pad_id() const override { return pad_; }
  std::string name() const override { return "sentencepiece"; }
  std::string spec() const override { return "spm:" + path_; }
  std::string piece(int32_t id) const;  // the piece's text, e.g. "▁the" or "<0x0A>"

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_;  // absolute, so the spec does not depend on the working directory
  int32_t vocab_size_ = 0, bos_ = -1, eos_ = -1, pad_ = -1;
};

// "byte" or "spm:PATH". A bad spec or a missing/unreadable model is one clear error.
std::unique_ptr<Tokenizer> make_tokenizer(const std::string& spec);

struct SentencePieceTrainOptions {
  int64_t max_sentences = 2'000'000;  // lines sampled for training (SentencePiece's input_sentence_size)
  uint64_t seed = 1234;               // sampling seed, so training is repeatable
  double character_coverage = 0.9995; // rarer characters fall back to bytes
  int threads = 0;                    // 0: attnlab's thread count
};

// Trains a BPE model on the lines of `files` and writes MODEL_PREFIX.model and
// MODEL_PREFIX.vocab (piece, tab, score) atomically. Ids: 0 <unk>, 1 <s> (BOS), 2 </s>
// (EOS), 3 <pad>, then the 256 byte pieces and the merges. Returns the model's path.
std::string train_sentencepiece(const std::vector<std::string>& files, int vocab_size,
                                const std::string& model_prefix,
                                const SentencePieceTrainOptions& options = {});

}  // namespace attnlab::data
