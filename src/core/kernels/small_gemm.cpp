#include "core/kernels/small_gemm.h"

#include <immintrin.h>

#include "core/error.h"
#include "core/kernels/matmul.h"

namespace nexus::kernels {

namespace {

// R rows x (8*NV) columns of C held in R*NV ymm accumulators. Per k: NV loads of B, R
// broadcasts of A, R*NV FMAs. R = 6, NV = 2 uses 12 accumulators + 2 B + 1 broadcast of
// the 16 ymm registers, enough independent chains to cover the FMA latency.
template <int R, int NV>
inline void tile(int K, const float* a, long a_rs, long a_ks, const float* b, long ldb, float* c, long ldc,
                 bool accumulate) {
  __m256 acc[R][NV];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = accumulate ? _mm256_loadu_ps(c + r * ldc + 8 * v) : _mm256_setzero_ps();
  const float* arow[R];
  for (int r = 0; r < R; ++r) arow[r] = a + r * a_rs;
  for (int k = 0; k < K; ++k) {
    __m256 bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = _mm256_loadu_ps(b + k * ldb + 8 * v);
    const long ak = k * a_ks;
    for (int r = 0; r < R; ++r) {
      const __m256 ar = _mm256_broadcast_ss(arow[r] + ak);
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_fmadd_ps(ar, bv[v], acc[r][v]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) _mm256_storeu_ps(c + r * ldc + 8 * v, acc[r][v]);
}

template <int NV>
void row_group(int rows, int K, const float* a, long a_rs, long a_ks, const float* b, long ldb, float* c,
               long ldc, bool accumulate) {
  switch (rows) {
    case 6: tile<6, NV>(K, a, a_rs, a_ks, b, ldb, c, ldc, accumulate); break;
    case 5: tile<5, NV>(K, a, a_rs, a_ks, b, ldb, c, ldc, accumulate); break;
    case 4: tile<4, NV>(K, a, a_rs, a_ks, b, ldb, c, ldc, accumulate); break;
    case 3: tile<3, NV>(K, a, a_rs, a_ks, b, ldb, c, ldc, accumulate); break;
    case 2: tile<2, NV>(K, a, a_rs, a_ks, b, ldb, c, ldc, accumulate); break;
    default: tile<1, NV>(K, a, a_rs, a_ks, b, ldb, c, ldc, accumulate); break;
  }
}

}  // namespace

void small_gemm(int M, int N, int K, const float* a, long a_rs, long a_ks, const float* b, long ldb, float* c,
                long ldc, bool accumulate) {
  require(N % 8 == 0, "small_gemm: N must be a multiple of 8");
  // Rows in ceil(M/6) nearly equal groups (32 -> 6,6,5,5,5,5 rather than 6,6,6,6,6,2): a
  // group of 2 rows has too few independent FMA chains to hide the latency.
  constexpr int kMaxRows = 6;
  const int groups = (M + kMaxRows - 1) / kMaxRows;
  const bool avx512 = active_isa() == Isa::Avx512;
  for (int g = 0, i = 0; g < groups; ++g) {
    const int rows = (M - i) / (groups - g) + ((M - i) % (groups - g) != 0);
    const float* ai = a + i * a_rs;
    float* ci = c + i * ldc;
    if (avx512) {
      detail::small_gemm_rows_avx512(rows, N, K, ai, a_rs, a_ks, b, ldb, ci, ldc, accumulate);
      i += rows;
      continue;
    }
    int j = 0;
    for (; j + 16 <= N; j += 16) row_group<2>(rows, K, ai, a_rs, a_ks, b + j, ldb, ci + j, ldc, accumulate);
    if (j < N) row_group<1>(rows, K, ai, a_rs, a_ks, b + j, ldb, ci + j, ldc, accumulate);
    i += rows;
  }
}

void small_gemm_ref(int M, int N, int K, const float* a, long a_rs, long a_ks, const float* b, long ldb,
                    float* c, long ldc, bool accumulate) {
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      double s = accumulate ? c[i * ldc + j] : 0.0;
      for (int k = 0; k < K; ++k) s += (double)a[i * a_rs + k * a_ks] * b[k * ldb + j];
      c[i * ldc + j] = (float)s;
    }
}

}  // namespace nexus::kernels
