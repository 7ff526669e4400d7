#pragma once
// 16-bit float formats: IEEE binary16 ("fp16", ggml's F16) and bfloat16 ("bf16", the top
// half of an fp32). Scalar conversions are portable and bit-exact with the hardware
// conversions (F16C's vcvtps2ph with round-to-nearest-even) and with ggml's bf16 rounding,
// so files written here match files written by ggml/PyTorch. Row helpers use F16C when the
// build enables it (x86-64-v3 does) and the scalar code otherwise.
#include <cstdint>
#include <cstring>

#if defined(__F16C__)
#include <immintrin.h>
#endif

namespace nexus {

/// Raw bits of a float.
inline uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

/// Float with the given raw bits.
inline float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

/// fp16 bits -> float (exact: every fp16 value, subnormals, infinities and NaNs included).
inline float fp16_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu, mant = h & 0x3FFu;
  if (exp == 0x1F) {  // inf, or NaN: payload kept and made quiet, as F16C's vcvtph2ps does
    return bits_float(sign | 0x7F800000u | (mant << 13) | (mant ? 0x400000u : 0u));
  }
  if (exp != 0) return bits_float(sign | ((exp + 112) << 23) | (mant << 13));
  // Zero or subnormal: mant * 2^-24, exact in float.
  const float mag = static_cast<float>(mant) * (1.0f / 16777216.0f);
  return sign ? -mag : mag;
}

/// float -> fp16 bits, round to nearest even; overflow gives infinity, NaN stays a quiet NaN.
inline uint16_t float_to_fp16(float f) {
  const uint32_t u = float_bits(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t abs = u & 0x7FFFFFFFu;
  if (abs > 0x7F800000u) return static_cast<uint16_t>(sign | 0x7E00u | ((abs >> 13) & 0x1FFu));  // NaN
  if (abs >= 0x477FF000u) return static_cast<uint16_t>(sign | 0x7C00u);  // rounds to >= 65520: inf
  if (abs < 0x38800000u) {
    // Result is subnormal (or zero): value / 2^-24, rounded to nearest even.
    if (abs < 0x33000000u) return sign;  // below half the smallest subnormal (2^-25): +-0
    const uint32_t e = abs >> 23, m = (abs & 0x7FFFFFu) | 0x800000u;
    const uint32_t shift = 126 - e;  // mant bits to drop so that the result is in units of 2^-24
    uint32_t q = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1), halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (q & 1u))) ++q;
    return static_cast<uint16_t>(sign | q);
  }
  // Normal: rebias the exponent (127 -> 15) and round 23 mantissa bits to 10. A carry out of
  // the mantissa correctly bumps the exponent (and 65504 + ulp/2 was handled above).
  uint32_t h = ((abs >> 13) - (112u << 10));
  const uint32_t rem = abs & 0x1FFFu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

/// bf16 bits -> float (exact).
inline float bf16_to_float(uint16_t b) { return bits_float(static_cast<uint32_t>(b) << 16); }

/// float -> bf16 bits, round to nearest even; NaN becomes a quiet NaN (as ggml and PyTorch do).
inline uint16_t float_to_bf16(float f) {
  const uint32_t u = float_bits(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  return static_cast<uint16_t>((u + (0x7FFFu + ((u >> 16) & 1u))) >> 16);
}

/// Converts n floats to fp16 bits.
inline void float_to_fp16_row(const float* x, uint16_t* out, int64_t n) {
  int64_t i = 0;
#if defined(__F16C__)
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
#endif
  for (; i < n; ++i) out[i] = float_to_fp16(x[i]);
}

/// Converts n fp16 values to floats.
inline void fp16_to_float_row(const uint16_t* h, float* out, int64_t n) {
  int64_t i = 0;
#if defined(__F16C__)
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i))));
#endif
  for (; i < n; ++i) out[i] = fp16_to_float(h[i]);
}

/// Converts n floats to bf16 bits.
inline void float_to_bf16_row(const float* x, uint16_t* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = float_to_bf16(x[i]);
}

/// Converts n bf16 values to floats.
inline void bf16_to_float_row(const uint16_t* b, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_float(b[i]);
}

}  // namespace nexus
