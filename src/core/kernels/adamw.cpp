#include "core/kernels/adamw.h"

#include <omp.h>

#include <cmath>

namespace nexus::kernels {

void adamw_update(float* params, const float* grads, float* m, float* v, size_t n, const AdamWParams& hp) {
  const float bc1 = 1.0f - (float)std::pow((double)hp.beta1, (double)hp.step);
  const float bc2 = 1.0f - (float)std::pow((double)hp.beta2, (double)hp.step);
  const float step_size = hp.lr / bc1;
  const float inv_sqrt_bc2 = 1.0f / std::sqrt(bc2);
  const float decay = 1.0f - hp.lr * hp.weight_decay;
  const float b1 = hp.beta1, b2 = hp.beta2, eps = hp.eps, gs = hp.grad_scale;
#pragma omp parallel for simd schedule(static) if (n >= 32768 && !omp_in_parallel())
  for (size_t i = 0; i < n; i++) {
    float g = grads[i] * gs;
    float mi = b1 * m[i] + (1.0f - b1) * g;
    float vi = b2 * v[i] + (1.0f - b2) * g * g;
    m[i] = mi;
    v[i] = vi;
    params[i] = params[i] * decay - step_size * mi / (std::sqrt(vi) * inv_sqrt_bc2 + eps);
  }
}

void adamw_update_ref(float* params, const float* grads, float* m, float* v, size_t n, const AdamWParams& hp) {
  double bc1 = 1.0 - std::pow((double)hp.beta1, (double)hp.step);
  double bc2 = 1.0 - std::pow((double)hp.beta2, (double)hp.step);
  for (size_t i = 0; i < n; i++) {
    double p = params[i] * (1.0 - (double)hp.lr * hp.weight_decay);
    const double g = (double)grads[i] * hp.grad_scale;
    double mi = hp.beta1 * (double)m[i] + (1.0 - hp.beta1) * g;
    double vi = hp.beta2 * (double)v[i] + (1.0 - hp.beta2) * g * g;
    m[i] = (float)mi;
    v[i] = (float)vi;
    params[i] = (float)(p - hp.lr / bc1 * mi / (std::sqrt(vi) / std::sqrt(bc2) + hp.eps));
  }
}

double l2_norm(const float* x, size_t n) {
  double sum = 0.0;
#pragma omp parallel for simd reduction(+ : sum) schedule(static) if (n >= 32768 && !omp_in_parallel())
  for (size_t i = 0; i < n; i++) sum += (double)x[i] * x[i];
  return std::sqrt(sum);
}

void scale_inplace(float* x, size_t n, float s) {
#pragma omp parallel for simd schedule(static) if (n >= 32768 && !omp_in_parallel())
  for (size_t i = 0; i < n; i++) x[i] *= s;
}

}  // namespace nexus::kernels
