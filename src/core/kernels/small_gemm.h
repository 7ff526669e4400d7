#pragma once
// Register-tiled matrix multiply for small operands that already sit in cache (the blocks
// of fused attention: a 32 x 64 score tile, a 64 x 32 value block). Unlike gemm() it never
// packs, allocates or spawns threads, so it costs nothing to call on a 16 x 16 problem;
// the price is that B's columns must come in whole vectors of 8 floats.

namespace nexus::kernels {

/// C(M,N) = A(M,K) * B(K,N), or C += with accumulate.
/// A is read through strides: element (i, k) is a[i * a_rs + k * a_ks], so a row-major A
/// has (a_rs, a_ks) = (lda, 1) and a transposed one (1, lda) — no copy is needed for A^T.
/// B and C are row-major with row strides ldb and ldc. N must be a multiple of 8; every
/// row of B and C is read/written at columns 0..N-1 only.
void small_gemm(int M, int N, int K, const float* a, long a_rs, long a_ks, const float* b, long ldb, float* c,
                long ldc, bool accumulate);

namespace detail {
/// One group of `rows` (<= 6) rows of small_gemm, AVX-512 path (small_gemm_avx512.cpp).
void small_gemm_rows_avx512(int rows, int N, int K, const float* a, long a_rs, long a_ks, const float* b, long ldb,
                            float* c, long ldc, bool accumulate);
}  // namespace detail

/// Plain reference of small_gemm (double accumulation, any N).
void small_gemm_ref(int M, int N, int K, const float* a, long a_rs, long a_ks, const float* b, long ldb,
                    float* c, long ldc, bool accumulate);

}  // namespace nexus::kernels
