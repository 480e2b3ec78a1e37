// Embedding lookup: rows of a table gathered by integer ids (token embeddings).
// Shapes: ids [...] int32, table [V, C] float -> [..., C].
#pragma once
#include "attnlab/core/tensor.h"

namespace attnlab::ops {

// out[..., :] = table[ids[...], :]. Every id must lie in [0, V); the error names the
// first bad id, its position in `ids` and V. Differentiable w.r.t. the table only.
Tensor embedding(const Tensor& ids, const Tensor& table);

}  // namespace attnlab::ops
