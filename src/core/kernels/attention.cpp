#include "core/kernels/attention.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/buffer.h"
#include "core/kernels/small_gemm.h"
#include "core/kernels/vecmath.h"
#include "core/rng.h"

namespace nexus::kernels {

namespace {

// Tiles: a block of kQueryBlock query rows meets keys in blocks of kKeyBlock; every
// product inside is a small_gemm on cache-resident operands. Head widths and key counts
// are padded to multiples of 8 (the SIMD width) with zeros, which change no dot product.
constexpr int kQueryBlock = 32;
constexpr int kKeyBlock = 64;

inline int round8(int n) { return (n + 7) & ~7; }

// Keep-decision of attention dropout for probability (row i, key j) of one head stream.
inline bool dropout_keep(uint64_t stream_key, int i, int j, float rate) {
  uint64_t h = splitmix64(stream_key + ((uint64_t)i << 32) + (uint64_t)j);
  return hash_to_unit_float(h) >= rate;
}

inline uint64_t dropout_stream_key(const AttentionDropout& d, uint64_t stream) {
  return splitmix64(d.seed ^ splitmix64(stream + 0x51ED270B27E1A2ull));
}

// dst(w, ld) = transpose of n rows of width w (row stride `stride`); columns n..ld zeroed.
// Whole 8 x 8 blocks go through registers; the ragged edges are copied one by one.
void transpose_into(float* dst, int ld, const float* src, long stride, int n, int w) {
  const int n8 = n & ~7, w8 = w & ~7;
  for (int j = 0; j < n8; j += 8)
    for (int d = 0; d < w8; d += 8) {
      __m256 r[8];
      for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + (size_t)(j + i) * stride + d);
      transpose8x8(r);
      for (int i = 0; i < 8; i++) _mm256_storeu_ps(dst + (size_t)(d + i) * ld + j, r[i]);
    }
  for (int j = 0; j < n; j++)
    for (int d = (j < n8 ? w8 : 0); d < w; d++) dst[(size_t)d * ld + j] = src[(size_t)j * stride + d];
  for (int d = 0; d < w; d++)
    for (int j = n; j < ld; j++) dst[(size_t)d * ld + j] = 0.0f;
}

// dst(n, wp) = scale * n rows of width w; columns w..wp zeroed.
void copy_rows_padded(float* dst, int wp, const float* src, long stride, int n, int w, float scale) {
  for (int j = 0; j < n; j++) {
    const float* s = src + (size_t)j * stride;
    float* d = dst + (size_t)j * wp;
    for (int c = 0; c < w; c++) d[c] = s[c] * scale;
    for (int c = w; c < wp; c++) d[c] = 0.0f;
  }
}

inline float row_max(const float* x, int n) {
  __m256 m = _mm256_set1_ps(-INFINITY);
  int j = 0;
  for (; j + 8 <= n; j += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + j));
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  h = _mm_max_ss(h, _mm_movehdup_ps(h));
  float r = _mm_cvtss_f32(h);
  for (; j < n; j++) r = x[j] > r ? x[j] : r;
  return r;
}

inline float dot(const float* a, const float* b, int n) {
  float s = 0.0f;
#pragma omp simd reduction(+ : s)
  for (int i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

inline void zero(float* x, int n) {
  for (int i = 0; i < n; i++) x[i] = 0.0f;
}

// Views of attention_head_forward's scratch.
struct ForwardScratch {
  float *kt, *vp, *qb, *s, *o, *m, *l;
};

ForwardScratch carve_forward(float* p, int Tk, int hs) {
  const int tkp = round8(Tk), hsp = round8(hs);
  ForwardScratch f;
  f.kt = p, p += (size_t)hs * tkp;                  // (hs, Tk_p) keys as columns
  f.vp = p, p += (size_t)Tk * hsp;                  // (Tk, hs_p) padded values when hs % 8 != 0
  f.qb = p, p += (size_t)kQueryBlock * hs;          // (QB, hs) scaled query block
  f.s = p, p += (size_t)kQueryBlock * kKeyBlock;    // (QB, KB) scores, then probabilities
  f.o = p, p += (size_t)kQueryBlock * hsp;          // (QB, hs_p) running numerators
  f.m = p, p += kQueryBlock;                        // (QB) running max
  f.l = p;                                          // (QB) running sum
  return f;
}

// One row's online-softmax step over a score tile row s[0..nbp) with `valid` live keys:
// turns s into (unnormalised) probabilities and returns the factor the row's previous
// accumulator must be multiplied by.
inline float online_softmax_row(float* s, int valid, int nbp, float& m, float& l) {
  if (valid <= 0) {
    zero(s, nbp);
    return 1.0f;
  }
  const float m_new = std::max(m, row_max(s, valid));
  const float corr = m == -INFINITY ? 0.0f : exp1(m - m_new);
  l = l * corr + exp_shifted_sum(s, s, valid, m_new);
  zero(s + valid, nbp - valid);
  m = m_new;
  return corr;
}

}  // namespace

long attention_head_scratch_floats(int Tk, int hs) {
  const int hsp = round8(hs);
  return (long)hs * round8(Tk) + (long)Tk * hsp + (long)kQueryBlock * (hs + kKeyBlock + hsp + 2) + 16;
}

void attention_head_forward(float* y, int y_stride, float* lse, const float* q, int q_stride, const float* k,
                            int k_stride, const float* v, int v_stride, int Tq, int Tk, int hs, float* scratch,
                            AttentionDropout dropout, uint64_t dropout_stream) {
  const int tkp = round8(Tk), hsp = round8(hs);
  ForwardScratch f = carve_forward(scratch, Tk, hs);
  transpose_into(f.kt, tkp, k, k_stride, Tk, hs);
  const float* vsrc = v;
  long vld = v_stride;
  if (hs != hsp) {  // the value block is a small_gemm B operand: whole vectors of 8 only
    copy_rows_padded(f.vp, hsp, v, v_stride, Tk, hs, 1.0f);
    vsrc = f.vp, vld = hsp;
  }
  const float scale = 1.0f / std::sqrt((float)hs);
  const int offset = Tk - Tq;  // query i sees keys 0 .. i + offset
  const bool drop = dropout.rate > 0.0f;
  const float keep_scale = drop ? 1.0f / (1.0f - dropout.rate) : 1.0f;
  const uint64_t key = drop ? dropout_stream_key(dropout, dropout_stream) : 0;
  for (int i0 = 0; i0 < Tq; i0 += kQueryBlock) {
    const int bq = std::min(kQueryBlock, Tq - i0);
    const int n_keys = i0 + bq + offset;
    copy_rows_padded(f.qb, hs, q + (size_t)i0 * q_stride, q_stride, bq, hs, scale);
    zero(f.o, bq * hsp);
    for (int r = 0; r < bq; r++) f.m[r] = -INFINITY, f.l[r] = 0.0f;
    for (int j0 = 0; j0 < n_keys; j0 += kKeyBlock) {
      const int nb = std::min(kKeyBlock, n_keys - j0), nbp = round8(nb);
      small_gemm(bq, nbp, hs, f.qb, hs, 1, f.kt + j0, tkp, f.s, kKeyBlock, false);  // S = Q K^T
      for (int r = 0; r < bq; r++) {
        float* s = f.s + (size_t)r * kKeyBlock;
        const int valid = std::min(nb, i0 + r + offset + 1 - j0);
        const float corr = online_softmax_row(s, valid, nbp, f.m[r], f.l[r]);
        if (corr != 1.0f)
          for (int d = 0; d < hsp; d++) f.o[(size_t)r * hsp + d] *= corr;
        if (drop)
          for (int j = 0; j < valid; j++)
            s[j] = dropout_keep(key, i0 + r + offset, j0 + j, dropout.rate) ? s[j] * keep_scale : 0.0f;
      }
      small_gemm(bq, hsp, nb, f.s, kKeyBlock, 1, vsrc + (size_t)j0 * vld, vld, f.o, hsp, true);  // O += P V
    }
    for (int r = 0; r < bq; r++) {
      const float inv_l = 1.0f / f.l[r];
      float* yi = y + (size_t)(i0 + r) * y_stride;
      for (int d = 0; d < hs; d++) yi[d] = f.o[(size_t)r * hsp + d] * inv_l;
      if (lse) lse[i0 + r] = f.m[r] + std::log(f.l[r]);
    }
  }
}

void attention_forward(float* y, float* lse, const float* qkv, int B, int T, int C, int NH,
                       AttentionDropout dropout) {
  const int hs = C / NH;
  const long scratch_floats = attention_head_scratch_floats(T, hs);
#pragma omp parallel if (!omp_in_parallel())
  {
    FloatBuffer scratch(scratch_floats);
#pragma omp for collapse(2) schedule(dynamic, 1)
    for (int b = 0; b < B; b++) {
      for (int h = 0; h < NH; h++) {
        const float* base = qkv + (size_t)b * T * 3 * C + h * hs;
        attention_head_forward(y + (size_t)b * T * C + h * hs, C, lse ? lse + ((size_t)b * NH + h) * T : nullptr,
                               base, 3 * C, base + C, 3 * C, base + 2 * C, 3 * C, T, T, hs, scratch.data(),
                               dropout, (uint64_t)b * NH + h);
      }
    }
  }
}

namespace {

// Views of the backward scratch of one head (T keys = T queries, causal).
struct BackwardScratch {
  float *kt, *vt, *qs, *kp, *dop, *dk, *dv, *p, *ds, *dq, *D;
};

size_t backward_scratch_floats(int T, int hs) {
  const size_t tp = round8(T), hsp = round8(hs);
  return 2 * hs * tp + 5 * T * hsp + 2 * kQueryBlock * tp + kQueryBlock * hsp + kQueryBlock + 16;
}

BackwardScratch carve_backward(float* p, int T, int hs) {
  const size_t tp = round8(T), hsp = round8(hs);
  BackwardScratch b;
  b.kt = p, p += hs * tp;                 // (hs, T_p) keys as columns
  b.vt = p, p += hs * tp;                 // (hs, T_p) values as columns
  b.qs = p, p += T * hsp;                 // (T, hs_p) queries * 1/sqrt(hs)
  b.kp = p, p += T * hsp;                 // (T, hs_p) keys
  b.dop = p, p += T * hsp;                // (T, hs_p) dy
  b.dk = p, p += T * hsp;                 // (T, hs_p) dK accumulator
  b.dv = p, p += T * hsp;                 // (T, hs_p) dV accumulator
  b.p = p, p += kQueryBlock * tp;         // (QB, T_p) probabilities (after dropout)
  b.ds = p, p += kQueryBlock * tp;        // (QB, T_p) dS / scale
  b.dq = p, p += kQueryBlock * hsp;       // (QB, hs_p) dQ / scale of the block
  b.D = p;                                // (QB) rowsum(dP * P) = dy . y
  return b;
}

// Backward of one head, FlashAttention-2 style: per block of query rows the probabilities
// are recomputed from lse, then dV += P^T dO, dS = P (dP - D), dK += dS^T Q, dQ = dS K.
// q,k,v,dq,dk,dv rows have stride qkv_stride; y and dy rows stride y_stride.
void attention_head_backward(float* dq, float* dk, float* dv, const float* q, const float* k, const float* v,
                             int qkv_stride, const float* y, const float* dy, int y_stride, const float* lse,
                             int T, int hs, float* scratch, AttentionDropout dropout, uint64_t stream) {
  const int tp = round8(T), hsp = round8(hs);
  BackwardScratch s = carve_backward(scratch, T, hs);
  const float scale = 1.0f / std::sqrt((float)hs);
  transpose_into(s.kt, tp, k, qkv_stride, T, hs);
  transpose_into(s.vt, tp, v, qkv_stride, T, hs);
  copy_rows_padded(s.qs, hsp, q, qkv_stride, T, hs, scale);
  copy_rows_padded(s.kp, hsp, k, qkv_stride, T, hs, 1.0f);
  copy_rows_padded(s.dop, hsp, dy, y_stride, T, hs, 1.0f);
  zero(s.dk, 2 * T * hsp);  // dk and dv are adjacent
  const bool drop = dropout.rate > 0.0f;
  const float keep_scale = drop ? 1.0f / (1.0f - dropout.rate) : 1.0f;
  const uint64_t key = drop ? dropout_stream_key(dropout, stream) : 0;
  for (int i0 = 0; i0 < T; i0 += kQueryBlock) {
    const int bq = std::min(kQueryBlock, T - i0), n_keys = i0 + bq, nkp = round8(n_keys);
    small_gemm(bq, nkp, hs, s.qs + (size_t)i0 * hsp, hsp, 1, s.kt, tp, s.p, tp, false);    // S
    small_gemm(bq, nkp, hs, s.dop + (size_t)i0 * hsp, hsp, 1, s.vt, tp, s.ds, tp, false);  // dP
    for (int r = 0; r < bq; r++) {
      const int i = i0 + r, valid = i + 1;
      float* p = s.p + (size_t)r * tp;
      float* ds = s.ds + (size_t)r * tp;
      const float Di = dot(dy + (size_t)i * y_stride, y + (size_t)i * y_stride, hs);
      exp_shifted_scaled(p, p, valid, lse[i], 1.0f);
      if (drop) {
        for (int j = 0; j < valid; j++) {
          const float mask = dropout_keep(key, i, j, dropout.rate) ? keep_scale : 0.0f;
          ds[j] = p[j] * (ds[j] * mask - Di);
          p[j] *= mask;
        }
      } else {
#pragma omp simd
        for (int j = 0; j < valid; j++) ds[j] = p[j] * (ds[j] - Di);
      }
      zero(p + valid, nkp - valid);
      zero(ds + valid, nkp - valid);
    }
    // dV[0:n_keys] += P^T dO_blk ; dK[0:n_keys] += dS^T Qs_blk (A read transposed in place).
    small_gemm(n_keys, hsp, bq, s.p, 1, tp, s.dop + (size_t)i0 * hsp, hsp, s.dv, hsp, true);
    small_gemm(n_keys, hsp, bq, s.ds, 1, tp, s.qs + (size_t)i0 * hsp, hsp, s.dk, hsp, true);
    small_gemm(bq, hsp, n_keys, s.ds, tp, 1, s.kp, hsp, s.dq, hsp, false);  // dQ_blk / scale
    for (int r = 0; r < bq; r++) {
      float* out = dq + (size_t)(i0 + r) * qkv_stride;
      for (int d = 0; d < hs; d++) out[d] = s.dq[(size_t)r * hsp + d] * scale;
    }
  }
  for (int j = 0; j < T; j++)
    for (int d = 0; d < hs; d++) {
      dk[(size_t)j * qkv_stride + d] = s.dk[(size_t)j * hsp + d];
      dv[(size_t)j * qkv_stride + d] = s.dv[(size_t)j * hsp + d];
    }
}

}  // namespace

void attention_backward(float* dqkv, const float* dy, const float* qkv, const float* y, const float* lse,
                        int B, int T, int C, int NH, AttentionDropout dropout) {
  const int hs = C / NH;
  const size_t scratch_floats = backward_scratch_floats(T, hs);
#pragma omp parallel if (!omp_in_parallel())
  {
    FloatBuffer scratch(scratch_floats);
#pragma omp for collapse(2) schedule(dynamic, 1)
    for (int b = 0; b < B; b++) {
      for (int h = 0; h < NH; h++) {
        const size_t qoff = (size_t)b * T * 3 * C + h * hs, yoff = (size_t)b * T * C + h * hs;
        attention_head_backward(dqkv + qoff, dqkv + qoff + C, dqkv + qoff + 2 * C, qkv + qoff, qkv + qoff + C,
                                qkv + qoff + 2 * C, 3 * C, y + yoff, dy + yoff, C,
                                lse + ((size_t)b * NH + h) * T, T, hs, scratch.data(), dropout,
                                (uint64_t)b * NH + h);
      }
    }
  }
}

void attention_forward_ref(float* y, float* lse, const float* qkv, int B, int T, int C, int NH) {
  const int hs = C / NH;
  const double scale = 1.0 / std::sqrt((double)hs);
  std::vector<double> att(T);
  for (int b = 0; b < B; b++)
    for (int h = 0; h < NH; h++)
      for (int i = 0; i < T; i++) {
        const float* qi = qkv + ((size_t)b * T + i) * 3 * C + h * hs;
        double mx = -INFINITY;
        for (int j = 0; j <= i; j++) {
          const float* kj = qkv + ((size_t)b * T + j) * 3 * C + C + h * hs;
          double s = 0;
          for (int d = 0; d < hs; d++) s += (double)qi[d] * kj[d];
          att[j] = s * scale;
          mx = std::max(mx, att[j]);
        }
        double sum = 0;
        for (int j = 0; j <= i; j++) sum += (att[j] = std::exp(att[j] - mx));
        for (int d = 0; d < hs; d++) {
          double o = 0;
          for (int j = 0; j <= i; j++) o += att[j] * qkv[((size_t)b * T + j) * 3 * C + 2 * C + h * hs + d];
          y[((size_t)b * T + i) * C + h * hs + d] = (float)(o / sum);
        }
        if (lse) lse[((size_t)b * NH + h) * T + i] = (float)(mx + std::log(sum));
      }
}

}  // namespace nexus::kernels
