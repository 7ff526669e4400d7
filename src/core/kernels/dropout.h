#pragma once
// Dropout with a counter-based mask: element i of a call with `seed` is kept iff
// hash(seed, i) >= rate, so backward regenerates the mask instead of storing it, and the
// result is the same for every thread count.
#include <cstdint>

namespace nexus::kernels {

/// out(n) = inp * keep / (1 - rate). out may equal inp. rate == 0 copies (or does nothing in place).
void dropout_forward(float* out, const float* inp, long n, float rate, uint64_t seed);

/// Writes dinp(n) = dout * keep / (1 - rate), with the mask of the same seed. dinp may equal dout.
void dropout_backward(float* dinp, const float* dout, long n, float rate, uint64_t seed);

}  // namespace nexus::kernels
