// The safetensors format (checkpoints, DESIGN.md convention 8), written and read exactly
// as the reference implementation does:
//
//   8 bytes   N, the header length, unsigned little-endian
//   N bytes   JSON: {"__metadata__": {str: str}, name: {"dtype": "F32"|"F64"|"BF16"|"I32",
//             "shape": [...], "data_offsets": [begin, end]}, ...}, padded with spaces so
//             that 8 + N is a multiple of 8
//   the rest  the data buffer: each tensor's bytes, row-major little-endian, at
//             [begin, end) relative to the buffer's start; the tensors tile it with no
//             gaps and no overlaps
//
// Writes are atomic (io/atomic_file.h). Reads validate every field and throw one
// attnlab::Error naming the file and the problem; tensors are copied into fresh storage.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "attnlab/core/tensor.h"

namespace attnlab::io {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
using Metadata = std::map<std::string, std::string>;

// "F32", "F64", "BF16", "I32".
const char* safetensors_dtype_name(DType t);

// Writes `tensors` (in this order) and `metadata` to `path` atomically. Non-contiguous
// tensors (views) are packed. Names must be unique, non-empty and not "__metadata__".
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const Metadata& metadata = {});

struct SafetensorsFile {
  std::string path;  // where it was read from (for error messages)
  std::map<std::string, Tensor> tensors;
  Metadata metadata;
  // The names in file (data-offset) order.
  std::vector<std::string> order;

  // The named tensor; a missing name is an error naming the file and the nearest name.
  const Tensor& at(const std::string& name) const;
  bool contains(const std::string& name) const { return tensors.count(name) != 0; }
};

SafetensorsFile load_safetensors(const std::string& path);

// Parses a whole file held in memory; `source` names it in errors. load_safetensors
// maps the file and calls this.
SafetensorsFile parse_safetensors(const void* bytes, size_t size, const std::string& source);

}  // namespace attnlab::io
