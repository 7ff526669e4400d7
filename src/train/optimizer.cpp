#include "train/optimizer.h"

#include <cmath>

#include "core/kernels/adamw.h"

namespace nexus {

AdamW::AdamW(const ParameterLayout& layout) : ranges_(layout.decay_ranges()) {
  m_.resize(layout.total());
  v_.resize(layout.total());
}

float AdamW::step(float* params, float* grads, float lr, float beta1, float beta2, float weight_decay,
                  float grad_clip, long step) {
  const size_t n = m_.size();
  const float norm = (float)kernels::l2_norm(grads, n);
  if (!std::isfinite(norm)) return norm;
  float grad_scale = 1.0f;  // applied inside the update: one pass over the gradients less
  if (grad_clip > 0.0f) {
    const float coef = grad_clip / (norm + 1e-6f);
    if (coef < 1.0f) grad_scale = coef;
  }
  for (const DecayRange& r : ranges_) {
    kernels::AdamWParams hp;
    hp.lr = lr;
    hp.beta1 = beta1;
    hp.beta2 = beta2;
    hp.weight_decay = r.decay ? weight_decay : 0.0f;
    hp.step = step;
    hp.grad_scale = grad_scale;
    kernels::adamw_update(params + r.offset, grads + r.offset, m_.data() + r.offset, v_.data() + r.offset, r.count,
                          hp);
  }
  return norm;
}

}  // namespace nexus
