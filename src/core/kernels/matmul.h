#pragma once
// General single-precision matrix multiply (row-major), the hot spot of training and
// inference. gemm() picks the fastest path this CPU supports (AVX-512, AVX2+FMA, or
// plain C++) at run time; gemm_ref() is the plain triple loop it is tested against.
#include <string>

namespace nexus::kernels {

/// Instruction-set paths of the fast kernels.
enum class Isa { Scalar, Avx2, Avx512 };

/// Name of an Isa ("scalar", "avx2", "avx512").
std::string isa_name(Isa isa);

/// Best path this CPU supports, unless NEXUS_ISA=scalar|avx2|avx512 in the environment
/// asks for a lower one (used by tests to cover every path on one machine).
Isa active_isa();

/// Forces a path (tests and benchmarks). Throws InvalidArgument if the CPU lacks it.
void set_active_isa(Isa isa);

/// C[M,N] = alpha * op(A) * op(B) + beta * C, all row-major.
/// op(A) is A (M,K; lda >= K) or, with trans_a, A^T where A is (K,M; lda >= M).
/// op(B) is B (K,N; ldb >= N) or, with trans_b, B^T where B is (N,K; ldb >= K).
/// beta == 0 means C is written without being read (may hold NaN/garbage).
/// Runs on all OpenMP threads when called outside a parallel region, on the calling
/// thread alone when called inside one (never nests thread pools).
void gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
          const float* B, int ldb, float beta, float* C, int ldc);

/// Plain reference with the same contract as gemm(), accumulating in double.
void gemm_ref(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
              const float* B, int ldb, float beta, float* C, int ldc);

}  // namespace nexus::kernels
