#include "infer/attention_decode.h"

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cmath>
#include <vector>

#include "core/half.h"
#include "core/kernels/vecmath.h"

namespace nexus {

namespace {

// 8 cached elements as floats: f32 rows load directly, fp16 rows convert (F16C).
inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
inline __m256 load8(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
inline float to_float(float v) { return v; }
inline float to_float(uint16_t v) { return fp16_to_float(v); }

// q . k over hs elements: two 8-wide accumulators, then a scalar tail.
template <class T>
inline float dot(const float* q, const T* k, int hs) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  int d = 0;
  for (; d + 16 <= hs; d += 16) {
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), load8(k + d), a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d + 8), load8(k + d + 8), a1);
  }
  if (d + 8 <= hs) {
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), load8(k + d), a0);
    d += 8;
  }
  float s = kernels::hsum8(_mm256_add_ps(a0, a1));
  for (; d < hs; d++) s += q[d] * to_float(k[d]);
  return s;
}

// s[0..4) = q . k_r for the 4 rows k_r = K + r * stride, hs a multiple of 8. The 4 rows'
// chains of FMAs interleave, so the loop is bound by loads, not by FMA latency (one row at
// a time waits ~4 cycles per FMA), and one 4-way horizontal sum finishes all of them.
template <class T>
inline void dot4(const float* q, const T* K, size_t stride, int hs, float* s) {
  __m256 a[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int d = 0; d < hs; d += 8) {
    const __m256 qv = _mm256_loadu_ps(q + d);
    for (int r = 0; r < 4; r++) a[r] = _mm256_fmadd_ps(qv, load8(K + r * stride + d), a[r]);
  }
  const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a[0], a[1]), _mm256_hadd_ps(a[2], a[3]));
  _mm_storeu_ps(s, _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)));
}

// Walks a block of memory ahead of use, into L2 (prefetcht1), a given number of bytes at a
// time: prefetch sites are in the loops, so the lines go out spread over the work. Offsets,
// not pointers, track the walk: a pointer stepped 64 bytes past the end, or offset from the
// null block of `none`, is undefined behaviour (UBSan reported both).
class Streamer {
 public:
  Streamer(const void* p, size_t bytes) : p_(static_cast<const char*>(p)), bytes_(p ? bytes : 0) {}
  void advance(size_t bytes) {
    for (const size_t stop = std::min(bytes_, done_ + bytes); done_ < stop; done_ += 64)
      _mm_prefetch(p_ + done_, _MM_HINT_T1);
  }
  void finish() { advance(bytes_); }

 private:
  const char* p_;
  size_t bytes_;
  size_t done_ = 0;
};

// y[d0 .. d0+8*NV) = sum_j p[j] * V[j, d0 ..] / l, accumulated in registers; `ahead`
// advances by row_bytes per row.
template <int NV, class T>
void weighted_rows(float* y, const float* p, const T* V, int v_stride, int Tk, int d0, float inv_l, Streamer& ahead,
                   size_t row_bytes) {
  __m256 acc[NV];
  for (int v = 0; v < NV; v++) acc[v] = _mm256_setzero_ps();
  for (int j = 0; j < Tk; j++) {
    const __m256 pj = _mm256_set1_ps(p[j]);
    const T* row = V + (size_t)j * v_stride + d0;
    for (int v = 0; v < NV; v++) acc[v] = _mm256_fmadd_ps(pj, load8(row + 8 * v), acc[v]);
    ahead.advance(row_bytes);
  }
  const __m256 s = _mm256_set1_ps(inv_l);
  for (int v = 0; v < NV; v++) _mm256_storeu_ps(y + d0 + 8 * v, _mm256_mul_ps(acc[v], s));
}

template <class T>
void decode_head(float* y, const float* q, const T* K, int k_stride, const T* V, int v_stride, int Tk, int hs,
                 float* scores, const DecodePrefetch& next) {
  const float scale = 1.0f / std::sqrt((float)hs);
  const size_t row_bytes = (size_t)hs * sizeof(T);
  Streamer next_keys(next.keys, next.bytes), next_values(next.values, next.bytes);
  float mx = -INFINITY;
  int j = 0;
  if (hs % 8 == 0)
    for (; j + 4 <= Tk; j += 4) {
      dot4(q, K + (size_t)j * k_stride, k_stride, hs, scores + j);
      next_keys.advance(4 * row_bytes);
    }
  for (; j < Tk; j++) scores[j] = dot(q, K + (size_t)j * k_stride, hs);
  next_keys.finish();
  for (j = 0; j < Tk; j++) mx = std::max(mx, scores[j] *= scale);
  const float inv_l = 1.0f / kernels::exp_shifted_sum(scores, scores, Tk, mx);  // scores become exp(s - max)
  // Output columns in register blocks of 64, then 8; a ragged tail column by column. The
  // first block's pass over V also streams the next values.
  Streamer none(nullptr, 0);
  int d = 0;
  for (; d + 64 <= hs; d += 64) weighted_rows<8>(y, scores, V, v_stride, Tk, d, inv_l, d == 0 ? next_values : none, row_bytes);
  for (; d + 8 <= hs; d += 8) weighted_rows<1>(y, scores, V, v_stride, Tk, d, inv_l, d == 0 ? next_values : none, row_bytes);
  next_values.finish();
  for (; d < hs; d++) {
    float s = 0.0f;
    for (int j = 0; j < Tk; j++) s += scores[j] * to_float(V[(size_t)j * v_stride + d]);
    y[d] = s * inv_l;
  }
}

}  // namespace

void attention_decode_head(float* y, const float* q, const float* K, int k_stride, const float* V, int v_stride,
                           int Tk, int hs, float* scores, const DecodePrefetch& next) {
  decode_head(y, q, K, k_stride, V, v_stride, Tk, hs, scores, next);
}

void attention_decode_head(float* y, const float* q, const uint16_t* K, int k_stride, const uint16_t* V,
                           int v_stride, int Tk, int hs, float* scores, const DecodePrefetch& next) {
  decode_head(y, q, K, k_stride, V, v_stride, Tk, hs, scores, next);
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
