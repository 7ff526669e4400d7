// AVX-512 path of gemv() (see gemv.cpp for the tiling). 32 zmm registers hold a 4 x 4 tile
// of accumulators, the 4 W vectors and the X vector; the ragged end of K is a masked load,
// so no scalar tail is needed.
#include <immintrin.h>

#include <algorithm>

#include "core/kernels/gemv.h"
#include "core/kernels/vecmath.h"

namespace nexus::kernels::detail {
namespace {

// Sum of the two 256-bit halves. (Vector-extension shuffles rather than the cast/extract
// intrinsics: GCC 12 implements those with an undefined vector and warns -Wuninitialized.)
inline __m256 fold(__m512 v) {
  const __m256 lo = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7);
  const __m256 hi = __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
  return _mm256_add_ps(lo, hi);
}

// Four horizontal sums at once: {sum(a), sum(b), sum(c), sum(d)}.
inline __m128 hsum4(__m512 a, __m512 b, __m512 c, __m512 d) {
  const __m256 ab = _mm256_hadd_ps(fold(a), fold(b));  // a01 a23 b01 b23 | a45 a67 b45 b67
  const __m256 cd = _mm256_hadd_ps(fold(c), fold(d));
  const __m256 abcd = _mm256_hadd_ps(ab, cd);  // a0-3 b0-3 c0-3 d0-3 | a4-7 b4-7 c4-7 d4-7
  return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

// Y[m, n..n+NR) for MR rows of X against NR rows of W over the whole depth K. When pf is
// set, the columns [pf_k0, pf_k1) of NR rows at pf (the same rows of the next block of W)
// are prefetched into L2 along the way, so DRAM streams the next block while this one is
// being computed from L2.
template <int MR, int NR>
void tile(int K, const float* X, long ldx, const float* W, long ldw, const float* bias, int n, float* Y, long ldy,
          bool accumulate, const float* pf, int pf_k0, int pf_k1) {
  __m512 acc[MR][NR];
#pragma GCC unroll 4
  for (int m = 0; m < MR; m++)
#pragma GCC unroll 4
    for (int r = 0; r < NR; r++) acc[m][r] = _mm512_setzero_ps();
  // One loop for the whole depth (a lambda or a separate tail would make GCC keep the
  // accumulators in memory); the last, partial step is a masked load.
  for (int k = 0; k < K; k += 16) {
    const __mmask16 mask = K - k >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (K - k)) - 1);
    if (pf && k >= pf_k0 && k < pf_k1)
#pragma GCC unroll 4
      for (int r = 0; r < NR; r++) _mm_prefetch(reinterpret_cast<const char*>(pf + r * ldw + k), _MM_HINT_T1);
    __m512 w[NR];
#pragma GCC unroll 4
    for (int r = 0; r < NR; r++) w[r] = _mm512_maskz_loadu_ps(mask, W + r * ldw + k);
#pragma GCC unroll 4
    for (int m = 0; m < MR; m++) {
      const __m512 x = _mm512_maskz_loadu_ps(mask, X + m * ldx + k);
#pragma GCC unroll 4
      for (int r = 0; r < NR; r++) acc[m][r] = _mm512_fmadd_ps(w[r], x, acc[m][r]);
    }
  }
#pragma GCC unroll 4
  for (int m = 0; m < MR; m++) {
    float sums[NR];
    if constexpr (NR == 4) {
      _mm_storeu_ps(sums, hsum4(acc[m][0], acc[m][1], acc[m][2], acc[m][3]));
    } else {
#pragma GCC unroll 4
      for (int r = 0; r < NR; r++) sums[r] = hsum8(fold(acc[m][r]));
    }
    float* y = Y + m * ldy + n;
    for (int r = 0; r < NR; r++) {
      const float s = bias ? sums[r] + bias[n + r] : sums[r];
      y[r] = accumulate ? y[r] + s : s;
    }
  }
}

// Dispatches a run-time row count 1..4 to the matching tile.
template <int NR>
void tile_rows(int mr, int K, const float* X, long ldx, const float* W, long ldw, const float* bias, int n, float* Y,
               long ldy, bool accumulate, const float* pf, int pf_k0, int pf_k1) {
  switch (mr) {
    case 4: tile<4, NR>(K, X, ldx, W, ldw, bias, n, Y, ldy, accumulate, pf, pf_k0, pf_k1); break;
    case 3: tile<3, NR>(K, X, ldx, W, ldw, bias, n, Y, ldy, accumulate, pf, pf_k0, pf_k1); break;
    case 2: tile<2, NR>(K, X, ldx, W, ldw, bias, n, Y, ldy, accumulate, pf, pf_k0, pf_k1); break;
    default: tile<1, NR>(K, X, ldx, W, ldw, bias, n, Y, ldy, accumulate, pf, pf_k0, pf_k1); break;
  }
}

}  // namespace

void gemv_rows_avx512(int M, int n0, int n1, int K, const float* X, int ldx, const float* W, int ldw,
                      const float* bias, float* Y, int ldy, bool accumulate) {
  constexpr int kMr = 4, kNr = 4;
  // Block of W rows kept in L2 (~256 KB) while all rows of X pass over it.
  const int nb = std::max(kNr, (int)(65536 / std::max(K, 1)) / kNr * kNr);
  const int chunks = (M + kMr - 1) / kMr;
  for (int b0 = n0; b0 < n1; b0 += nb) {
    const int b1 = std::min(n1, b0 + nb);
    for (int c = 0; c < chunks; c++) {
      const int m0 = c * kMr, mr = std::min(kMr, M - m0);
      const float* x = X + (long)m0 * ldx;
      float* y = Y + (long)m0 * ldy;
      // Each pass over the block prefetches its share of the next block's columns.
      const int pf_k0 = (int)((long)K * c / chunks), pf_k1 = (int)((long)K * (c + 1) / chunks);
      int n = b0;
      for (; n + kNr <= b1; n += kNr) {
        const float* pf = n + nb + kNr <= n1 ? W + (long)(n + nb) * ldw : nullptr;
        tile_rows<kNr>(mr, K, x, ldx, W + (long)n * ldw, ldw, bias, n, y, ldy, accumulate, pf, pf_k0 & ~15,
                       c + 1 == chunks ? K : pf_k1 & ~15);
      }
      for (; n < b1; n++)
        tile_rows<1>(mr, K, x, ldx, W + (long)n * ldw, ldw, bias, n, y, ldy, accumulate, nullptr, 0, 0);
    }
  }
}

}  // namespace nexus::kernels::detail
