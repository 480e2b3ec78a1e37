// The attention tile loops as plain scalar code (see attention_tiles.h): the fallback for
// any CPU, and the check that the vector builds agree with one that uses no vectors. The
// auto-vectoriser is off in the region, so it stays scalar whatever -march says.
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "attnlab/kernels/cpu/attention_tiles.h"

#pragma GCC push_options
#pragma GCC optimize("no-tree-vectorize", "no-tree-slp-vectorize")
#define ATTNLAB_TILES_NS scalar
#define ATTNLAB_TILES_VEC_BYTES 0
#define ATTNLAB_TILES_BLOCK_ROWS 4
#include "attnlab/kernels/cpu/attention_tiles_impl.h"
#pragma GCC pop_options

void attnlab::kernels::detail::fill_tile_ops_scalar(TileOps<float>& f, TileOps<double>& d) {
  scalar::fill(f, d);
}
