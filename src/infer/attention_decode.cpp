#include "infer/attention_decode.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/kernels/vecmath.h"

namespace nexus {

namespace {

// q . k over hs floats: two 8-wide accumulators, then a scalar tail.
inline float dot(const float* q, const float* k, int hs) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  int d = 0;
  for (; d + 16 <= hs; d += 16) {
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), _mm256_loadu_ps(k + d), a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d + 8), _mm256_loadu_ps(k + d + 8), a1);
  }
  if (d + 8 <= hs) {
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), _mm256_loadu_ps(k + d), a0);
    d += 8;
  }
  float s = kernels::hsum8(_mm256_add_ps(a0, a1));
  for (; d < hs; d++) s += q[d] * k[d];
  return s;
}

// y[d0 .. d0+8*NV) = sum_j p[j] * V[j, d0 ..] / l, accumulated in registers.
template <int NV>
void weighted_rows(float* y, const float* p, const float* V, int v_stride, int Tk, int d0, float inv_l) {
  __m256 acc[NV];
  for (int v = 0; v < NV; v++) acc[v] = _mm256_setzero_ps();
  for (int j = 0; j < Tk; j++) {
    const __m256 pj = _mm256_set1_ps(p[j]);
    const float* row = V + (size_t)j * v_stride + d0;
    for (int v = 0; v < NV; v++) acc[v] = _mm256_fmadd_ps(pj, _mm256_loadu_ps(row + 8 * v), acc[v]);
  }
  const __m256 s = _mm256_set1_ps(inv_l);
  for (int v = 0; v < NV; v++) _mm256_storeu_ps(y + d0 + 8 * v, _mm256_mul_ps(acc[v], s));
}

}  // namespace

void attention_decode_head(float* y, const float* q, const float* K, int k_stride, const float* V, int v_stride,
                           int Tk, int hs, float* scores) {
  const float scale = 1.0f / std::sqrt((float)hs);
  float mx = -INFINITY;
  for (int j = 0; j < Tk; j++) {
    scores[j] = dot(q, K + (size_t)j * k_stride, hs) * scale;
    mx = std::max(mx, scores[j]);
  }
  const float inv_l = 1.0f / kernels::exp_shifted_sum(scores, scores, Tk, mx);  // scores become exp(s - max)
  // Output columns in register blocks of 64, then 8; a ragged tail column by column.
  int d = 0;
  for (; d + 64 <= hs; d += 64) weighted_rows<8>(y, scores, V, v_stride, Tk, d, inv_l);
  for (; d + 8 <= hs; d += 8) weighted_rows<1>(y, scores, V, v_stride, Tk, d, inv_l);
  for (; d < hs; d++) {
    float s = 0.0f;
    for (int j = 0; j < Tk; j++) s += scores[j] * V[(size_t)j * v_stride + d];
    y[d] = s * inv_l;
  }
}

void attention_decode_head_ref(float* y, const float* q, const float* K, int k_stride, const float* V, int v_stride,
                               int Tk, int hs) {
  std::vector<double> s(Tk);
  double mx = -INFINITY;
  for (int j = 0; j < Tk; j++) {
    double dot = 0;
    for (int d = 0; d < hs; d++) dot += (double)q[d] * K[(size_t)j * k_stride + d];
    s[j] = dot / std::sqrt((double)hs);
    mx = std::max(mx, s[j]);
  }
  double sum = 0;
  for (double& x : s) sum += (x = std::exp(x - mx));
  for (int d = 0; d < hs; d++) {
    double o = 0;
    for (int j = 0; j < Tk; j++) o += s[j] * V[(size_t)j * v_stride + d];
    y[d] = (float)(o / sum);
  }
}

}  // namespace nexus
