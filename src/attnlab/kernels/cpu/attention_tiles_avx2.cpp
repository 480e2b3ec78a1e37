// The attention tile loops for AVX2 with FMA (see attention_tiles.h). AVX-512 is switched
// off in the region even when the build targets it, so this is the code an AVX2-only CPU
// runs, and the tests exercise it on any machine that has AVX2.
#if defined(__x86_64__)
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "attnlab/kernels/cpu/attention_tiles.h"

#pragma GCC push_options
#pragma GCC target("no-avx512f,avx2,fma")
#define ATTNLAB_TILES_NS avx2
#define ATTNLAB_TILES_VEC_BYTES 32
#define ATTNLAB_TILES_BLOCK_ROWS 6  // 12 accumulators of 16 vector registers
#include "attnlab/kernels/cpu/attention_tiles_impl.h"
#pragma GCC pop_options

void attnlab::kernels::detail::fill_tile_ops_avx2(TileOps<float>& f, TileOps<double>& d) {
  avx2::fill(f, d);
}
#endif
