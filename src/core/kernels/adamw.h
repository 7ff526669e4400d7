#pragma once
// AdamW (decoupled weight decay, torch.optim.AdamW semantics) and the helpers of a step:
// global gradient norm and in-place scaling for clipping.
#include <cstddef>

namespace nexus::kernels {

/// Hyper-parameters of one AdamW update. `step` counts from 1 (for bias correction).
struct AdamWParams {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;
  long step = 1;
  float grad_scale = 1.0f;  // gradients are multiplied by this first (global-norm clipping)
};

/// For i < n, with g = grad_scale * grads[i]: p -= lr*wd*p; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
/// p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).
void adamw_update(float* params, const float* grads, float* m, float* v, size_t n, const AdamWParams& hp);

/// Plain scalar reference of adamw_update (double arithmetic).
void adamw_update_ref(float* params, const float* grads, float* m, float* v, size_t n, const AdamWParams& hp);

/// sqrt(sum of squares): float partial sums over blocks of 1024 values, added in double.
double l2_norm(const float* x, size_t n);

/// x *= s.
void scale_inplace(float* x, size_t n, float s);

}  // namespace nexus::kernels
