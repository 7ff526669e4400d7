// GEMM driver: argument checks, ISA dispatch, threading, cache blocking and packing, plus
// the plain C++ and AVX2+FMA microkernels. The AVX-512 microkernel is in
// matmul_avx512.cpp; the shared packed-panel layout is documented in matmul_internal.h.
#include "core/kernels/matmul.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <new>

#include "core/cpu.h"
#include "core/error.h"
#include "core/kernels/matmul_internal.h"
#include "core/kernels/vecmath.h"

namespace nexus::kernels {
namespace detail {
namespace {

// ---------------------------------------------------------------------------------------
// Microkernels of the scalar and AVX2 paths.

// Plain C++ tile kernel (the portable path; the compiler may auto-vectorize it).
template <int MR, int NR>
void kernel_scalar(int kc, const float* a, const float* b, float* c, long ldc, float beta) {
  float acc[MR][NR] = {};
  for (int k = 0; k < kc; ++k) {
    for (int i = 0; i < MR; ++i) {
      const float ai = a[k * MR + i];
      for (int j = 0; j < NR; ++j) acc[i][j] += ai * b[k * NR + j];
    }
  }
  for (int i = 0; i < MR; ++i) {
    float* ci = c + i * ldc;
    for (int j = 0; j < NR; ++j) ci[j] = beta == 0.0f ? acc[i][j] : acc[i][j] + beta * ci[j];
  }
}

// AVX2+FMA tile of 6 rows x 16 columns: 12 ymm accumulators + 2 for B + 1 broadcast fit
// the 16 ymm registers; 12 independent FMA chains cover Zen4/Intel FMA latency (4) x
// throughput (2/cycle).
constexpr int kAvx2Mr = 6;
constexpr int kAvx2Nr = 16;

void kernel_avx2_6x16(int kc, const float* a, const float* b, float* c, long ldc,
                      float beta) {
  // Named accumulators (not an array): GCC keeps these in registers, an array it spills.
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
#pragma GCC unroll 2
  for (int k = 0; k < kc; ++k, a += kAvx2Mr, b += kAvx2Nr) {
    const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
    __m256 ai = _mm256_broadcast_ss(a + 0);
    c00 = _mm256_fmadd_ps(ai, b0, c00), c01 = _mm256_fmadd_ps(ai, b1, c01);
    ai = _mm256_broadcast_ss(a + 1);
    c10 = _mm256_fmadd_ps(ai, b0, c10), c11 = _mm256_fmadd_ps(ai, b1, c11);
    ai = _mm256_broadcast_ss(a + 2);
    c20 = _mm256_fmadd_ps(ai, b0, c20), c21 = _mm256_fmadd_ps(ai, b1, c21);
    ai = _mm256_broadcast_ss(a + 3);
    c30 = _mm256_fmadd_ps(ai, b0, c30), c31 = _mm256_fmadd_ps(ai, b1, c31);
    ai = _mm256_broadcast_ss(a + 4);
    c40 = _mm256_fmadd_ps(ai, b0, c40), c41 = _mm256_fmadd_ps(ai, b1, c41);
    ai = _mm256_broadcast_ss(a + 5);
    c50 = _mm256_fmadd_ps(ai, b0, c50), c51 = _mm256_fmadd_ps(ai, b1, c51);
  }
  const __m256 acc[kAvx2Mr][2] = {{c00, c01}, {c10, c11}, {c20, c21},
                                  {c30, c31}, {c40, c41}, {c50, c51}};
  const __m256 vb = _mm256_set1_ps(beta);
  for (int i = 0; i < kAvx2Mr; ++i) {
    float* ci = c + i * ldc;
    __m256 r0 = acc[i][0], r1 = acc[i][1];
    if (beta != 0.0f) {
      r0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci), r0);
      r1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci + 8), r1);
    }
    _mm256_storeu_ps(ci, r0);
    _mm256_storeu_ps(ci + 8, r1);
  }
}

const KernelSpec& scalar_spec() {
  static const KernelSpec spec{4, 8, 256, 128, 1024, &kernel_scalar<4, 8>, false};
  return spec;
}

const KernelSpec& avx2_spec() {
  static const KernelSpec spec{kAvx2Mr, kAvx2Nr, 384, 144, 1024, &kernel_avx2_6x16, true};
  return spec;
}

// ---------------------------------------------------------------------------------------
// Packing. "Copy" packing reads a source whose k-th row holds the panel's W values
// contiguously (src[k*ld + j]); "transpose" packing reads a source whose j-th row holds
// the k values contiguously (src[j*ld + k]). Both write dst[k*W + j] per panel.

// Generic packing of one panel with `cols` (<= W) valid columns, zero-filling the rest.
void pack_panel_plain(bool transposed, const float* src, long ld, int kb, int cols, int W,
                      float scale, float* dst) {
  for (int k = 0; k < kb; ++k) {
    float* d = dst + static_cast<long>(k) * W;
    for (int j = 0; j < cols; ++j)
      d[j] = scale * (transposed ? src[j * ld + k] : src[k * ld + j]);
    for (int j = cols; j < W; ++j) d[j] = 0.0f;
  }
}

// Full panel (W a multiple of 8, all W columns valid), transposed source, AVX2.
// Each 8(j) x 8(k) source block becomes 8 contiguous 8-float runs of the panel.
void pack_panel_transpose_simd(const float* src, long ld, int kb, int W, float scale,
                               float* dst) {
  const __m256 vs = _mm256_set1_ps(scale);
  int k = 0;
  for (; k + 8 <= kb; k += 8) {
    for (int jg = 0; jg < W; jg += 8) {
      __m256 r[8];
      for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + (jg + i) * ld + k);
      transpose8x8(r);
      for (int i = 0; i < 8; ++i)
        _mm256_store_ps(dst + static_cast<long>(k + i) * W + jg, _mm256_mul_ps(r[i], vs));
    }
  }
  for (; k < kb; ++k)
    for (int j = 0; j < W; ++j) dst[static_cast<long>(k) * W + j] = scale * src[j * ld + k];
}

// `panels` full panels from a copy source (W contiguous floats per k and panel), AVX2.
// The loop runs along each source row (k outer, panels inner) so reads are one sequential
// stream the hardware prefetcher follows, instead of one cache line per row per panel
// (a 2 KiB-stride walk that stalls on every line when the activations are not in cache).
void pack_panels_copy_simd(const float* src, long ld, int kb, int panels, int W, float scale, float* dst) {
  const __m256 vs = _mm256_set1_ps(scale);
  const long panel_floats = static_cast<long>(W) * kb;
  for (int k = 0; k < kb; ++k) {
    const float* s = src + k * ld;
    float* d = dst + static_cast<long>(k) * W;
    for (int p = 0; p < panels; ++p, s += W, d += panel_floats)
      for (int j = 0; j < W; j += 8) _mm256_store_ps(d + j, _mm256_mul_ps(_mm256_loadu_ps(s + j), vs));
  }
}

// Packs `cols` columns (split into panels of W) of depth kb. For panel p the source starts
// at src + p*W*(transposed ? ld : 1).
void pack_block(bool transposed, bool simd, const float* src, long ld, int kb, int cols, int W,
                float scale, float* dst) {
  const bool simd_ok = simd && W % 8 == 0;
  int p = 0;
  if (simd_ok && !transposed) {
    p = cols / W;  // all full panels at once
    pack_panels_copy_simd(src, ld, kb, p, W, scale, dst);
  }
  for (; p * W < cols; ++p) {
    const int w = std::min(W, cols - p * W);
    const float* s = src + static_cast<long>(p) * W * (transposed ? ld : 1);
    float* d = dst + static_cast<long>(p) * W * kb;
    if (simd_ok && w == W)
      pack_panel_transpose_simd(s, ld, kb, W, scale, d);
    else
      pack_panel_plain(transposed, s, ld, kb, w, W, scale, d);
  }
}

// ---------------------------------------------------------------------------------------
// Per-thread workspace: packing buffers reused across calls (grown, never shrunk).

struct AlignedFree {
  void operator()(float* p) const { ::operator delete[](p, std::align_val_t(64)); }
};
using AlignedBuf = std::unique_ptr<float[], AlignedFree>;

struct Workspace {
  AlignedBuf a, b, tile;
  size_t a_cap = 0, b_cap = 0, tile_cap = 0;
};

float* ensure(AlignedBuf& buf, size_t& cap, size_t n) {
  if (n > cap) {
    buf.reset(static_cast<float*>(::operator new[](n * sizeof(float), std::align_val_t(64))));
    cap = n;
  }
  return buf.get();
}

Workspace& workspace() {
  thread_local Workspace ws;
  return ws;
}

// ---------------------------------------------------------------------------------------
// Blocked driver.

struct GemmArgs {
  bool ta, tb;
  int M, N, K;
  float alpha;
  const float* A;
  long lda;
  const float* B;
  long ldb;
  float beta;
  float* C;
  long ldc;
};

// Splits n into ceil(n/max_block) nearly equal blocks, rounded up to a multiple of `unit`.
int balanced_block(int n, int max_block, int unit) {
  const int blocks = (n + max_block - 1) / max_block;
  const int per = (n + blocks - 1) / blocks;
  return std::min(max_block, (per + unit - 1) / unit * unit);
}

// C[mb, nb] (+)= packed A block * packed B block, tile by tile. Edge tiles are computed
// into a scratch tile and merged so the microkernel never writes outside C.
void macro_kernel(const KernelSpec& ks, int kb, int mb, int nb, const float* ap,
                  const float* bp, float* c, long ldc, float beta, float* tile) {
  const int mr = ks.mr, nr = ks.nr;
  for (int jr = 0; jr < nb; jr += nr) {
    const int nw = std::min(nr, nb - jr);
    const float* b = bp + static_cast<long>(jr) * kb;
    for (int ir = 0; ir < mb; ir += mr) {
      const int mw = std::min(mr, mb - ir);
      const float* a = ap + static_cast<long>(ir) * kb;
      float* cij = c + ir * ldc + jr;
      if (mw == mr && nw == nr) {
        ks.kernel(kb, a, b, cij, ldc, beta);
        continue;
      }
      ks.kernel(kb, a, b, tile, nr, 0.0f);
      for (int i = 0; i < mw; ++i)
        for (int j = 0; j < nw; ++j) {
          float& dst = cij[i * ldc + j];
          dst = beta == 0.0f ? tile[i * nr + j] : tile[i * nr + j] + beta * dst;
        }
    }
  }
}

// Computes the sub-block C[m0:m1, n0:n1] on the calling thread.
void gemm_range(const KernelSpec& ks, const GemmArgs& g, int m0, int m1, int n0, int n1) {
  Workspace& ws = workspace();
  const int K = g.K;
  const int kc = balanced_block(K, ks.kc, 8);
  const int mc = balanced_block(m1 - m0, ks.mc, ks.mr);
  const int nc = balanced_block(n1 - n0, ks.nc, ks.nr);
  float* ap = ensure(ws.a, ws.a_cap, static_cast<size_t>(mc) * kc);
  float* bp = ensure(ws.b, ws.b_cap, static_cast<size_t>(nc) * kc);
  float* tile = ensure(ws.tile, ws.tile_cap, static_cast<size_t>(ks.mr) * ks.nr);
  for (int jc = n0; jc < n1; jc += nc) {
    const int nb = std::min(nc, n1 - jc);
    for (int pc = 0; pc < K; pc += kc) {
      const int kb = std::min(kc, K - pc);
      // op(B)(k, j) is B[j*ldb + k] when transposed, else B[k*ldb + j].
      const float* bsrc = g.tb ? g.B + jc * g.ldb + pc : g.B + pc * g.ldb + jc;
      pack_block(g.tb, ks.simd_packing, bsrc, g.ldb, kb, nb, ks.nr, 1.0f, bp);
      const float beta = pc == 0 ? g.beta : 1.0f;
      for (int ic = m0; ic < m1; ic += mc) {
        const int mb = std::min(mc, m1 - ic);
        // op(A)(i, k) is A[k*lda + i] when transposed, else A[i*lda + k]; in panel terms
        // the non-transposed A is the "transposed source" case.
        const float* asrc = g.ta ? g.A + pc * g.lda + ic : g.A + ic * g.lda + pc;
        pack_block(!g.ta, ks.simd_packing, asrc, g.lda, kb, mb, ks.mr, g.alpha, ap);
        macro_kernel(ks, kb, mb, nb, ap, bp, g.C + ic * g.ldc + jc, g.ldc, beta, tile);
      }
    }
  }
}

// C = beta * C for the degenerate cases (K == 0 or alpha == 0), beta == 0 -> zeros.
void scale_c(const GemmArgs& g) {
  for (int i = 0; i < g.M; ++i) {
    float* ci = g.C + i * g.ldc;
    if (g.beta == 0.0f)
      std::memset(ci, 0, sizeof(float) * g.N);
    else if (g.beta != 1.0f)
      for (int j = 0; j < g.N; ++j) ci[j] *= g.beta;
  }
}

// Splits the problem among threads along the dimension whose duplicated packing is
// cheaper (M-split: every thread packs all of B; N-split: all of A), in whole tiles.
void gemm_parallel(const KernelSpec& ks, const GemmArgs& g) {
  const double flops = 2.0 * g.M * g.N * g.K;
  int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (flops < 2.0e5) threads = 1;  // a fork/join costs more than the work
  const bool split_m = g.M >= g.N;
  const int unit = split_m ? ks.mr : ks.nr;
  const int units = ((split_m ? g.M : g.N) + unit - 1) / unit;
  threads = std::max(1, std::min(threads, units));
  if (threads == 1) {
    gemm_range(ks, g, 0, g.M, 0, g.N);
    return;
  }
  // An exception must not escape an OpenMP region (that terminates the process): the
  // first one (e.g. bad_alloc growing a packing buffer) is carried out and rethrown.
  std::exception_ptr error;
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int u0 = static_cast<int>(static_cast<long>(units) * t / nt);
    const int u1 = static_cast<int>(static_cast<long>(units) * (t + 1) / nt);
    const int total = split_m ? g.M : g.N;
    const int lo = std::min(total, u0 * unit), hi = std::min(total, u1 * unit);
    try {
      if (lo < hi) {
        if (split_m)
          gemm_range(ks, g, lo, hi, 0, g.N);
        else
          gemm_range(ks, g, 0, g.M, lo, hi);
      }
    } catch (...) {
#pragma omp critical(nexus_gemm_error)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace
}  // namespace detail

// ---------------------------------------------------------------------------------------
// ISA selection.

namespace {

Isa best_supported_isa() {
  const CpuFeatures& f = cpu_features();
  if (f.avx512f && f.avx512bw && f.avx512dq && f.avx512vl && f.fma) return Isa::Avx512;
  if (f.avx2 && f.fma) return Isa::Avx2;
  return Isa::Scalar;
}

bool isa_supported(Isa isa) { return static_cast<int>(isa) <= static_cast<int>(best_supported_isa()); }

// NEXUS_ISA may lower the path (tests); asking for more than the CPU has falls back to
// the best supported one rather than crashing with an illegal instruction.
Isa initial_isa() {
  const Isa best = best_supported_isa();
  const char* env = std::getenv("NEXUS_ISA");
  if (env == nullptr || *env == '\0') return best;
  const std::string v(env);
  Isa want;
  if (v == "scalar")
    want = Isa::Scalar;
  else if (v == "avx2")
    want = Isa::Avx2;
  else if (v == "avx512")
    want = Isa::Avx512;
  else
    throw InvalidArgument("NEXUS_ISA='" + v + "' is not one of scalar, avx2, avx512");
  return isa_supported(want) ? want : best;
}

// -1 = not chosen yet; otherwise an Isa value.
std::atomic<int> g_isa{-1};

}  // namespace

std::string isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
  }
  return "unknown";
}

Isa active_isa() {
  int v = g_isa.load(std::memory_order_relaxed);
  if (v < 0) {
    v = static_cast<int>(initial_isa());
    g_isa.store(v, std::memory_order_relaxed);
  }
  return static_cast<Isa>(v);
}

void set_active_isa(Isa isa) {
  if (!isa_supported(isa))
    throw InvalidArgument("set_active_isa: this CPU does not support " + isa_name(isa));
  g_isa.store(static_cast<int>(isa), std::memory_order_relaxed);
}

// ---------------------------------------------------------------------------------------
// Public entry points.

namespace {

void check_args(const char* who, bool ta, bool tb, int M, int N, int K, const float* A, int lda,
                const float* B, int ldb, const float* C, int ldc) {
  const std::string w(who);
  require(M >= 0 && N >= 0 && K >= 0, w + ": negative dimension");
  require(lda >= std::max(1, ta ? M : K), w + ": lda smaller than the row length of A");
  require(ldb >= std::max(1, tb ? K : N), w + ": ldb smaller than the row length of B");
  require(ldc >= std::max(1, N), w + ": ldc smaller than N");
  if (M > 0 && N > 0) require(C != nullptr, w + ": C is null");
  if (M > 0 && N > 0 && K > 0) require(A != nullptr && B != nullptr, w + ": A or B is null");
}

}  // namespace

void gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
          const float* B, int ldb, float beta, float* C, int ldc) {
  check_args("gemm", trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc);
  if (M == 0 || N == 0) return;
  const detail::GemmArgs g{trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc};
  if (K == 0 || alpha == 0.0f) {
    detail::scale_c(g);
    return;
  }
  const Isa isa = active_isa();
  const detail::KernelSpec& ks = isa == Isa::Avx512 ? detail::avx512_spec()
                                 : isa == Isa::Avx2 ? detail::avx2_spec()
                                                    : detail::scalar_spec();
  detail::gemm_parallel(ks, g);
}

void gemm_ref(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
              int lda, const float* B, int ldb, float beta, float* C, int ldc) {
  check_args("gemm_ref", trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc);
  for (int i = 0; i < M; ++i) {
    for (int j = 0; j < N; ++j) {
      double sum = 0.0;
      for (int k = 0; k < K; ++k) {
        const float a = trans_a ? A[static_cast<long>(k) * lda + i] : A[static_cast<long>(i) * lda + k];
        const float b = trans_b ? B[static_cast<long>(j) * ldb + k] : B[static_cast<long>(k) * ldb + j];
        sum += static_cast<double>(a) * b;
      }
      float& c = C[static_cast<long>(i) * ldc + j];
      const double prev = beta == 0.0f ? 0.0 : static_cast<double>(beta) * c;
      c = static_cast<float>(static_cast<double>(alpha) * sum + prev);
    }
  }
}

}  // namespace nexus::kernels
