// The attention tile loops for AVX-512 (see attention_tiles.h). The target region starts
// after every library header, so only the functions of attention_tiles_impl.h get
// AVX-512 code; the dispatcher calls them only on a CPU that has it.
#if defined(__x86_64__)
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "attnlab/kernels/cpu/attention_tiles.h"

#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")
#define ATTNLAB_TILES_NS avx512
#define ATTNLAB_TILES_VEC_BYTES 64
#define ATTNLAB_TILES_BLOCK_ROWS 8  // 16 accumulators of 32 vector registers
#include "attnlab/kernels/cpu/attention_tiles_impl.h"
#pragma GCC pop_options

void attnlab::kernels::detail::fill_tile_ops_avx512(TileOps<float>& f, TileOps<double>& d) {
  avx512::fill(f, d);
}
#endif
