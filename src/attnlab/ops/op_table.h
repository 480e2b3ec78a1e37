// The one table of differentiable ops (ggml's op enum, as data). Every entry must have
// at least one gradient-check case (ops/gradcases.h); the gradcheck harness fails for
// an op without one, and for a case naming an op that is not in the table.
#pragma once
#include <string_view>
#include <vector>

namespace attnlab::ops {

struct OpInfo {
  const char* name;    // as used by GradCase::op and `attnlab gradcheck --op`
  const char* family;  // the source file: ops/<family>.cpp
  const char* summary;
};

const std::vector<OpInfo>& op_table();
const OpInfo* find_op(std::string_view name);

}  // namespace attnlab::ops
