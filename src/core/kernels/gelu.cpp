#include "core/kernels/gelu.h"

#include <omp.h>

#include <algorithm>
#include <cmath>

#include "core/kernels/vecmath.h"

namespace nexus::kernels {

namespace {
constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kCubic = 0.044715f;

// tanh(u) = 1 - 2 / (exp(2u) + 1) for 8 lanes; u is clamped so exp stays finite.
inline __m256 tanh8(__m256 u) {
  u = _mm256_min_ps(_mm256_max_ps(u, _mm256_set1_ps(-15.0f)), _mm256_set1_ps(15.0f));
  __m256 e = exp8(_mm256_add_ps(u, u));
  return _mm256_sub_ps(_mm256_set1_ps(1.0f),
                       _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, _mm256_set1_ps(1.0f))));
}

inline float tanh1(float u) {
  u = std::fmin(std::fmax(u, -15.0f), 15.0f);
  return 1.0f - 2.0f / (exp1(2.0f * u) + 1.0f);
}

// Processes [begin, end) of the arrays; the vector body handles 8 at a time.
void gelu_forward_range(float* out, const float* inp, long begin, long end) {
  const __m256 a = _mm256_set1_ps(kSqrt2OverPi), b = _mm256_set1_ps(kCubic), half = _mm256_set1_ps(0.5f),
               one = _mm256_set1_ps(1.0f);
  long i = begin;
  for (; i + 8 <= end; i += 8) {
    __m256 x = _mm256_loadu_ps(inp + i);
    __m256 u = _mm256_mul_ps(a, _mm256_fmadd_ps(_mm256_mul_ps(b, x), _mm256_mul_ps(x, x), x));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_mul_ps(half, x), _mm256_add_ps(one, tanh8(u))));
  }
  for (; i < end; i++) {
    float x = inp[i];
    out[i] = 0.5f * x * (1.0f + tanh1(kSqrt2OverPi * (x + kCubic * x * x * x)));
  }
}

// d/dx gelu = 0.5 (1 + th) + 0.5 x (1 - th^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2).
void gelu_backward_range(float* dinp, const float* inp, const float* dout, long begin, long end) {
  const __m256 a = _mm256_set1_ps(kSqrt2OverPi), b = _mm256_set1_ps(kCubic), b3 = _mm256_set1_ps(3.0f * kCubic),
               half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
  long i = begin;
  for (; i + 8 <= end; i += 8) {
    __m256 x = _mm256_loadu_ps(inp + i);
    __m256 x2 = _mm256_mul_ps(x, x);
    __m256 th = tanh8(_mm256_mul_ps(a, _mm256_fmadd_ps(_mm256_mul_ps(b, x), x2, x)));
    __m256 sech2 = _mm256_fnmadd_ps(th, th, one);
    __m256 inner = _mm256_mul_ps(a, _mm256_fmadd_ps(b3, x2, one));
    __m256 local = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_mul_ps(half, x), sech2), inner,
                                   _mm256_mul_ps(half, _mm256_add_ps(one, th)));
    _mm256_storeu_ps(dinp + i, _mm256_mul_ps(local, _mm256_loadu_ps(dout + i)));
  }
  for (; i < end; i++) {
    float x = inp[i];
    float th = tanh1(kSqrt2OverPi * (x + kCubic * x * x * x));
    float local = 0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * kSqrt2OverPi * (1.0f + 3.0f * kCubic * x * x);
    dinp[i] = local * dout[i];
  }
}

// Splits [0, N) into per-thread ranges aligned to 8 floats.
template <class F>
void for_ranges(long N, F&& body) {
  if (N < 16384 || omp_in_parallel()) {
    body(0L, N);
    return;
  }
#pragma omp parallel
  {
    long nt = omp_get_num_threads(), tid = omp_get_thread_num();
    long chunk = ((N + nt - 1) / nt + 7) / 8 * 8;
    long begin = std::min(N, tid * chunk), end = std::min(N, begin + chunk);
    body(begin, end);
  }
}
}  // namespace

void gelu_forward(float* out, const float* inp, long N) {
  for_ranges(N, [&](long b, long e) { gelu_forward_range(out, inp, b, e); });
}

void gelu_backward(float* dinp, const float* inp, const float* dout, long N) {
  for_ranges(N, [&](long b, long e) { gelu_backward_range(dinp, inp, dout, b, e); });
}

void gelu_forward_ref(float* out, const float* inp, long N) {
  for (long i = 0; i < N; i++) {
    double x = inp[i];
    out[i] = (float)(0.5 * x * (1.0 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))));
  }
}

}  // namespace nexus::kernels
