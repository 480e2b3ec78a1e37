// The LRA tasks on disk and in memory. `attnlab lra generate` writes a task folder:
//   listops:        basic_train.tsv, basic_val.tsv, basic_test.tsv (LRA's files: a header
//                   "Source\tTarget", then one expression and its value per line)
//   pathfinder32 / pathfinder128:
//                   train.bin, val.bin, test.bin: "ATPF", uint32 version 1, int64 count,
//                   int64 side, then per image uint8 label and side * side uint8 pixels
//   task.txt        the task name and the generation options, for people
// Reading a split gives token sequences: ListOps words as ids (listops.h), Pathfinder
// pixels in raster order as ids 0..255 (LRA's pixel-as-token input).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "attnlab/lra/listops.h"
#include "attnlab/lra/pathfinder.h"

namespace attnlab::lra {

struct Example {
  std::vector<int32_t> tokens;
  int32_t label = 0;
};

struct TaskSplit {
  std::string task;      // listops | pathfinder32 | pathfinder128
  int64_t vocab = 0;     // token ids are in [0, vocab)
  int64_t classes = 0;
  std::vector<Example> examples;
};

struct GenerateOptions {
  std::string task = "listops";
  int64_t train = 96000, val = 2000, test = 2000;
  uint64_t seed = 1;
  ListOpsOptions listops;
  PathfinderOptions pathfinder;  // size is set from the task name
};

const std::vector<std::string>& lra_task_names();
int64_t task_classes(const std::string& task);
int64_t task_vocab(const std::string& task);

// Writes the three splits into `dir` (created if missing). Deterministic in the seed.
void generate_task(const GenerateOptions& opt, const std::string& dir);

// Reads one split ("train" | "val" | "test") of `task` from `dir`; errors name the file.
TaskSplit read_split(const std::string& dir, const std::string& task, const std::string& split);

// The pieces generate_task writes, for tests.
void write_listops_tsv(const std::string& path, const std::vector<ListOpsExample>& examples);
void write_pathfinder_bin(const std::string& path, const std::vector<PathfinderImage>& images);

}  // namespace attnlab::lra
