#include "core/kernels/layernorm.h"

#include <omp.h>

#include <cmath>
#include <vector>

namespace nexus::kernels {

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                       const float* bias, int N, int C) {
#pragma omp parallel for schedule(static) if (N >= 64 && !omp_in_parallel())
  for (int i = 0; i < N; i++) {
    const float* x = inp + (size_t)i * C;
    float* y = out + (size_t)i * C;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int c = 0; c < C; c++) sum += x[c];
    float m = sum / C;
    float var = 0.0f;
#pragma omp simd reduction(+ : var)
    for (int c = 0; c < C; c++) var += (x[c] - m) * (x[c] - m);
    float s = 1.0f / std::sqrt(var / C + kLayerNormEps);
    if (bias) {
#pragma omp simd
      for (int c = 0; c < C; c++) y[c] = (x[c] - m) * s * weight[c] + bias[c];
    } else {
#pragma omp simd
      for (int c = 0; c < C; c++) y[c] = (x[c] - m) * s * weight[c];
    }
    mean[i] = m;
    rstd[i] = s;
  }
}

// dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), where g = dout * weight.
// Parameter gradients are reduced per thread, then summed, so no atomics are needed.
void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int N, int C) {
  int nthreads = omp_in_parallel() ? 1 : omp_get_max_threads();
  std::vector<float> partial((size_t)nthreads * 2 * C, 0.0f);
#pragma omp parallel num_threads(nthreads)
  {
    int tid = omp_get_thread_num();
    float* dw_local = partial.data() + (size_t)tid * 2 * C;
    float* db_local = dw_local + C;
#pragma omp for schedule(static)
    for (int i = 0; i < N; i++) {
      const float* x = inp + (size_t)i * C;
      const float* dy = dout + (size_t)i * C;
      float* dx = dinp + (size_t)i * C;
      float m = mean[i], s = rstd[i];
      float g_mean = 0.0f, gx_mean = 0.0f;
#pragma omp simd reduction(+ : g_mean, gx_mean)
      for (int c = 0; c < C; c++) {
        float xhat = (x[c] - m) * s;
        float g = dy[c] * weight[c];
        g_mean += g;
        gx_mean += g * xhat;
      }
      g_mean /= C;
      gx_mean /= C;
#pragma omp simd
      for (int c = 0; c < C; c++) {
        float xhat = (x[c] - m) * s;
        dw_local[c] += dy[c] * xhat;
        db_local[c] += dy[c];
        dx[c] += s * (dy[c] * weight[c] - g_mean - xhat * gx_mean);
      }
    }
  }
  for (int t = 0; t < nthreads; t++) {
    const float* dw_local = partial.data() + (size_t)t * 2 * C;
    for (int c = 0; c < C; c++) dweight[c] += dw_local[c];
    if (dbias)
      for (int c = 0; c < C; c++) dbias[c] += dw_local[C + c];
  }
}

void layernorm_forward_ref(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                           const float* bias, int N, int C) {
  for (int i = 0; i < N; i++) {
    const float* x = inp + (size_t)i * C;
    double m = 0, v = 0;
    for (int c = 0; c < C; c++) m += x[c];
    m /= C;
    for (int c = 0; c < C; c++) v += (x[c] - m) * (x[c] - m);
    v /= C;
    double s = 1.0 / std::sqrt(v + kLayerNormEps);
    for (int c = 0; c < C; c++)
      out[(size_t)i * C + c] = (float)((x[c] - m) * s * weight[c] + (bias ? bias[c] : 0.0));
    if (mean) mean[i] = (float)m;
    if (rstd) rstd[i] = (float)s;
  }
}

}  // namespace nexus::kernels
