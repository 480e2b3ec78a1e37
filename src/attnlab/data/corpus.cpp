#include "attnlab/data/corpus.h"

#include <fnmatch.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "attnlab/core/error.h"
#include "attnlab/core/parallel.h"
#include "attnlab/core/rng.h"
#include "attnlab/io/atomic_file.h"
#include "attnlab/data/token_file.h"
#include "attnlab/data/tokenizer.h"

namespace attnlab::data {

namespace fs = std::filesystem;

namespace {

constexpr uint64_t kSplitStream = 0x53504c4954ull;  // "SPLIT": keeps this use of the seed apart
constexpr size_t kBatchBytes = size_t(16) << 20;    // text read and encoded per parallel batch
constexpr size_t kBatchDocs = 512;

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
  return s;
}

bool matches(const std::string& pattern, const fs::path& rel) {
  if (pattern.empty()) return true;
  bool by_path = pattern.find('/') != std::string::npos;
  std::string subject = by_path ? rel.generic_string() : rel.filename().string();
  return ::fnmatch(pattern.c_str(), subject.c_str(), by_path ? FNM_PATHNAME : 0) == 0;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  ATTNLAB_CHECK(in, "corpus: cannot open ", path);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ATTNLAB_CHECK(!in.bad(), "corpus: cannot read ", path);
  return s;
}

}  // namespace

uint64_t fnv1a64(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

std::vector<CorpusFile> list_corpus_files(const std::vector<std::string>& inputs, const std::string& pattern) {
  ATTNLAB_CHECK(!inputs.empty(), "corpus: no inputs given, expected files or folders");
  std::vector<CorpusFile> files;
  for (const std::string& input : inputs) {
    std::error_code ec;
    fs::file_status st = fs::status(input, ec);
    ATTNLAB_CHECK(fs::exists(st), "corpus: input ", input, " does not exist");
    if (fs::is_regular_file(st)) {
      uint64_t bytes = fs::file_size(input, ec);
      ATTNLAB_CHECK(!ec, "corpus: cannot read the size of ", input, ": ", ec.message());
      files.push_back({input, fs::path(input).filename().string(), bytes});
      continue;
    }
    ATTNLAB_CHECK(fs::is_directory(st), "corpus: input ", input, " is neither a file nor a folder");
    // Directory symlinks inside are not followed: a link cycle would never end.
    fs::recursive_directory_iterator it(input, ec), end;
    ATTNLAB_CHECK(!ec, "corpus: cannot list ", input, ": ", ec.message());
    for (; it != end; it.increment(ec)) {
      ATTNLAB_CHECK(!ec, "corpus: cannot list ", input, ": ", ec.message());
      std::error_code fe;
      if (!it->is_regular_file(fe)) continue;
      fs::path rel = it->path().lexically_relative(input);
      if (!matches(pattern, rel)) continue;
      uint64_t bytes = it->file_size(fe);
      ATTNLAB_CHECK(!fe, "corpus: cannot read the size of ", it->path().string(), ": ", fe.message());
      files.push_back({it->path().string(), rel.generic_string(), bytes});
    }
    ATTNLAB_CHECK(!ec, "corpus: cannot list ", input, ": ", ec.message());
  }
  std::sort(files.begin(), files.end(), [](const CorpusFile& a, const CorpusFile& b) { return a.path < b.path; });
  // One file reached twice (an input inside another, a link) is one document.
  std::set<std::string> seen;
  std::vector<CorpusFile> unique;
  for (auto& f : files) {
    std::error_code ec;
    fs::path canon = fs::canonical(f.path, ec);
    if (seen.insert(ec ? f.path : canon.string()).second) unique.push_back(std::move(f));
  }
  return unique;
}

std::vector<bool> split_validation(const std::vector<std::string>& keys, uint64_t seed, double val_fraction) {
  ATTNLAB_CHECK(val_fraction > 0.0 && val_fraction < 1.0, "corpus split: validation fraction ", val_fraction,
                ", expected a value in (0, 1)");
  ATTNLAB_CHECK(keys.size() >= 2, "corpus split: ", keys.size(),
                " document(s), the split is by document and needs at least 2 (each file is one document)");
  std::vector<double> u(keys.size());
  std::vector<bool> val(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    auto r = philox4x32(seed, kSplitStream, fnv1a64(keys[i]));
    u[i] = uniform53_from_bits(r[0], r[1]);
    val[i] = u[i] < val_fraction;
  }
  size_t n_val = size_t(std::count(val.begin(), val.end(), true));
  if (n_val == 0) val[size_t(std::min_element(u.begin(), u.end()) - u.begin())] = true;
  if (n_val == keys.size()) val[size_t(std::max_element(u.begin(), u.end()) - u.begin())] = false;
  return val;
}

std::string split_rule_description() {
  return "by document: validation when u = uniform53(philox4x32(seed, 0x53504c4954, fnv1a64(key))) < "
         "val_fraction, key = path relative to its input folder (file name for a file input); if no document "
         "qualifies the smallest u goes to validation, if all do the largest u goes to train";
}

PrepareResult prepare_corpus(const PrepareOptions& opt) {
  auto t0 = std::chrono::steady_clock::now();
  ATTNLAB_CHECK(!opt.out_dir.empty(), "data prepare: no output folder given");
  ATTNLAB_CHECK(opt.val_fraction > 0.0 && opt.val_fraction < 1.0, "data prepare: --val-fraction ",
                opt.val_fraction, ", expected a value in (0, 1)");
  std::unique_ptr<Tokenizer> tok = make_tokenizer(opt.tokenizer);

  std::vector<CorpusFile> all = list_corpus_files(opt.inputs, opt.pattern);
  std::vector<CorpusFile> docs;
  for (auto& f : all)
    if (f.bytes > 0) docs.push_back(f);
  std::string where = cat("inputs ", join(opt.inputs), opt.pattern.empty() ? "" : " (pattern " + opt.pattern + ")");
  ATTNLAB_CHECK(!all.empty(), "data prepare: empty corpus: no files found in ", where);
  ATTNLAB_CHECK(!docs.empty(), "data prepare: empty corpus: all ", all.size(), " files in ", where, " are empty");
  ATTNLAB_CHECK(docs.size() >= 2, "data prepare: 1 non-empty document in ", where,
                "; the train/validation split is by document and needs at least 2 (each file is one document)");

  std::vector<std::string> keys;
  for (const auto& d : docs) keys.push_back(d.key);
  std::vector<bool> is_val = split_validation(keys, opt.seed, opt.val_fraction);

  std::error_code ec;
  fs::create_directories(opt.out_dir, ec);
  ATTNLAB_CHECK(!ec, "data prepare: cannot create output folder ", opt.out_dir, ": ", ec.message());
  const fs::path out(opt.out_dir);
  // meta.json marks a complete directory, so an old one goes before anything is replaced.
  fs::remove(out / "meta.json", ec);
  ATTNLAB_CHECK(!ec, "data prepare: cannot remove the old ", (out / "meta.json").string(), ": ", ec.message());
  TokenFileWriter train(fs::path(out / "train.tok").string(), uint64_t(tok->vocab_size()));
  TokenFileWriter val(fs::path(out / "val.tok").string(), uint64_t(tok->vocab_size()));

  PrepareResult res;
  res.tokenizer_spec = tok->spec();
  res.vocab_size = tok->vocab_size();
  res.empty_files = int64_t(all.size() - docs.size());
  nlohmann::ordered_json doc_list = nlohmann::ordered_json::array();
  const int32_t eos = tok->eos_id();

  std::vector<std::string> texts;
  std::vector<std::vector<int32_t>> ids;
  std::vector<std::string> errors;
  for (size_t begin = 0; begin < docs.size();) {
    // Read a batch sequentially (I/O), encode it in parallel, append it in order.
    size_t end = begin, batch_bytes = 0;
    texts.clear();
    while (end < docs.size() && end - begin < kBatchDocs && (batch_bytes < kBatchBytes || end == begin)) {
      texts.push_back(read_file(docs[end].path));
      batch_bytes += texts.back().size();
      ++end;
    }
    const size_t n = end - begin;
    ids.assign(n, {});
    errors.assign(n, {});
    parallel_for(0, int64_t(n), 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        try {
          ids[size_t(i)] = tok->encode(texts[size_t(i)]);
          ids[size_t(i)].push_back(eos);
        } catch (const std::exception& ex) {
          errors[size_t(i)] = ex.what();  // exceptions must not cross the OpenMP region
        }
      }
    });
    for (size_t i = 0; i < n; ++i) {
      const CorpusFile& d = docs[begin + i];
      ATTNLAB_CHECK(errors[i].empty(), "data prepare: ", d.path, ": ", errors[i]);
      const bool v = is_val[begin + i];
      (v ? val : train).add_document(ids[i]);
      SplitSummary& s = v ? res.val : res.train;
      s.documents++;
      s.tokens += int64_t(ids[i].size());
      s.bytes += int64_t(texts[i].size());
      doc_list.push_back({{"path", d.path}, {"key", d.key}, {"split", v ? "val" : "train"},
                          {"bytes", texts[i].size()}, {"tokens", ids[i].size()}});
    }
    begin = end;
  }
  train.finish();
  val.finish();

  auto summary = [](const SplitSummary& s, const char* file) {
    return nlohmann::ordered_json{{"file", file}, {"documents", s.documents}, {"tokens", s.tokens}, {"bytes", s.bytes}};
  };
  nlohmann::ordered_json meta = {
      {"format", "attnlab-corpus"},
      {"version", 1},
      {"attnlab_version", ATTNLAB_VERSION},
      {"tokenizer", {{"spec", tok->spec()}, {"name", tok->name()}, {"vocab_size", tok->vocab_size()},
                     {"bos_id", tok->bos_id()}, {"eos_id", tok->eos_id()}, {"pad_id", tok->pad_id()}}},
      {"inputs", opt.inputs},
      {"pattern", opt.pattern},
      {"split", {{"seed", opt.seed}, {"val_fraction", opt.val_fraction}, {"rule", split_rule_description()}}},
      {"eos_after_each_document", true},
      {"empty_files_skipped", res.empty_files},
      {"train", summary(res.train, "train.tok")},
      {"val", summary(res.val, "val.tok")},
      {"documents", doc_list},
  };
  io::write_file_atomic(fs::path(out / "meta.json").string(), meta.dump(2) + "\n");
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

}  // namespace attnlab::data
