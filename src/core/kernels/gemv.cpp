// gemv(): threading, ISA dispatch, the AVX2+FMA path and the reference. The AVX-512 path is
// in gemv_avx512.cpp.
//
// Every path computes tiles of NR rows of W against MR rows of X: each W vector loaded is
// used MR times and each X vector NR times, and only the NR*MR dot products are kept in
// registers over the whole depth K. W rows are visited in blocks small enough for L2, so
// with more than MR rows of X a block of W comes from DRAM once and from L2 afterwards.
#include "core/kernels/gemv.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <string>

#include "core/error.h"
#include "core/kernels/matmul.h"
#include "core/kernels/vecmath.h"

namespace nexus::kernels {
namespace {

// Writes one result: y = (accumulate ? y : 0) + bias + sum.
inline void store_result(float* y, float sum, const float* bias, int n, bool accumulate) {
  if (bias) sum += bias[n];
  *y = accumulate ? *y + sum : sum;
}

// AVX2 tile: MR rows of X (1..3) against NR rows of W (1 or 4). 12 accumulators at most
// leave 4 of the 16 ymm registers for the W vectors.
template <int MR, int NR>
void tile_avx2(int K, const float* X, long ldx, const float* W, long ldw, const float* bias, int n, float* Y,
               long ldy, bool accumulate) {
  __m256 acc[MR][NR];
  for (int m = 0; m < MR; m++)
    for (int r = 0; r < NR; r++) acc[m][r] = _mm256_setzero_ps();
  int k = 0;
  for (; k + 8 <= K; k += 8) {
    __m256 w[NR];
    for (int r = 0; r < NR; r++) w[r] = _mm256_loadu_ps(W + r * ldw + k);
    for (int m = 0; m < MR; m++) {
      const __m256 x = _mm256_loadu_ps(X + m * ldx + k);
      for (int r = 0; r < NR; r++) acc[m][r] = _mm256_fmadd_ps(w[r], x, acc[m][r]);
    }
  }
  for (int m = 0; m < MR; m++)
    for (int r = 0; r < NR; r++) {
      float sum = hsum8(acc[m][r]);
      for (int kk = k; kk < K; kk++) sum += X[m * ldx + kk] * W[r * ldw + kk];
      store_result(Y + m * ldy + n + r, sum, bias, n + r, accumulate);
    }
}

// Rows [n0, n1) on the calling thread, AVX2 path.
void gemv_rows_avx2(int M, int n0, int n1, int K, const float* X, int ldx, const float* W, int ldw,
                    const float* bias, float* Y, int ldy, bool accumulate) {
  constexpr int kMr = 3, kNr = 4;
  // Block of W rows kept in L2 (~256 KB) while all rows of X pass over it.
  const int nb = std::max(kNr, (int)(65536 / std::max(K, 1)) / kNr * kNr);
  for (int b0 = n0; b0 < n1; b0 += nb) {
    const int b1 = std::min(n1, b0 + nb);
    for (int m0 = 0; m0 < M; m0 += kMr) {
      const int mr = std::min(kMr, M - m0);
      const float* x = X + (long)m0 * ldx;
      float* y = Y + (long)m0 * ldy;
      int n = b0;
      for (; n + kNr <= b1; n += kNr) {
        const float* w = W + (long)n * ldw;
        if (mr == 3) tile_avx2<3, kNr>(K, x, ldx, w, ldw, bias, n, y, ldy, accumulate);
        else if (mr == 2) tile_avx2<2, kNr>(K, x, ldx, w, ldw, bias, n, y, ldy, accumulate);
        else tile_avx2<1, kNr>(K, x, ldx, w, ldw, bias, n, y, ldy, accumulate);
      }
      for (; n < b1; n++) {
        const float* w = W + (long)n * ldw;
        if (mr == 3) tile_avx2<3, 1>(K, x, ldx, w, ldw, bias, n, y, ldy, accumulate);
        else if (mr == 2) tile_avx2<2, 1>(K, x, ldx, w, ldw, bias, n, y, ldy, accumulate);
        else tile_avx2<1, 1>(K, x, ldx, w, ldw, bias, n, y, ldy, accumulate);
      }
    }
  }
}

// Rows [n0, n1) on the calling thread, plain C++ (the scalar ISA path).
void gemv_rows_scalar(int M, int n0, int n1, int K, const float* X, int ldx, const float* W, int ldw,
                      const float* bias, float* Y, int ldy, bool accumulate) {
  for (int m = 0; m < M; m++)
    for (int n = n0; n < n1; n++) {
      const float* x = X + (long)m * ldx;
      const float* w = W + (long)n * ldw;
      float sum = 0.0f;
      for (int k = 0; k < K; k++) sum += x[k] * w[k];
      store_result(Y + (long)m * ldy + n, sum, bias, n, accumulate);
    }
}

void check_gemv_args(const char* who, int M, int N, int K, const float* X, int ldx, const float* W, int ldw,
                     const float* Y, int ldy) {
  const std::string w(who);
  require(M >= 0 && N >= 0 && K >= 0, w + ": negative dimension");
  require(ldx >= std::max(1, K) && ldw >= std::max(1, K), w + ": ldx or ldw smaller than K");
  require(ldy >= std::max(1, N), w + ": ldy smaller than N");
  if (M > 0 && N > 0) require(Y != nullptr, w + ": Y is null");
  if (M > 0 && N > 0 && K > 0) require(X != nullptr && W != nullptr, w + ": X or W is null");
}

}  // namespace

void gemv(int M, int N, int K, const float* X, int ldx, const float* W, int ldw, const float* bias, float* Y,
          int ldy, bool accumulate) {
  check_gemv_args("gemv", M, N, K, X, ldx, W, ldw, Y, ldy);
  if (M == 0 || N == 0) return;
  const Isa isa = active_isa();
  auto rows = isa == Isa::Avx512 ? &detail::gemv_rows_avx512 : isa == Isa::Avx2 ? &gemv_rows_avx2 : &gemv_rows_scalar;
  // Threads take contiguous slices of W's rows in units of 16 (whole tiles, whole lines).
  constexpr int kUnit = 16;
  const int units = (N + kUnit - 1) / kUnit;
  int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  if ((double)M * N * K < 1.0e5) threads = 1;  // a fork/join costs more than the work
  threads = std::max(1, std::min(threads, units));
  if (threads == 1) {
    rows(M, 0, N, K, X, ldx, W, ldw, bias, Y, ldy, accumulate);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int n0 = std::min(N, (int)((long)units * t / nt) * kUnit);
    const int n1 = std::min(N, (int)((long)units * (t + 1) / nt) * kUnit);
    if (n0 < n1) rows(M, n0, n1, K, X, ldx, W, ldw, bias, Y, ldy, accumulate);
  }
}

void gemv_ref(int M, int N, int K, const float* X, int ldx, const float* W, int ldw, const float* bias, float* Y,
              int ldy, bool accumulate) {
  check_gemv_args("gemv_ref", M, N, K, X, ldx, W, ldw, Y, ldy);
  for (int m = 0; m < M; m++)
    for (int n = 0; n < N; n++) {
      double sum = bias ? bias[n] : 0.0;
      for (int k = 0; k < K; k++) sum += (double)X[(long)m * ldx + k] * W[(long)n * ldw + k];
      float& y = Y[(long)m * ldy + n];
      y = accumulate ? (float)(y + sum) : (float)sum;
    }
}

}  // namespace nexus::kernels
