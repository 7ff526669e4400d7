#include "core/kernels/crossentropy.h"

#include <immintrin.h>
#include <omp.h>

#include <cmath>

#include "core/kernels/vecmath.h"

namespace nexus::kernels {

namespace {
// Returns max and log(sum(exp(x - max))) of one row.
inline void row_logsumexp(const float* x, int V, float* max_out, float* log_sum_out) {
  // 8 lanes of running maxima (std::fmax is a libm call per element here; NaN logits make
  // the loss NaN either way).
  __m256 m8 = _mm256_set1_ps(-INFINITY);
  int v = 0;
  for (; v + 8 <= V; v += 8) m8 = _mm256_max_ps(m8, _mm256_loadu_ps(x + v));
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, m8);
  float mx = -INFINITY;
  for (float l : lanes) mx = l > mx ? l : mx;
  for (; v < V; v++) mx = x[v] > mx ? x[v] : mx;
  float sum = sum_exp_shifted(x, V, mx);
  *max_out = mx;
  *log_sum_out = std::log(sum);
}
}  // namespace

void crossentropy_forward(float* losses, const float* logits, const int32_t* targets, int N, int V) {
#pragma omp parallel for schedule(static) if ((long)N * V >= 65536 && !omp_in_parallel())
  for (int i = 0; i < N; i++) {
    const float* x = logits + (size_t)i * V;
    float mx, log_sum;
    row_logsumexp(x, V, &mx, &log_sum);
    losses[i] = mx + log_sum - x[targets[i]];
  }
}

void crossentropy_forward_backward(float* losses, float* logits, const int32_t* targets, int N, int V,
                                   float dloss_scale) {
#pragma omp parallel for schedule(static) if ((long)N * V >= 65536 && !omp_in_parallel())
  for (int i = 0; i < N; i++) {
    float* x = logits + (size_t)i * V;
    float mx, log_sum;
    row_logsumexp(x, V, &mx, &log_sum);
    int target = targets[i];
    losses[i] = mx + log_sum - x[target];
    float shift = mx + log_sum;  // softmax = exp(x - shift)
    exp_shifted_scaled(x, x, V, shift, dloss_scale);
    x[target] -= dloss_scale;
  }
}

void crossentropy_forward_ref(float* losses, const float* logits, const int32_t* targets, int N, int V) {
  for (int i = 0; i < N; i++) {
    const float* x = logits + (size_t)i * V;
    double mx = -INFINITY, sum = 0;
    for (int v = 0; v < V; v++) mx = std::fmax(mx, (double)x[v]);
    for (int v = 0; v < V; v++) sum += std::exp((double)x[v] - mx);
    losses[i] = (float)(mx + std::log(sum) - x[targets[i]]);
  }
}

}  // namespace nexus::kernels
