// AVX-512 path of small_gemm (compiled with the AVX-512 flags; entered only when
// active_isa() is Avx512). Same arithmetic as the AVX2 tiles in small_gemm.cpp: every output
// is one chain of FMAs over k in order, so both paths give bit-identical results; a zmm
// tile just covers twice the columns per instruction.
#include <immintrin.h>

#include "core/kernels/small_gemm.h"

namespace nexus::kernels::detail {

namespace {

// R rows x (16*NV) columns of C (the last vector masked to `last_lanes` lanes) in R*NV zmm
// accumulators; per k: NV loads of B, R broadcasts of A, R*NV FMAs. R = 6, NV = 4 uses 24
// accumulators + 4 B vectors + 1 broadcast of the 32 zmm registers.
template <int R, int NV>
inline void tile(int K, const float* a, long a_rs, long a_ks, const float* b, long ldb, float* c, long ldc,
                 bool accumulate, __mmask16 last) {
  __m512 acc[R][NV];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      const __mmask16 m = v == NV - 1 ? last : (__mmask16)0xFFFF;
      acc[r][v] = accumulate ? _mm512_maskz_loadu_ps(m, c + r * ldc + 16 * v) : _mm512_setzero_ps();
    }
  const float* arow[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) arow[r] = a + r * a_rs;
  for (int k = 0; k < K; ++k) {
    __m512 bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
      bv[v] = _mm512_maskz_loadu_ps(v == NV - 1 ? last : (__mmask16)0xFFFF, b + k * ldb + 16 * v);
    const long ak = k * a_ks;
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512 ar = _mm512_set1_ps(arow[r][ak]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(ar, bv[v], acc[r][v]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
      _mm512_mask_storeu_ps(c + r * ldc + 16 * v, v == NV - 1 ? last : (__mmask16)0xFFFF, acc[r][v]);
}

template <int NV>
void row_group(int rows, int K, const float* a, long a_rs, long a_ks, const float* b, long ldb, float* c, long ldc,
               bool accumulate, __mmask16 last) {
  switch (rows) {
    case 6: tile<6, NV>(K, a, a_rs, a_ks, b, ldb, c, ldc, accumulate, last); break;
    case 5: tile<5, NV>(K, a, a_rs, a_ks, b, ldb, c, ldc, accumulate, last); break;
    case 4: tile<4, NV>(K, a, a_rs, a_ks, b, ldb, c, ldc, accumulate, last); break;
    case 3: tile<3, NV>(K, a, a_rs, a_ks, b, ldb, c, ldc, accumulate, last); break;
    case 2: tile<2, NV>(K, a, a_rs, a_ks, b, ldb, c, ldc, accumulate, last); break;
    default: tile<1, NV>(K, a, a_rs, a_ks, b, ldb, c, ldc, accumulate, last); break;
  }
}

}  // namespace

void small_gemm_rows_avx512(int rows, int N, int K, const float* a, long a_rs, long a_ks, const float* b, long ldb,
                            float* c, long ldc, bool accumulate) {
  int j = 0;
  for (; j + 64 <= N; j += 64) row_group<4>(rows, K, a, a_rs, a_ks, b + j, ldb, c + j, ldc, accumulate, 0xFFFF);
  // The rest (N - j < 64, a multiple of 8) in 1..4 vectors, the last one possibly half.
  const int left = N - j;
  if (left == 0) return;
  const int vectors = (left + 15) / 16;
  const __mmask16 last = left % 16 == 0 ? (__mmask16)0xFFFF : (__mmask16)0x00FF;
  switch (vectors) {
    case 4: row_group<4>(rows, K, a, a_rs, a_ks, b + j, ldb, c + j, ldc, accumulate, last); break;
    case 3: row_group<3>(rows, K, a, a_rs, a_ks, b + j, ldb, c + j, ldc, accumulate, last); break;
    case 2: row_group<2>(rows, K, a, a_rs, a_ks, b + j, ldb, c + j, ldc, accumulate, last); break;
    default: row_group<1>(rows, K, a, a_rs, a_ks, b + j, ldb, c + j, ldc, accumulate, last); break;
  }
}

}  // namespace nexus::kernels::detail
