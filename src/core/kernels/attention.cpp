#include "core/kernels/attention.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/kernels/vecmath.h"
#include "core/rng.h"

namespace nexus::kernels {

namespace {

constexpr int kKeyBlock = 64;  // keys per online-softmax step

// Keep-decision of attention dropout for probability (row i, key j) of one head stream.
inline bool dropout_keep(uint64_t stream_key, int i, int j, float rate) {
  uint64_t h = splitmix64(stream_key + ((uint64_t)i << 32) + (uint64_t)j);
  return hash_to_unit_float(h) >= rate;
}

inline uint64_t dropout_stream_key(const AttentionDropout& d, uint64_t stream) {
  return splitmix64(d.seed ^ splitmix64(stream + 0x51ED270B27E1A2ull));
}

// s[0..n) = scale * q . Kt[:, j0 .. j0+n), with Kt (hs, ld) holding keys as columns.
inline void scores_row(float* s, const float* q, const float* Kt, int ld, int j0, int n, int hs, float scale) {
  for (int j = 0; j < n; j++) s[j] = 0.0f;
  for (int d = 0; d < hs; d++) {
    const float qd = q[d] * scale;
    const float* kr = Kt + (size_t)d * ld + j0;
#pragma omp simd
    for (int j = 0; j < n; j++) s[j] += qd * kr[j];
  }
}

// acc[0..hs) += a * row[0..hs)
inline void axpy(float* acc, float a, const float* row, int hs) {
#pragma omp simd
  for (int d = 0; d < hs; d++) acc[d] += a * row[d];
}

inline float dot(const float* a, const float* b, int n) {
  float s = 0.0f;
#pragma omp simd reduction(+ : s)
  for (int i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

// Copies Tk rows of width hs (row stride `stride`) into Kt (hs, Tk), transposed.
void transpose_rows(float* Kt, const float* k, int stride, int Tk, int hs) {
  for (int j = 0; j < Tk; j++)
    for (int d = 0; d < hs; d++) Kt[(size_t)d * Tk + j] = k[(size_t)j * stride + d];
}

}  // namespace

long attention_head_scratch_floats(int Tk, int hs) { return (long)hs * Tk + kKeyBlock + hs + 16; }

void attention_head_forward(float* y, int y_stride, float* lse, const float* q, int q_stride, const float* k,
                            int k_stride, const float* v, int v_stride, int Tq, int Tk, int hs, float* scratch,
                            AttentionDropout dropout, uint64_t dropout_stream) {
  float* Kt = scratch;                       // (hs, Tk)
  float* s = Kt + (size_t)hs * Tk;           // (kKeyBlock) scores, then probabilities
  float* acc = s + kKeyBlock;                // (hs) running numerator
  transpose_rows(Kt, k, k_stride, Tk, hs);
  const float scale = 1.0f / std::sqrt((float)hs);
  const int offset = Tk - Tq;
  const bool drop = dropout.rate > 0.0f;
  const float keep_scale = drop ? 1.0f / (1.0f - dropout.rate) : 1.0f;
  const uint64_t key = drop ? dropout_stream_key(dropout, dropout_stream) : 0;
  for (int i = 0; i < Tq; i++) {
    const float* qi = q + (size_t)i * q_stride;
    const int n_keys = i + offset + 1;
    float m = -INFINITY, l = 0.0f;
    for (int d = 0; d < hs; d++) acc[d] = 0.0f;
    for (int j0 = 0; j0 < n_keys; j0 += kKeyBlock) {
      const int n = std::min(kKeyBlock, n_keys - j0);
      scores_row(s, qi, Kt, Tk, j0, n, hs, scale);
      float bmax = -INFINITY;
      for (int j = 0; j < n; j++) bmax = std::fmax(bmax, s[j]);
      const float m_new = std::fmax(m, bmax);
      const float corr = exp1(m - m_new);  // exp(-inf) = 0 on the first block
      l = l * corr + exp_shifted_sum(s, s, n, m_new);
      for (int d = 0; d < hs; d++) acc[d] *= corr;
      for (int j = 0; j < n; j++) {
        float p = s[j];
        if (drop) p = dropout_keep(key, i + offset, j0 + j, dropout.rate) ? p * keep_scale : 0.0f;
        if (p != 0.0f) axpy(acc, p, v + (size_t)(j0 + j) * v_stride, hs);
      }
      m = m_new;
    }
    const float inv_l = 1.0f / l;
    float* yi = y + (size_t)i * y_stride;
    for (int d = 0; d < hs; d++) yi[d] = acc[d] * inv_l;
    if (lse) lse[i] = m + std::log(l);
  }
}

void attention_forward(float* y, float* lse, const float* qkv, int B, int T, int C, int NH,
                       AttentionDropout dropout) {
  const int hs = C / NH;
  const long scratch_floats = attention_head_scratch_floats(T, hs);
#pragma omp parallel if (!omp_in_parallel())
  {
    std::vector<float> scratch(scratch_floats);
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

// Backward of one head. Shapes: q,k,v,y,dy rows of width hs with the given strides;
// dq, dk, dv written with the same stride as qkv. Scratch: Kt, Vt (hs,T), dK, dV (T,hs), row (T).
void attention_head_backward(float* dq, float* dk, float* dv, int dqkv_stride, const float* q, const float* k,
                             const float* v, int qkv_stride, const float* y, const float* dy, int y_stride,
                             const float* lse, int T, int hs, float* scratch, AttentionDropout dropout,
                             uint64_t stream) {
  float* Kt = scratch;
  float* Vt = Kt + (size_t)hs * T;
  float* dK = Vt + (size_t)hs * T;
  float* dV = dK + (size_t)T * hs;
  float* p = dV + (size_t)T * hs;   // (T) probabilities of one row
  float* dp = p + T;                // (T)
  float* dqi = dp + T;              // (hs)
  transpose_rows(Kt, k, qkv_stride, T, hs);
  transpose_rows(Vt, v, qkv_stride, T, hs);
  std::fill(dK, dK + (size_t)2 * T * hs, 0.0f);  // dK and dV are adjacent
  const float scale = 1.0f / std::sqrt((float)hs);
  const bool drop = dropout.rate > 0.0f;
  const float keep_scale = drop ? 1.0f / (1.0f - dropout.rate) : 1.0f;
  const uint64_t key = drop ? dropout_stream_key(dropout, stream) : 0;
  for (int i = 0; i < T; i++) {
    const float* qi = q + (size_t)i * qkv_stride;
    const float* dyi = dy + (size_t)i * y_stride;
    const int n = i + 1;
    const float Di = dot(dyi, y + (size_t)i * y_stride, hs);  // rowsum(dP * P) = dy . y
    scores_row(p, qi, Kt, T, 0, n, hs, scale);
    exp_shifted_scaled(p, p, n, lse[i], 1.0f);
    scores_row(dp, dyi, Vt, T, 0, n, hs, 1.0f);  // dp_j = dy_i . v_j
    for (int d = 0; d < hs; d++) dqi[d] = 0.0f;
    for (int j = 0; j < n; j++) {
      float pd = p[j], dpj = dp[j];
      if (drop) {
        float m = dropout_keep(key, i, j, dropout.rate) ? keep_scale : 0.0f;
        pd *= m;
        dpj *= m;
      }
      axpy(dV + (size_t)j * hs, pd, dyi, hs);
      const float ds = p[j] * (dpj - Di) * scale;
      if (ds != 0.0f) {
        axpy(dqi, ds, k + (size_t)j * qkv_stride, hs);
        axpy(dK + (size_t)j * hs, ds, qi, hs);
      }
    }
    float* dq_out = dq + (size_t)i * dqkv_stride;
    for (int d = 0; d < hs; d++) dq_out[d] = dqi[d];
  }
  for (int j = 0; j < T; j++) {
    for (int d = 0; d < hs; d++) {
      dk[(size_t)j * dqkv_stride + d] = dK[(size_t)j * hs + d];
      dv[(size_t)j * dqkv_stride + d] = dV[(size_t)j * hs + d];
    }
  }
}

}  // namespace

void attention_backward(float* dqkv, const float* dy, const float* qkv, const float* y, const float* lse,
                        int B, int T, int C, int NH, AttentionDropout dropout) {
  const int hs = C / NH;
  const size_t scratch_floats = (size_t)4 * T * hs + 2 * T + hs + 16;
#pragma omp parallel if (!omp_in_parallel())
  {
    std::vector<float> scratch(scratch_floats);
#pragma omp for collapse(2) schedule(dynamic, 1)
    for (int b = 0; b < B; b++) {
      for (int h = 0; h < NH; h++) {
        const size_t qoff = (size_t)b * T * 3 * C + h * hs, yoff = (size_t)b * T * C + h * hs;
        attention_head_backward(dqkv + qoff, dqkv + qoff + C, dqkv + qoff + 2 * C, 3 * C, qkv + qoff,
                                qkv + qoff + C, qkv + qoff + 2 * C, 3 * C, y + yoff, dy + yoff, C,
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
