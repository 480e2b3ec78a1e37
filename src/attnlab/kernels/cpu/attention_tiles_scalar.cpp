// The attention tile loops as plain scalar code (see attention_tiles.h): the fallback for
// any CPU, and the check that the vector builds agree with one that uses no vectors. On
// x86-64 the auto-vectoriser is off in the region, so it stays scalar whatever -march
// says; elsewhere (no AVX sets there) it is left on, so that this set, the only one, runs
// at the speed the build's target allows.
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "attnlab/kernels/cpu/attention_tiles.h"

#pragma GCC push_options
#if defined(__x86_64__)
#pragma GCC optimize("no-tree-vectorize", "no-tree-slp-vectorize")
#endif
#define ATTNLAB_TILES_NS scalar
#define ATTNLAB_TILES_VEC_BYTES 0
#define ATTNLAB_TILES_BLOCK_ROWS 4
#include "attnlab/kernels/cpu/attention_tiles_impl.h"
#pragma GCC pop_options

void attnlab::kernels::detail::fill_tile_ops_scalar(TileOps<float>& f, TileOps<double>& d) {
  scalar::fill(f, d);
}
