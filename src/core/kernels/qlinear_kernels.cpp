// qlinear_forward: argument checks, ISA dispatch, threading, the preparation of x into
// tiles (shared by every ISA path, so all paths compute the same numbers), and the scalar
// and AVX2 kernels. The AVX-512 kernels are in qlinear_avx512.cpp; tile layouts are in
// qlinear_internal.h. The build baseline is x86-64-v3, so AVX2 is always available for the
// x preparation; the Scalar path only replaces the kernels (it exists to test them).
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/cpu.h"
#include "core/error.h"
#include "core/half.h"
#include "core/kernels/matmul.h"
#include "core/kernels/qlinear.h"
#include "core/kernels/qlinear_internal.h"
#include "core/kernels/vecmath.h"

namespace nexus::kernels {
namespace detail {
namespace {

// ---------------------------------------------------------------------------------------
// x preparation.

// Horizontal max of 8 floats.
float hmax8(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

// Quantizes one block of 32 values of x: writes 32 int8 (in order) to q, returns the scale
// dx = max|x|/127 and stores -128 * sum(q) to *corr. q = round-half-even(x * 127/max|x|).
// A block holding a NaN or an infinity has no such q: it gets q = 0 and dx = NaN, so the
// outputs it feeds are NaN as in the f32 and bf16 paths (it used to convert NaN to INT_MIN,
// whose sum overflowed the int32 of *corr: undefined behaviour, found by fuzz_gguf_model).
float quantize_x_block(const float* x, int8_t* q, int32_t* corr) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  const __m256 max_finite = _mm256_set1_ps(std::numeric_limits<float>::max());
  __m256 v[4];
  __m256 amax = _mm256_setzero_ps(), non_finite = _mm256_setzero_ps();
  for (int i = 0; i < 4; ++i) {
    v[i] = _mm256_loadu_ps(x + 8 * i);
    const __m256 abs = _mm256_and_ps(v[i], abs_mask);
    amax = _mm256_max_ps(amax, abs);
    non_finite = _mm256_or_ps(non_finite, _mm256_cmp_ps(abs, max_finite, _CMP_NLE_UQ));  // NaN or inf
  }
  if (_mm256_movemask_ps(non_finite) != 0) {
    std::memset(q, 0, kQ8Block);
    *corr = 0;
    return std::numeric_limits<float>::quiet_NaN();
  }
  const float a = hmax8(amax);
  const __m256 inv = _mm256_set1_ps(a > 0.0f ? 127.0f / a : 0.0f);
  __m256i qi[4];
  for (int i = 0; i < 4; ++i)
    qi[i] = _mm256_cvttps_epi32(
        _mm256_round_ps(_mm256_mul_ps(v[i], inv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  const __m256i sum32 = _mm256_add_epi32(_mm256_add_epi32(qi[0], qi[1]), _mm256_add_epi32(qi[2], qi[3]));
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(sum32), _mm256_extracti128_si256(sum32, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  *corr = -128 * _mm_cvtsi128_si32(s);
  // int32 -> int8 with saturation; packs work within 128-bit lanes, the permute restores order.
  const __m256i p16a = _mm256_packs_epi32(qi[0], qi[1]), p16b = _mm256_packs_epi32(qi[2], qi[3]);
  const __m256i p8 = _mm256_packs_epi16(p16a, p16b);
  const __m256i ordered = _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(q), ordered);
  return a / 127.0f;
}

// Writes the q8 tile of rows m0..m0+mr-1 of x(M,K) (layout: qlinear_internal.h).
void prepare_q8_tile(const float* x, int K, int m0, int mr, int8_t* xq, float* dx, int32_t* corr) {
  const int nb = K / kQ8Block;
  xq += static_cast<size_t>(m0) * K;
  dx += static_cast<size_t>(m0) * nb;
  corr += static_cast<size_t>(m0) * nb;
  for (int i = 0; i < mr; ++i) {
    const float* row = x + static_cast<size_t>(m0 + i) * K;
    for (int b = 0; b < nb; ++b) {
      alignas(32) int8_t q[kQ8Block];
      dx[b * mr + i] = quantize_x_block(row + b * kQ8Block, q, &corr[b * mr + i]);
      for (int j = 0; j < 8; ++j) std::memcpy(xq + ((static_cast<size_t>(b) * 8 + j) * mr + i) * 4, q + 4 * j, 4);
    }
  }
}

// bf16 bits of 8 floats, round to nearest even, NaN kept quiet (as float_to_bf16), in the
// low halves of 8 int32 lanes.
__m256i bf16_round8(__m256 v) {
  const __m256i u = _mm256_castps_si256(v);
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
  const __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7FFF))), 16);
  const __m256i nan = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x40));
  const __m256i is_nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7FFFFFFF)),
                                            _mm256_set1_epi32(0x7F800000));
  return _mm256_blendv_epi8(rounded, _mm256_and_si256(nan, _mm256_set1_epi32(0xFFFF)), is_nan);
}

// Writes the f32 tile of rows m0..m0+mr-1 of x(M,K): the (K, mr) transpose, by 8 x 8
// blocks when mr is a multiple of 8 (prefill's 8-row and batched decode's 16-row tiles).
void prepare_f32_tile(const float* x, int K, int m0, int mr, float* xt) {
  xt += static_cast<size_t>(m0) * K;
  x += static_cast<size_t>(m0) * K;
  int k0 = 0;
  if (mr % 8 == 0) {
    for (; k0 + 8 <= K; k0 += 8)
      for (int i0 = 0; i0 < mr; i0 += 8) {
        __m256 r[8];
        for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(x + static_cast<size_t>(i0 + i) * K + k0);
        transpose8x8(r);  // r[j] = x[i0..i0+7][k0 + j]
        for (int j = 0; j < 8; ++j) _mm256_storeu_ps(xt + static_cast<size_t>(k0 + j) * mr + i0, r[j]);
      }
  }
  for (int i = 0; i < mr; ++i)
    for (int k = k0; k < K; ++k) xt[static_cast<size_t>(k) * mr + i] = x[static_cast<size_t>(i) * K + k];
}

// Writes the bf16 tile of rows m0..m0+mr-1 of x(M,K): np = ceil(K/2) pairs per row.
void prepare_bf16_tile(const float* x, int K, int m0, int mr, uint32_t* xt) {
  const int np = (K + 1) / 2;
  xt += static_cast<size_t>(m0) * np;
  for (int i = 0; i < mr; ++i) {
    const float* row = x + static_cast<size_t>(m0 + i) * K;
    int j = 0;
    for (; 2 * j + 16 <= K; j += 8) {
      // 16 floats -> 8 pairs: low half = even element, high half = odd element.
      const __m256i a = bf16_round8(_mm256_loadu_ps(row + 2 * j)), b = bf16_round8(_mm256_loadu_ps(row + 2 * j + 8));
      const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b), 0xD8);  // 16 x u16 in order
      alignas(32) uint32_t pairs[8];
      _mm256_store_si256(reinterpret_cast<__m256i*>(pairs), packed);
      for (int t = 0; t < 8; ++t) xt[static_cast<size_t>(j + t) * mr + i] = pairs[t];
    }
    for (; j < np; ++j) {
      const uint32_t lo = float_to_bf16(row[2 * j]);
      const uint32_t hi = 2 * j + 1 < K ? float_to_bf16(row[2 * j + 1]) : 0u;
      xt[static_cast<size_t>(j) * mr + i] = lo | hi << 16;
    }
  }
}

// ---------------------------------------------------------------------------------------
// Output: r = acc (+ bias) (+ out), the same order on every path.

// Writes out(i, col) of tile t from its sum acc (scalar kernels, store8's ragged tail).
inline void finish(const OutputTile& t, int i, int col, float acc) {
  float* o = t.out + i * t.ldo + col;
  float r = acc;
  if (t.bias) r = r + t.bias[col];
  if (t.accumulate) r = *o + r;
  *o = r;
}

// Writes out(i, col0 .. col0+7) of tile t (AVX2 kernels), only the columns below n_valid.
void store8(const OutputTile& t, int i, int col0, __m256 acc) {
  const int lanes = std::min(8, t.n_valid - col0);
  if (lanes <= 0) return;
  if (lanes == 8) {
    float* o = t.out + i * t.ldo + col0;
    __m256 r = acc;
    if (t.bias) r = _mm256_add_ps(r, _mm256_loadu_ps(t.bias + col0));
    if (t.accumulate) r = _mm256_add_ps(_mm256_loadu_ps(o), r);
    _mm256_storeu_ps(o, r);
    return;
  }
  alignas(32) float tmp[8];
  _mm256_store_ps(tmp, acc);
  for (int l = 0; l < lanes; ++l) finish(t, i, col0 + l, tmp[l]);
}

// ---------------------------------------------------------------------------------------
// Scalar kernels (any mr, nv): the definition of the arithmetic the SIMD kernels reproduce.

void q8_scalar(const Q8Args& a) {
  const int mr = a.t.mr, nv = a.t.nv;
  for (int v = 0; v < nv; ++v) {
    const uint8_t* w = a.w + v * a.w_stride;
    const uint16_t* dw = a.dw + v * a.dw_stride;
    for (int r = 0; r < group_lanes(a.t.n_valid, v); ++r) {
      for (int i = 0; i < mr; ++i) {
        float acc = 0.0f;
        for (int b = 0; b < a.nb; ++b) {
          int32_t dot = 0;
          for (int j = 0; j < 8; ++j)
            for (int t = 0; t < 4; ++t) {
              const int wq = static_cast<int>(w[(static_cast<size_t>(b) * 8 + j) * 64 + r * 4 + t]) - 128;
              dot += wq * a.xq[((static_cast<size_t>(b) * 8 + j) * mr + i) * 4 + t];
            }
          const float s = fp16_to_float(dw[b * 16 + r]) * a.dx[b * mr + i];
          acc = std::fma(static_cast<float>(dot), s, acc);
        }
        finish(a.t, i, 16 * v + r, acc);
      }
    }
  }
}

void f32_scalar(const F32Args& a) {
  for (int v = 0; v < a.t.nv; ++v) {
    const float* w = a.w + v * a.w_stride;
    for (int r = 0; r < group_lanes(a.t.n_valid, v); ++r) {
      for (int i = 0; i < a.t.mr; ++i) {
        const size_t partial = (static_cast<size_t>(i) * a.t.nv + v) * 16 + r;
        float acc = a.acc_in ? a.acc_in[partial] : 0.0f;
        for (int k = 0; k < a.K; ++k) acc = std::fma(a.x[static_cast<size_t>(k) * a.t.mr + i], w[k * 16L + r], acc);
        if (a.acc_out) {
          a.acc_out[partial] = acc;
          continue;
        }
        finish(a.t, i, 16 * v + r, acc);
      }
    }
  }
}

void bf16_scalar(const Bf16Args& a) {
  const int mr = a.t.mr, nv = a.t.nv;
  for (int v = 0; v < nv; ++v) {
    const uint16_t* w = a.w + v * a.w_stride;
    for (int r = 0; r < group_lanes(a.t.n_valid, v); ++r) {
      for (int i = 0; i < mr; ++i) {
        float acc = 0.0f;
        for (int j = 0; j < a.np; ++j) {
          const uint32_t xp = a.x[static_cast<size_t>(j) * mr + i];
          const float w_even = bf16_to_float(w[(static_cast<size_t>(j) * 16 + r) * 2]);
          const float w_odd = bf16_to_float(w[(static_cast<size_t>(j) * 16 + r) * 2 + 1]);
          // vdpbf16ps order: the odd product first, then the even one (both exact in f32).
          acc = std::fma(w_odd, bf16_to_float(static_cast<uint16_t>(xp >> 16)), acc);
          acc = std::fma(w_even, bf16_to_float(static_cast<uint16_t>(xp & 0xFFFFu)), acc);
        }
        finish(a.t, i, 16 * v + r, acc);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------
// AVX2 kernels: one group (16 rows = 2 ymm) by MR rows of x.

// q8 via the sign trick of llama.cpp: maddubs(|w|, sign(x, w)) = pairwise w*x in int16
// (|w| <= 128, |x| <= 127: no saturation), madd with ones sums 4 products into int32.
template <int MR>
void q8_avx2(const Q8Args& a) {
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80)), ones = _mm256_set1_epi16(1);
  __m256 accf[MR][2];
  for (int i = 0; i < MR; ++i) accf[i][0] = accf[i][1] = _mm256_setzero_ps();
  for (int b = 0; b < a.nb; ++b) {
    __m256i acci[MR][2];
    for (int i = 0; i < MR; ++i) acci[i][0] = acci[i][1] = _mm256_setzero_si256();
    const uint8_t* wb = a.w + static_cast<size_t>(b) * 512;
    const int8_t* xb = a.xq + static_cast<size_t>(b) * 32 * MR;
    for (int j = 0; j < 8; ++j) {
      __m256i ws[2], aw[2];
      for (int h = 0; h < 2; ++h) {
        ws[h] = _mm256_xor_si256(_mm256_load_si256(reinterpret_cast<const __m256i*>(wb + j * 64 + 32 * h)), flip);
        aw[h] = _mm256_abs_epi8(ws[h]);
      }
      for (int i = 0; i < MR; ++i) {
        int32_t x4;
        std::memcpy(&x4, xb + (j * MR + i) * 4, 4);
        const __m256i xv = _mm256_set1_epi32(x4);
        for (int h = 0; h < 2; ++h) {
          const __m256i p = _mm256_maddubs_epi16(aw[h], _mm256_sign_epi8(xv, ws[h]));
          acci[i][h] = _mm256_add_epi32(acci[i][h], _mm256_madd_epi16(p, ones));
        }
      }
    }
    const __m128i d16 = _mm_load_si128(reinterpret_cast<const __m128i*>(a.dw + b * 16));
    const __m256 dw[2] = {_mm256_cvtph_ps(d16), _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(a.dw + b * 16 + 8)))};
    for (int i = 0; i < MR; ++i) {
      const __m256 dx = _mm256_set1_ps(a.dx[b * MR + i]);
      for (int h = 0; h < 2; ++h)
        accf[i][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acci[i][h]), _mm256_mul_ps(dw[h], dx), accf[i][h]);
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int h = 0; h < 2; ++h)
      store8(a.t, i, 8 * h, accf[i][h]);
}

template <int MR>
void f32_avx2(const F32Args& a) {
  __m256 acc[MR][2];
  for (int i = 0; i < MR; ++i)
    for (int h = 0; h < 2; ++h) acc[i][h] = a.acc_in ? _mm256_loadu_ps(a.acc_in + i * 16 + 8 * h) : _mm256_setzero_ps();
  for (int k = 0; k < a.K; ++k) {
    const __m256 w0 = _mm256_load_ps(a.w + k * 16L), w1 = _mm256_load_ps(a.w + k * 16L + 8);
    for (int i = 0; i < MR; ++i) {
      const __m256 xv = _mm256_broadcast_ss(a.x + static_cast<size_t>(k) * MR + i);
      acc[i][0] = _mm256_fmadd_ps(xv, w0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(xv, w1, acc[i][1]);
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int h = 0; h < 2; ++h) {
      if (a.acc_out)
        _mm256_storeu_ps(a.acc_out + i * 16 + 8 * h, acc[i][h]);
      else
        store8(a.t, i, 8 * h, acc[i][h]);
    }
}

// bf16: pairs widened to f32 by shifts (even element) and masks (odd element).
template <int MR>
void bf16_avx2(const Bf16Args& a) {
  const __m256i hi_mask = _mm256_set1_epi32(static_cast<int>(0xFFFF0000u));
  __m256 acc[MR][2];
  for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  for (int j = 0; j < a.np; ++j) {
    __m256 we[2], wo[2];
    for (int h = 0; h < 2; ++h) {
      const __m256i w = _mm256_load_si256(reinterpret_cast<const __m256i*>(a.w + static_cast<size_t>(j) * 32 + 16 * h));
      we[h] = _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
      wo[h] = _mm256_castsi256_ps(_mm256_and_si256(w, hi_mask));
    }
    for (int i = 0; i < MR; ++i) {
      const __m256i xv = _mm256_set1_epi32(static_cast<int>(a.x[static_cast<size_t>(j) * MR + i]));
      const __m256 xe = _mm256_castsi256_ps(_mm256_slli_epi32(xv, 16));
      const __m256 xo = _mm256_castsi256_ps(_mm256_and_si256(xv, hi_mask));
      for (int h = 0; h < 2; ++h) acc[i][h] = _mm256_fmadd_ps(we[h], xe, _mm256_fmadd_ps(wo[h], xo, acc[i][h]));
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int h = 0; h < 2; ++h)
      store8(a.t, i, 8 * h, acc[i][h]);
}

// ---------------------------------------------------------------------------------------
// Kernel tables of the scalar and AVX2 paths.

constexpr int kScalarMr = 4;
// Longest K block of the f32 path: a 48-row weight tile's block is 192 KB, so it and the
// next one stay in Zen 4's 1 MB L2 (Intel's: 1.25-2 MB) with the x tiles.
constexpr int kF32BlockK = 1024;

const KernelTable<F32Kernel>& f32_table(Isa isa) {
  static const KernelTable<F32Kernel> scalar{{kScalarMr, 1}, 0, 0, [](int, int) -> F32Kernel { return &f32_scalar; }};
  static const KernelTable<F32Kernel> avx2{{4, 1}, 0, 0, [](int mr, int) {
                                             static constexpr F32Kernel k[] = {&f32_avx2<1>, &f32_avx2<2>, &f32_avx2<3>,
                                                                               &f32_avx2<4>};
                                             return k[mr - 1];
                                           }};
  if (isa == Isa::Avx512) return f32_avx512_table();
  return isa == Isa::Scalar ? scalar : avx2;
}

const KernelTable<Q8Kernel>& q8_table(Isa isa) {
  static const KernelTable<Q8Kernel> scalar{{kScalarMr, 1}, 0, 0, [](int, int) -> Q8Kernel { return &q8_scalar; }};
  static const KernelTable<Q8Kernel> avx2{{2, 1}, 0, 0, [](int mr, int) {
                                            static constexpr Q8Kernel k[] = {&q8_avx2<1>, &q8_avx2<2>};
                                            return k[mr - 1];
                                          }};
  if (isa == Isa::Avx512 && cpu_features().avx512vnni) return q8_avx512_table();
  return isa == Isa::Scalar ? scalar : avx2;
}

const KernelTable<Bf16Kernel>& bf16_table(Isa isa) {
  static const KernelTable<Bf16Kernel> scalar{{kScalarMr, 1}, 0, 0, [](int, int) -> Bf16Kernel { return &bf16_scalar; }};
  static const KernelTable<Bf16Kernel> avx2{{4, 1}, 0, 0, [](int mr, int) {
                                              static constexpr Bf16Kernel k[] = {&bf16_avx2<1>, &bf16_avx2<2>,
                                                                                 &bf16_avx2<3>, &bf16_avx2<4>};
                                              return k[mr - 1];
                                            }};
  if (isa == Isa::Avx512 && cpu_features().avx512bf16) return bf16_avx512_table();
  return isa == Isa::Scalar ? scalar : avx2;
}

// ---------------------------------------------------------------------------------------
// Driver.

// Splits work into tiles: mr rows of x (the last tile shorter) by nv groups of 16 weight
// rows, and K into k_blocks blocks. prepare(m0, mr) writes x tile m0; compute(m0, mr, g0,
// nv, kb) runs one kernel over block kb. Tiles of x are prepared in parallel, then each
// thread takes a contiguous range of weight-row tiles and streams each of its weights from
// memory once, for all rows of x: block by block, every row tile in turn.
template <class Prepare, class Compute>
void run_tiles(int M, int N, long K, TileShape shape, int k_blocks, const Prepare& prepare, const Compute& compute) {
  const int max_mr = shape.mr, max_nv = shape.nv;
  const int m_tiles = (M + max_mr - 1) / max_mr;
  const int groups = (N + kQRowGroup - 1) / kQRowGroup;
  const int n_tiles = (groups + max_nv - 1) / max_nv;
  const double work = static_cast<double>(M) * N * K;
  const int threads = omp_in_parallel() || work < 65536.0 ? 1 : omp_get_max_threads();
#pragma omp parallel num_threads(threads)
  {
#pragma omp for schedule(static)
    for (int t = 0; t < m_tiles; ++t) prepare(t * max_mr, std::min(max_mr, M - t * max_mr));
#pragma omp for schedule(static)
    for (int u = 0; u < n_tiles; ++u) {
      const int g0 = u * max_nv, nv = std::min(max_nv, groups - g0);
      for (int kb = 0; kb < k_blocks; ++kb)
        for (int t = 0; t < m_tiles; ++t) compute(t * max_mr, std::min(max_mr, M - t * max_mr), g0, nv, kb);
    }
  }
}

void check_forward(const char* who, const float* out, const float* x, int rows, int cols, int M) {
  const std::string w(who);
  require(M >= 0, w + ": negative M");
  require(rows > 0 && cols > 0, w + ": empty weight matrix");
  if (M > 0) require(out != nullptr && x != nullptr, w + ": out or x is null");
}

// The tile of out(M,N) at rows m0.., weight groups g0.. (bias and out offset to match).
OutputTile output_tile(float* out, int N, int m0, int mr, int g0, int nv, const float* bias, bool accumulate) {
  const int n0 = g0 * kQRowGroup;
  return {out + static_cast<size_t>(m0) * N + n0, N, std::min(N - n0, nv * kQRowGroup), bias ? bias + n0 : nullptr,
          accumulate, mr, nv};
}

// Per-calling-thread scratch for the x tiles (grown, never shrunk).
template <class T>
T* scratch(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

}  // namespace
}  // namespace detail

void qlinear_forward(float* out, const float* x, const Q8Matrix& w, const float* bias, int M, bool accumulate) {
  using namespace detail;
  check_forward("qlinear_forward", out, x, w.rows(), w.cols(), M);
  if (M == 0) return;
  const int N = w.rows(), K = w.cols(), nb = K / kQ8Block;
  const KernelTable<Q8Kernel>& kt = q8_table(active_isa());
  thread_local std::vector<int8_t> xq_buf;
  thread_local std::vector<float> dx_buf;
  thread_local std::vector<int32_t> corr_buf;
  int8_t* xq = scratch(xq_buf, static_cast<size_t>(M) * K);
  float* dx = scratch(dx_buf, static_cast<size_t>(M) * nb);
  int32_t* corr = scratch(corr_buf, static_cast<size_t>(M) * nb);
  const long w_stride = static_cast<long>(nb) * 512, dw_stride = static_cast<long>(nb) * kQRowGroup;
  auto prepare = [&](int m0, int mr) { prepare_q8_tile(x, K, m0, mr, xq, dx, corr); };
  auto compute = [&](int m0, int mr, int g0, int nv, int /*kb*/) {
    const Q8Args a{.w = w.packed() + g0 * w_stride,
                   .dw = w.packed_scales() + g0 * dw_stride,
                   .w_stride = w_stride,
                   .dw_stride = dw_stride,
                   .xq = xq + static_cast<size_t>(m0) * K,
                   .dx = dx + static_cast<size_t>(m0) * nb,
                   .corr = corr + static_cast<size_t>(m0) * nb,
                   .nb = nb,
                   .t = output_tile(out, N, m0, mr, g0, nv, bias, accumulate)};
    kt.get(mr, nv)(a);
  };
  run_tiles(M, N, K, kt.shape(M), 1, prepare, compute);
}

namespace detail {
namespace {

// How an f32 call is cut: tiles of `shape`, row_tiles of them over M, K in k_blocks blocks.
struct F32Plan {
  TileShape shape;
  int row_tiles = 1, k_blocks = 1, block_len = 0, K = 0;

  F32Plan(TileShape s, int M, int K_) : shape(s), row_tiles((M + s.mr - 1) / s.mr), K(K_) {
    // Several row tiles reuse each weight tile from L2: cut K so a tile's block fits there
    // beside the next one. One row tile reads each weight once anyway: no blocks.
    k_blocks = row_tiles > 1 ? (K + kF32BlockK - 1) / kF32BlockK : 1;
    block_len = (K + k_blocks - 1) / k_blocks;
  }
  /// First chunk of block kb (K for kb == k_blocks).
  int k0(int kb) const { return std::min(K, kb * block_len); }
};

// Sets f.next*: the pass of row tile m0 over block kb of the tile at group g0 also pulls its
// share of the next block (this tile's next K block, else the next tile's first) into L2:
// pass t of T prefetches chunks from t*ceil(len/T) on, one per T steps, so memory streams at
// an even rate behind all passes instead of in bursts.
void plan_next_block(F32Args& f, const F32Plan& p, const F32Matrix& w, int groups, int m0, int g0, int nv, int kb) {
  const bool last_block = kb + 1 == p.k_blocks;
  if (last_block && g0 + nv >= groups) return;
  const long w_stride = static_cast<long>(p.K) * kQRowGroup;
  const int ng0 = last_block ? g0 + nv : g0, nkb = last_block ? 0 : kb + 1;
  f.next = w.packed() + ng0 * w_stride + p.k0(nkb) * 16L;
  f.next_nv = std::min(p.shape.nv, groups - ng0);
  f.next_len = p.k0(nkb + 1) - p.k0(nkb);
  f.next_k0 = (m0 / p.shape.mr) * ((f.next_len + p.row_tiles - 1) / p.row_tiles);
  f.next_every = p.row_tiles;
}

}  // namespace
}  // namespace detail

void qlinear_forward(float* out, const float* x, const F32Matrix& w, const float* bias, int M, bool accumulate) {
  using namespace detail;
  check_forward("qlinear_forward", out, x, w.rows(), w.cols(), M);
  if (M == 0) return;
  const int N = w.rows(), K = w.cols(), groups = (N + kQRowGroup - 1) / kQRowGroup;
  const KernelTable<F32Kernel>& kt = f32_table(active_isa());
  thread_local std::vector<float> x_buf;
  float* xt = scratch(x_buf, static_cast<size_t>(M) * K);
  const long w_stride = static_cast<long>(K) * kQRowGroup;
  const F32Plan plan(kt.shape(M), M, K);
  auto prepare = [&](int m0, int mr) { prepare_f32_tile(x, K, m0, mr, xt); };
  auto compute = [&](int m0, int mr, int g0, int nv, int kb) {
    thread_local std::vector<float> partial_buf;  // [row tile][mr][16*nv] sums between blocks
    const size_t tile_partials = static_cast<size_t>(plan.shape.mr) * plan.shape.nv * kQRowGroup;
    float* partial = scratch(partial_buf, plan.row_tiles * tile_partials) + (m0 / plan.shape.mr) * tile_partials;
    const int k0 = plan.k0(kb);
    F32Args f{.w = w.packed() + g0 * w_stride + k0 * 16L,
              .w_stride = w_stride,
              .x = xt + static_cast<size_t>(m0) * K + static_cast<size_t>(k0) * mr,
              .K = plan.k0(kb + 1) - k0,
              .t = output_tile(out, N, m0, mr, g0, nv, bias, accumulate),
              .acc_in = kb > 0 ? partial : nullptr,
              .acc_out = kb + 1 < plan.k_blocks ? partial : nullptr,
              .next = nullptr,
              .next_nv = 0,
              .next_len = 0,
              .next_k0 = 0,
              .next_every = 1};
    // The few-row streaming tiles (M <= small_m) leave prefetching to the hardware
    // (measured faster for them); the others stream the next block into L2 along the way.
    if (M > kt.small_m) plan_next_block(f, plan, w, groups, m0, g0, nv, kb);
    kt.get(mr, nv)(f);
  };
  run_tiles(M, N, K, plan.shape, plan.k_blocks, prepare, compute);
}

void qlinear_forward(float* out, const float* x, const Bf16Matrix& w, const float* bias, int M, bool accumulate) {
  using namespace detail;
  check_forward("qlinear_forward", out, x, w.rows(), w.cols(), M);
  if (M == 0) return;
  const int N = w.rows(), K = w.cols(), np = w.padded_cols() / 2;
  const KernelTable<Bf16Kernel>& kt = bf16_table(active_isa());
  thread_local std::vector<uint32_t> x_buf;
  uint32_t* xt = scratch(x_buf, static_cast<size_t>(M) * np);
  const long w_stride = static_cast<long>(np) * 2 * kQRowGroup;
  auto prepare = [&](int m0, int mr) { prepare_bf16_tile(x, K, m0, mr, xt); };
  auto compute = [&](int m0, int mr, int g0, int nv, int /*kb*/) {
    const Bf16Args a{.w = w.packed() + g0 * w_stride,
                     .w_stride = w_stride,
                     .x = xt + static_cast<size_t>(m0) * np,
                     .np = np,
                     .t = output_tile(out, N, m0, mr, g0, nv, bias, accumulate)};
    kt.get(mr, nv)(a);
  };
  run_tiles(M, N, K, kt.shape(M), 1, prepare, compute);
}

}  // namespace nexus::kernels
