// AVX-512 microkernels (compiled with -mavx512f... ; entered only when cpu_features()
// reports AVX-512). Packed-panel layout: see matmul_internal.h.
#include <immintrin.h>

#include "core/kernels/matmul_internal.h"

namespace nexus::kernels::detail {
namespace {

// MR x (16*NV) register tile: MR*NV zmm accumulators. Per k step it loads NV vectors of B
// and broadcasts MR scalars of A (folded into the FMA as {1to16} memory operands), so it
// issues MR*NV FMAs for NV + MR loads. Zen4 retires one zmm FMA per cycle with latency 4,
// so >= 8 independent accumulators keep the FMA pipes full.
template <int MR, int NV>
void kernel_avx512(int kc, const float* a, const float* b, float* c, long ldc, float beta) {
  constexpr int NR = 16 * NV;
  __m512 acc[MR][NV];
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
  // Warm the C tile while the k loop runs (it is read or overwritten at the end).
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i) _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
#pragma GCC unroll 2
  for (int k = 0; k < kc; ++k) {
    __m512 bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = _mm512_load_ps(b + k * NR + 16 * v);
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i) {
      const __m512 ai = _mm512_set1_ps(a[k * MR + i]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
    }
  }
  if (beta == 0.0f) {
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) _mm512_storeu_ps(c + i * ldc + 16 * v, acc[i][v]);
  } else {
    const __m512 vb = _mm512_set1_ps(beta);
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        float* p = c + i * ldc + 16 * v;
        _mm512_storeu_ps(p, _mm512_fmadd_ps(vb, _mm512_loadu_ps(p), acc[i][v]));
      }
  }
}

#ifndef NEXUS_AVX512_MR
#define NEXUS_AVX512_MR 16
#endif
#ifndef NEXUS_AVX512_NV
#define NEXUS_AVX512_NV 1
#endif
#ifndef NEXUS_AVX512_KC
#define NEXUS_AVX512_KC 384
#endif
#ifndef NEXUS_AVX512_MC
#define NEXUS_AVX512_MC 192
#endif
#ifndef NEXUS_AVX512_NC
#define NEXUS_AVX512_NC 1024
#endif

}  // namespace

const KernelSpec& avx512_spec() {
  static const KernelSpec spec{NEXUS_AVX512_MR, 16 * NEXUS_AVX512_NV, NEXUS_AVX512_KC,
                               NEXUS_AVX512_MC, NEXUS_AVX512_NC,
                               &kernel_avx512<NEXUS_AVX512_MR, NEXUS_AVX512_NV>, true};
  return spec;
}

}  // namespace nexus::kernels::detail
