#pragma once
// Token + position embedding (GPT-2's input layer).
#include <cstdint>

namespace nexus::kernels {

/// out(B,T,C) = wte[tokens[b,t]] + wpe[t]. tokens (B,T) must already be range-checked.
void embedding_forward(float* out, const int32_t* tokens, const float* wte, const float* wpe, int B, int T,
                       int C);

/// Accumulates dwte(V,C) and dwpe(T,C) from dout(B,T,C). Threads split the channels,
/// so repeated tokens never race.
void embedding_backward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens, int B, int T,
                        int C);

}  // namespace nexus::kernels
