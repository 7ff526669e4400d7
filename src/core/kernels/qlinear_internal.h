#pragma once
// Internals shared by qlinear.cpp (formats), qlinear_kernels.cpp (driver, x preparation,
// scalar and AVX2 kernels) and qlinear_avx512.cpp (AVX512_VNNI / AVX512_BF16 kernels).
// Not part of the public API; the packed weight layouts are documented in qlinear.h.
//
// The driver splits out(M,N) into tiles of mr rows of x (mr <= a path's max_mr) times nv
// groups of 16 weight rows (nv <= max_nv). Before the kernels run, x is rewritten once per
// call into "x tiles" matching the weight chunks, so a kernel reads both operands as
// contiguous streams and broadcasts 4 bytes of x per chunk and row of the tile:
//   q8 tile (rows m0..m0+mr-1), K/32 blocks b:
//     xq   int8  [b][j < 8][i < mr][4]  = qx[m0+i][32b + 4j + 0..3]     at xq + m0*K
//     dx   float [b][i < mr]            = scale of that block of x        at dx + m0*K/32
//     corr int32 [b][i < mr]            = -128 * sum of the block's qx    at corr + m0*K/32
//       (vpdpbusd multiplies the stored q+128 by qx; corr removes the +128 again)
//   f32 tile:
//     x    float  [k < K][i < mr]  = x[m0+i][k]                                at x + m0*K
//   bf16 tile, P = ceil(K/2) pairs:
//     x    uint32 [j < P][i < mr] = bf16(x[m0+i][2j]) | bf16(x[m0+i][2j+1]) << 16  at x + m0*P
#include <algorithm>
#include <cstdint>

namespace nexus::kernels::detail {

/// The block of out one kernel call writes: mr rows of x by nv groups of 16 weight rows.
struct OutputTile {
  float* out;         // out(m0, n0)
  long ldo;           // row stride of out (N)
  int n_valid;        // valid output columns from n0 (<= 16*nv)
  const float* bias;  // bias + n0, or null
  bool accumulate;    // out += instead of out =
  int mr, nv;         // tile shape (the templated SIMD kernels know theirs)
};

/// One q8 kernel call: x tile (mr rows) times nv weight groups, over all K.
struct Q8Args {
  const uint8_t* w;      // packed values of the tile's first group
  const uint16_t* dw;    // packed fp16 scales of the tile's first group
  long w_stride;         // bytes from one group's values to the next (K/32 * 512)
  long dw_stride;        // scales from one group to the next (K/32 * 16)
  const int8_t* xq;      // x tile, layout above
  const float* dx;
  const int32_t* corr;
  int nb;                // K / 32
  OutputTile t;
};

/// One f32 kernel call: x tile (mr rows) times nv weight groups, over chunks [k0, k0 + K)
/// of one K block. A long K is cut into blocks so a weight tile's block stays in L2 while
/// every row tile passes over it; each output's chain of FMAs then continues from the
/// partial sums the previous block left, so the result does not depend on the blocking.
struct F32Args {
  const float* w;       // chunk k0 of the tile's first group
  long w_stride;        // floats from one group to the next (K_total * 16)
  const float* x;       // x tile at chunk k0 (layout above: x + m0*K_total + k0*mr)
  int K;                // chunks in this block
  OutputTile t;
  const float* acc_in;  // partial sums to continue, [i < mr][16*nv]; null: start from 0
  float* acc_out;       // if set: write the raw partial sums here (same layout), not out
  const float* next;    // the block to be computed next (chunk 0 of its first group, same
                        // stride), pulled into L2 along the way; null for none
  int next_nv;          // groups of that block
  int next_len;         // chunks of that block
  int next_k0;          // this call prefetches its chunks next_k0, next_k0 + 1, ...
  int next_every;       // ... one chunk per group every next_every steps of k (>= 1)
};

/// One bf16 kernel call: x tile (mr rows) times nv weight groups, over all K.
struct Bf16Args {
  const uint16_t* w;  // packed pairs of the tile's first group
  long w_stride;      // uint16 elements from one group to the next (P * 32)
  const uint32_t* x;  // x tile, layout above
  int np;             // P, pairs along K
  OutputTile t;
};

using F32Kernel = void (*)(const F32Args&);
using Q8Kernel = void (*)(const Q8Args&);
using Bf16Kernel = void (*)(const Bf16Args&);

/// Tile shape: up to mr rows of x by nv groups of 16 weight rows.
struct TileShape {
  int mr = 0;
  int nv = 0;
};

/// The kernels of one ISA path and the tile shapes it wants.
template <class Kernel>
struct KernelTable {
  TileShape large;   // M > one_pass_m: the register tile with the most arithmetic per load
  int small_m = 0;   // M <= small_m (bandwidth-bound decode): tiles of M rows by small_nv
  int small_nv = 0;  // groups, i.e. more weight streams in flight per thread
  Kernel (*get)(int mr, int nv) = nullptr;  // every mr, nv up to those of all shapes
  int one_pass_m = 0;    // small_m < M <= one_pass_m: one tile of all M rows, so each weight
  int accumulators = 0;  // is read once; as many groups as fit `accumulators` registers

  /// The tile shape for a call with M rows of x.
  TileShape shape(int M) const {
    if (M <= small_m) return {M, small_nv};
    if (M <= one_pass_m) return {M, std::clamp(accumulators / M, 1, small_nv)};
    return large;
  }
};

/// AVX-512F f32 kernels (qlinear_avx512.cpp). Call only when cpu_features().avx512f.
const KernelTable<F32Kernel>& f32_avx512_table();
/// AVX512_VNNI q8 kernels (qlinear_avx512.cpp). Call only when cpu_features().avx512vnni.
const KernelTable<Q8Kernel>& q8_avx512_table();
/// AVX512_BF16 kernels (qlinear_avx512.cpp). Call only when cpu_features().avx512bf16.
const KernelTable<Bf16Kernel>& bf16_avx512_table();

/// Valid lanes (0..16) of weight group v in a tile with n_valid valid columns.
inline int group_lanes(int n_valid, int v) {
  const int left = n_valid - 16 * v;
  return left <= 0 ? 0 : left >= 16 ? 16 : left;
}

}  // namespace nexus::kernels::detail
