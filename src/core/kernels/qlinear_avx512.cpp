// AVX-512 kernels of qlinear_forward (compiled with -mavx512f ... -mavx512bf16 -mavx512vnni;
// entered only when cpu_features() reports AVX512_VNNI resp. AVX512_BF16). Operand layouts:
// qlinear.h (weights) and qlinear_internal.h (x tiles). Each kernel computes an MR x (16*NV)
// block of out over all of K in registers: per 64-byte weight chunk it loads NV chunks and
// broadcasts 4 bytes of x per row, then issues MR*NV vpdpbusd / vdpbf16ps.
// GCC 12 reports the deliberately undefined pass-through operand of some AVX-512 intrinsics
// (_mm512_undefined_ps in cvtph_ps / cvtepi32_ps) as uninitialized: a known false positive.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstring>
#include <utility>

#include "core/kernels/qlinear_internal.h"

namespace nexus::kernels::detail {
namespace {

// Tile shapes (measured on Zen4, 2 threads). q8: 6 x 32 for M > 3 (12 int32 + 12 f32
// accumulators); M <= 3 is bound by memory bandwidth, and 4 groups per tile (4 concurrent
// weight streams per thread) read ~25% faster than 2. bf16: 6 x 64 (24 accumulators).
// f32: M <= 3 streams 4 groups like q8; 4 <= M <= 16 (batched decode) takes all rows in one
// tile of up to 24 accumulators (16 x 16 at 16 rows: each weight read once, the next tile
// prefetched along; 3-12% faster than two passes of 8 x 48 at 16 rows); beyond, 8 x 48 (24
// accumulators, 3 weight vectors, 1 broadcast) passes over L2-sized blocks (prefill).
constexpr TileShape kQ8Large{6, 2}, kBf16Large{6, 4}, kF32Large{8, 3};
constexpr int kQ8SmallM = 3, kQ8SmallNv = 4, kF32SmallM = 3, kF32SmallNv = 4, kF32OnePassM = 16;
// Kernels are instantiated for every mr <= kGridMr (f32: kF32GridMr), nv <= kGridNv.
constexpr int kGridMr = 6, kF32GridMr = kF32OnePassM, kGridNv = 4;
// Row loops are unrolled by pragma (8 in q8/bf16, 16 in f32): a tile with more rows than its
// unroll count keeps its accumulators on the stack and runs several times slower.
static_assert(kGridMr <= 8 && kF32GridMr <= 16, "raise the kernels' #pragma GCC unroll counts");

// Writes row i of tile t: r = acc (+ bias) (+ out), lanes past n_valid untouched.
template <int NV>
inline void store_row(const OutputTile& t, int i, const __m512 (&acc)[NV]) {
  float* out = t.out + i * t.ldo;
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) {
    const int lanes = group_lanes(t.n_valid, v);
    const __mmask16 m = static_cast<__mmask16>((1u << lanes) - 1u);
    __m512 r = acc[v];
    if (t.bias) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(m, t.bias + 16 * v));
    if (t.accumulate) r = _mm512_add_ps(_mm512_maskz_loadu_ps(m, out + 16 * v), r);
    _mm512_mask_storeu_ps(out + 16 * v, m, r);
  }
}

inline int32_t load4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// q8 x q8: per block of 32 along K, int32 accumulators start at corr (-128 * sum qx) and
// gather sum((q+128)*qx) with vpdpbusd, i.e. the exact sum(q*qx); then
// accf += float(dot) * (dw * dx).
template <int MR, int NV>
void q8_vnni(const Q8Args& a) {
  __m512 accf[MR][NV];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) accf[i][v] = _mm512_setzero_ps();
  for (int b = 0; b < a.nb; ++b) {
    __m512i acci[MR][NV];
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const __m512i c = _mm512_set1_epi32(a.corr[b * MR + i]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acci[i][v] = c;
    }
    const int8_t* xb = a.xq + static_cast<long>(b) * 32 * MR;
    const uint8_t* wb = a.w + static_cast<long>(b) * 512;
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) {
      __m512i wv[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) wv[v] = _mm512_load_si512(wb + v * a.w_stride + j * 64);
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) {
        const __m512i xv = _mm512_set1_epi32(load4(xb + (j * MR + i) * 4));
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acci[i][v] = _mm512_dpbusd_epi32(acci[i][v], wv[v], xv);
      }
    }
    __m512 dw[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
      dw[v] = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(a.dw + v * a.dw_stride + b * 16)));
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const __m512 dx = _mm512_set1_ps(a.dx[b * MR + i]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v)
        accf[i][v] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acci[i][v]), _mm512_mul_ps(dw[v], dx), accf[i][v]);
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) store_row<NV>(a.t, i, accf[i]);
}

// f32: per k one chunk of 16 rows per group, one broadcast of x per row, MR*NV FMAs.
template <int MR, int NV>
void f32_fma(const F32Args& a) {
  __m512 acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
      acc[i][v] = a.acc_in ? _mm512_loadu_ps(a.acc_in + (i * NV + v) * 16) : _mm512_setzero_ps();
  int pf_wait = a.next_every;
  long pf_k = a.next_k0;
#pragma GCC unroll 2
  for (int k = 0; k < a.K; ++k) {
    if (a.next && --pf_wait == 0) {
      pf_wait = a.next_every;
      if (pf_k < a.next_len)
        for (int v = 0; v < a.next_nv; ++v)
          _mm_prefetch(reinterpret_cast<const char*>(a.next + v * a.w_stride + pf_k * 16L), _MM_HINT_T1);
      ++pf_k;
    }
    __m512 wv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) wv[v] = _mm512_load_ps(a.w + v * a.w_stride + k * 16L);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m512 xv = _mm512_set1_ps(a.x[static_cast<long>(k) * MR + i]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(xv, wv[v], acc[i][v]);
    }
  }
  if (a.acc_out) {
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) _mm512_storeu_ps(a.acc_out + (i * NV + v) * 16, acc[i][v]);
    return;
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) store_row<NV>(a.t, i, acc[i]);
}

// bf16 x bf16 with f32 accumulation: one vdpbf16ps per chunk of 16 rows x 2 values.
template <int MR, int NV>
void bf16_dp(const Bf16Args& a) {
  __m512 acc[MR][NV];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
#pragma GCC unroll 2
  for (int j = 0; j < a.np; ++j) {
    __m512i wv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) wv[v] = _mm512_load_si512(a.w + v * a.w_stride + static_cast<long>(j) * 32);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const __m512i xv = _mm512_set1_epi32(static_cast<int>(a.x[static_cast<long>(j) * MR + i]));
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_dpbf16_ps(acc[i][v], (__m512bh)wv[v], (__m512bh)xv);
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) store_row<NV>(a.t, i, acc[i]);
}

template <size_t... I>
F32Kernel f32_pick(int mr, int nv, std::index_sequence<I...>) {
  static constexpr F32Kernel table[] = {&f32_fma<I / kGridNv + 1, I % kGridNv + 1>...};
  return table[(mr - 1) * kGridNv + (nv - 1)];
}

template <size_t... I>
Q8Kernel q8_pick(int mr, int nv, std::index_sequence<I...>) {
  static constexpr Q8Kernel table[] = {&q8_vnni<I / kGridNv + 1, I % kGridNv + 1>...};
  return table[(mr - 1) * kGridNv + (nv - 1)];
}

template <size_t... I>
Bf16Kernel bf16_pick(int mr, int nv, std::index_sequence<I...>) {
  static constexpr Bf16Kernel table[] = {&bf16_dp<I / kGridNv + 1, I % kGridNv + 1>...};
  return table[(mr - 1) * kGridNv + (nv - 1)];
}

}  // namespace

const KernelTable<F32Kernel>& f32_avx512_table() {
  static const KernelTable<F32Kernel> t{kF32Large, kF32SmallM, kF32SmallNv,
                                        [](int mr, int nv) {
                                          return f32_pick(mr, nv, std::make_index_sequence<kF32GridMr * kGridNv>());
                                        },
                                        kF32OnePassM, 24};
  return t;
}

const KernelTable<Q8Kernel>& q8_avx512_table() {
  static const KernelTable<Q8Kernel> t{kQ8Large, kQ8SmallM, kQ8SmallNv, [](int mr, int nv) {
                                         return q8_pick(mr, nv, std::make_index_sequence<kGridMr * kGridNv>());
                                       }};
  return t;
}

const KernelTable<Bf16Kernel>& bf16_avx512_table() {
  static const KernelTable<Bf16Kernel> t{kBf16Large, 0, 0, [](int mr, int nv) {
                                           return bf16_pick(mr, nv, std::make_index_sequence<kGridMr * kGridNv>());
                                         }};
  return t;
}

}  // namespace nexus::kernels::detail
