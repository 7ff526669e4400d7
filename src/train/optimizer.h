#pragma once
// AdamW over a GPT's single parameter buffer, with global-norm gradient clipping.
#include "core/buffer.h"
#include "model/params.h"

namespace nexus {

/// Optimizer state (first and second moments) and the update of one step.
class AdamW {
 public:
  /// Allocates zeroed moments for every parameter of `layout`.
  explicit AdamW(const ParameterLayout& layout);

  /// Clips the gradients to global norm `grad_clip` (0 = no clipping; torch's clip_grad_norm_:
  /// scale by min(1, clip / (norm + 1e-6))), then applies one AdamW update with the given
  /// lr; weight decay only on 2-D weights. The clipping factor is applied inside the update, so
  /// `grads` itself is left unscaled. `step` counts from 1. Returns the norm before
  /// clipping. A non-finite norm (a NaN or inf gradient) is returned without any update:
  /// parameters and moments are left as they were, so a diverged step never reaches them.
  float step(float* params, float* grads, float lr, float beta1, float beta2, float weight_decay, float grad_clip,
             long step);

  FloatBuffer& m() { return m_; }
  FloatBuffer& v() { return v_; }
  const FloatBuffer& m() const { return m_; }
  const FloatBuffer& v() const { return v_; }

 private:
  std::vector<DecayRange> ranges_;
  FloatBuffer m_, v_;
};

}  // namespace nexus
