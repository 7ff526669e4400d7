#pragma once
// Multi-row matrix-vector product for inference: Y = X W^T with few rows in X (a decode
// step: one row per sequence) and a large weight matrix W in PyTorch's (out, in) layout.
// gemm() packs W into panels first, which for one row costs more than the product itself;
// here each thread streams its own slice of W's rows exactly once, straight from memory,
// against up to 4 rows of X held in L1, so one row runs at memory bandwidth.
namespace nexus::kernels {

/// Y(M,N) = X(M,K) @ W(N,K)^T + bias(N), or Y += with accumulate (adds into the residual
/// stream in place). bias may be null. Row strides ldx >= K, ldw >= K, ldy >= N. Runs on all
/// OpenMP threads (split along N) outside a parallel region, on the calling thread inside one.
/// Fast for M up to ~16; larger M belongs to gemm().
void gemv(int M, int N, int K, const float* X, int ldx, const float* W, int ldw, const float* bias, float* Y,
          int ldy, bool accumulate);

/// Plain double-accumulating reference of gemv() with the same contract.
void gemv_ref(int M, int N, int K, const float* X, int ldx, const float* W, int ldw, const float* bias, float* Y,
              int ldy, bool accumulate);

namespace detail {
/// Rows [n0, n1) of gemv on the calling thread, AVX-512 path (gemv_avx512.cpp).
void gemv_rows_avx512(int M, int n0, int n1, int K, const float* X, int ldx, const float* W, int ldw,
                      const float* bias, float* Y, int ldy, bool accumulate);
}  // namespace detail

}  // namespace nexus::kernels
