#include "core/kernels/dropout.h"

#include <omp.h>

#include <cstring>

#include "core/rng.h"

namespace nexus::kernels {

namespace {
inline float keep_factor(uint64_t key, long i, float rate, float scale) {
  return hash_to_unit_float(splitmix64(key + (uint64_t)i)) >= rate ? scale : 0.0f;
}

void apply_mask(float* out, const float* inp, long n, float rate, uint64_t seed) {
  if (rate <= 0.0f) {
    if (out != inp) std::memmove(out, inp, sizeof(float) * n);
    return;
  }
  const uint64_t key = splitmix64(seed ^ 0xD50F0A7ull);
  const float scale = 1.0f / (1.0f - rate);
#pragma omp parallel for schedule(static) if (n >= 32768 && !omp_in_parallel())
  for (long i = 0; i < n; i++) out[i] = inp[i] * keep_factor(key, i, rate, scale);
}
}  // namespace

void dropout_forward(float* out, const float* inp, long n, float rate, uint64_t seed) {
  apply_mask(out, inp, n, rate, seed);
}

void dropout_backward(float* dinp, const float* dout, long n, float rate, uint64_t seed) {
  apply_mask(dinp, dout, n, rate, seed);
}

}  // namespace nexus::kernels
