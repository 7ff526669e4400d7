#pragma once
// Softmax + cross-entropy over the vocabulary, fused with its backward (as llm.c's
// fused classifier): the (B*T, V) logits are turned into dlogits in place, so no
// separate probability tensor is stored.
#include <cstdint>

namespace nexus::kernels {

/// losses(N) = -log softmax(logits[i])[targets[i]] for N rows of V logits (row stride V).
/// Logits are left unchanged. Targets must be in [0, V).
void crossentropy_forward(float* losses, const float* logits, const int32_t* targets, int N, int V);

/// Same losses, and overwrites logits with dloss/dlogits = (softmax - onehot) * dloss_scale,
/// where dloss_scale is d(total loss)/d(each row's loss), e.g. 1/N for a mean.
void crossentropy_forward_backward(float* losses, float* logits, const int32_t* targets, int N, int V,
                                   float dloss_scale);

/// Plain double-precision reference: losses only.
void crossentropy_forward_ref(float* losses, const float* logits, const int32_t* targets, int N, int V);

}  // namespace nexus::kernels
