#include "attnlab/lra/dataset.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "attnlab/core/error.h"
#include "attnlab/io/atomic_file.h"

namespace attnlab::lra {

const std::vector<std::string>& lra_task_names() {
  static const std::vector<std::string> names = {"listops", "pathfinder32", "pathfinder128"};
  return names;
}

namespace {
void check_task(const std::string& task) {
  for (const auto& n : lra_task_names())
    if (n == task) return;
  throw Error(cat("lra: unknown task '", task, "' (known: listops, pathfinder32, pathfinder128)"));
}
}  // namespace

int64_t task_classes(const std::string& task) {
  check_task(task);
  return task == "listops" ? 10 : 2;
}

int64_t task_vocab(const std::string& task) {
  check_task(task);
  return task == "listops" ? kListOpsVocab : 256;
}

void write_listops_tsv(const std::string& path, const std::vector<ListOpsExample>& examples) {
  std::string text = "Source\tTarget\n";
  for (const auto& e : examples) text += e.source + "\t" + std::to_string(e.label) + "\n";
  io::write_file_atomic(path, text);
}

void write_pathfinder_bin(const std::string& path, const std::vector<PathfinderImage>& images) {
  std::string bytes = "ATPF";
  auto put = [&](const void* p, size_t n) { bytes.append(static_cast<const char*>(p), n); };
  uint32_t version = 1;
  int64_t count = int64_t(images.size()), side = images.empty() ? 0 : images[0].size;
  put(&version, 4), put(&count, 8), put(&side, 8);
  for (const auto& img : images) {
    ATTNLAB_CHECK(img.size == side, "pathfinder: images of different sizes in one split");
    uint8_t label = uint8_t(img.label);
    put(&label, 1);
    put(img.pixels.data(), img.pixels.size());
  }
  io::write_file_atomic(path, bytes);
}

void generate_task(const GenerateOptions& opt, const std::string& dir) {
  check_task(opt.task);
  ATTNLAB_CHECK(opt.train >= 0 && opt.val >= 0 && opt.test >= 0, "lra generate: split sizes must be >= 0");
  std::filesystem::create_directories(dir);
  std::ostringstream info;
  info << "task " << opt.task << "\nseed " << opt.seed << "\ntrain " << opt.train << "\nval " << opt.val
       << "\ntest " << opt.test << "\n";
  if (opt.task == "listops") {
    // One pool of unique trees, cut into the splits (no expression in two splits).
    Rng rng(opt.seed);
    auto all = generate_listops(opt.listops, opt.train + opt.val + opt.test, rng);
    auto part = [&](int64_t a, int64_t n) {
      return std::vector<ListOpsExample>(all.begin() + a, all.begin() + a + n);
    };
    write_listops_tsv(dir + "/basic_train.tsv", part(0, opt.train));
    write_listops_tsv(dir + "/basic_val.tsv", part(opt.train, opt.val));
    write_listops_tsv(dir + "/basic_test.tsv", part(opt.train + opt.val, opt.test));
    info << "max_depth " << opt.listops.max_depth << "\nmax_args " << opt.listops.max_args << "\nmin_length "
         << opt.listops.min_length << "\nmax_length " << opt.listops.max_length << "\n";
  } else {
    PathfinderOptions po = opt.pathfinder;
    const char* names[] = {"train", "val", "test"};
    int64_t sizes[] = {opt.train, opt.val, opt.test};
    for (int s = 0; s < 3; ++s) {
      Rng rng(opt.seed, uint64_t(s) << 40);  // disjoint counter ranges per split
      std::vector<PathfinderImage> images;
      for (int64_t i = 0; i < sizes[s]; ++i) images.push_back(generate_pathfinder(po, int(rng.next_below(2)), rng));
      write_pathfinder_bin(dir + "/" + names[s] + ".bin", images);
    }
    info << "size " << po.size << "\ncontour_length " << po.contour_length << "\npaddle_length "
         << po.paddle_length << "\nmax_turn_deg " << po.max_turn_deg << "\nmarker_radius " << po.marker_radius
         << "\ndistractor_contours " << po.distractor_contours << "\ndistractor_paddles "
         << po.distractor_paddles << "\n";
  }
  io::write_file_atomic(dir + "/task.txt", info.str());
}

TaskSplit read_split(const std::string& dir, const std::string& task, const std::string& split) {
  check_task(task);
  ATTNLAB_CHECK(split == "train" || split == "val" || split == "test", "lra: unknown split '", split,
                "' (train | val | test)");
  TaskSplit out;
  out.task = task;
  out.vocab = task_vocab(task);
  out.classes = task_classes(task);
  if (task == "listops") {
    std::string path = dir + "/basic_" + split + ".tsv";
    std::ifstream in(path);
    ATTNLAB_CHECK(in, "lra: cannot open ", path, " (run `attnlab lra generate --task listops` first)");
    std::string line;
    std::getline(in, line);
    ATTNLAB_CHECK(line == "Source\tTarget", path, ":1: expected the header 'Source<TAB>Target'");
    for (int64_t ln = 2; std::getline(in, line); ++ln) {
      if (line.empty()) continue;
      size_t tab = line.rfind('\t');
      ATTNLAB_CHECK(tab != std::string::npos, path, ":", ln, ": expected 'expression<TAB>value'");
      Example e;
      try {
        e.tokens = listops_tokens(line.substr(0, tab));
        e.label = std::stoi(line.substr(tab + 1));
      } catch (const Error& err) {
        throw Error(cat(path, ":", ln, ": ", err.what()));
      } catch (const std::exception&) {
        throw Error(cat(path, ":", ln, ": the value is not an integer"));
      }
      ATTNLAB_CHECK(e.label >= 0 && e.label < 10 && !e.tokens.empty(), path, ":", ln, ": value outside 0..9 or empty expression");
      out.examples.push_back(std::move(e));
    }
    return out;
  }
  std::string path = dir + "/" + split + ".bin";
  std::ifstream in(path, std::ios::binary);
  ATTNLAB_CHECK(in, "lra: cannot open ", path, " (run `attnlab lra generate --task ", task, "` first)");
  char magic[4];
  uint32_t version = 0;
  int64_t count = 0, side = 0;
  in.read(magic, 4);
  in.read(reinterpret_cast<char*>(&version), 4);
  in.read(reinterpret_cast<char*>(&count), 8);
  in.read(reinterpret_cast<char*>(&side), 8);
  ATTNLAB_CHECK(in && std::memcmp(magic, "ATPF", 4) == 0 && version == 1, path, ": not a pathfinder file (version 1)");
  int64_t want = task == "pathfinder32" ? 32 : 128;
  ATTNLAB_CHECK(count == 0 || side == want, path, ": images are ", side, " px, task ", task, " wants ", want);
  for (int64_t i = 0; i < count; ++i) {
    Example e;
    uint8_t label = 0;
    std::vector<uint8_t> px(static_cast<size_t>(side * side));
    in.read(reinterpret_cast<char*>(&label), 1);
    in.read(reinterpret_cast<char*>(px.data()), std::streamsize(px.size()));
    ATTNLAB_CHECK(in && label <= 1, path, ": truncated or corrupt at image ", i, " of ", count);
    e.label = label;
    e.tokens.assign(px.begin(), px.end());
    out.examples.push_back(std::move(e));
  }
  return out;
}

}  // namespace attnlab::lra
