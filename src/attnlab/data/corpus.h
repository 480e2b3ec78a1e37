// Corpus preparation: files or folders of text -> DIR/train.tok, DIR/val.tok, DIR/meta.json.
//
// Each file is one document. Files are found recursively under folder inputs, optionally
// filtered by a glob on the name, and sorted by path so the output depends only on the
// files' contents and names. The train/validation split is by document and decided by a
// hash of the document's key (its path relative to the input it was found under), so it
// does not depend on the machine, the order of the inputs or which other files exist.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace attnlab::data {

struct CorpusFile {
  std::string path;  // as found (input path joined with the relative path)
  std::string key;   // relative to its input folder; the file name for a file input
  uint64_t bytes = 0;
};

// Expands inputs (files or folders, recursive) into a sorted, de-duplicated file list.
// `pattern` (fnmatch glob, empty = all) filters files found in folders: against the file
// name, or against the relative path when it contains '/'. Files named directly are always
// kept. A missing input is an error naming it.
std::vector<CorpusFile> list_corpus_files(const std::vector<std::string>& inputs, const std::string& pattern = "");

// The validation-split rule: document i goes to validation when
//   u_i = uniform53(philox4x32(seed, kSplitStream, fnv1a64(key_i))) < val_fraction;
// if that leaves validation empty the document with the smallest u moves there, and if it
// leaves train empty the one with the largest u moves to train (needs >= 2 documents).
// Returns true for validation documents.
std::vector<bool> split_validation(const std::vector<std::string>& keys, uint64_t seed, double val_fraction);
std::string split_rule_description();

uint64_t fnv1a64(const std::string& s);

struct PrepareOptions {
  std::vector<std::string> inputs;
  std::string pattern;
  std::string out_dir;
  std::string tokenizer = "byte";  // a make_tokenizer spec
  double val_fraction = 0.05;
  uint64_t seed = 1234;
};

struct SplitSummary {
  int64_t documents = 0, tokens = 0, bytes = 0;
};

struct PrepareResult {
  SplitSummary train, val;
  int64_t empty_files = 0;  // skipped: an empty file is no document
  int32_t vocab_size = 0;
  std::string tokenizer_spec;
  double seconds = 0;
};

// Tokenises every document (EOS appended after each) and writes DIR/train.tok, DIR/val.tok
// and, last, DIR/meta.json (so meta.json's presence means the directory is complete).
PrepareResult prepare_corpus(const PrepareOptions& options);

}  // namespace attnlab::data
