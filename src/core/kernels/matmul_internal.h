#pragma once
// Internals shared by matmul.cpp (driver, packing, scalar and AVX2 kernels) and
// matmul_avx512.cpp (AVX-512 microkernels). Not part of the public API.
//
// The GEMM follows the GotoBLAS/BLIS scheme. For each block C[mb, nb] the driver packs
//   op(A)[ic:ic+mb, pc:pc+kb] * alpha  ->  "A panels": ceil(mb/MR) panels, panel p holds
//       a[k*MR + i] = alpha * op(A)(ic + p*MR + i, pc + k)   (k-major, MR floats per k)
//   op(B)[pc:pc+kb, jc:jc+nb]          ->  "B panels": ceil(nb/NR) panels, panel q holds
//       b[k*NR + j] = op(B)(pc + k, jc + q*NR + j)           (k-major, NR floats per k)
// with rows/columns past the matrix edge zero-filled, so a microkernel always computes a
// full MR x NR tile from two contiguous streams.

namespace nexus::kernels::detail {

/// Register-tile kernel: for i < MR, j < NR
///   c[i*ldc + j] = sum_k a[k*MR + i] * b[k*NR + j]  + (beta == 0 ? 0 : beta * c[i*ldc + j])
/// beta == 0 means c is not read. a and b are 64-byte aligned packed panels.
using MicroKernel = void (*)(int kc, const float* a, const float* b, float* c, long ldc,
                             float beta);

/// One ISA path: its register tile and cache blocking.
struct KernelSpec {
  int mr = 0;  // rows of the register tile (A panel width)
  int nr = 0;  // columns of the register tile (B panel width)
  int kc = 0;  // max depth of a packed block (A and B panels are kc deep)
  int mc = 0;  // max rows of a packed A block (kept in L2)
  int nc = 0;  // max columns of a packed B block (kept in L3)
  MicroKernel kernel = nullptr;
  bool simd_packing = false;  // pack with AVX2 (8x8 transposes) instead of plain loops
};

/// The AVX-512 path (matmul_avx512.cpp). Call only when cpu_features().avx512f.
const KernelSpec& avx512_spec();

}  // namespace nexus::kernels::detail
