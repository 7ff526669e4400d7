#pragma once
// Random numbers with explicit state: every consumer owns an Rng (or a seed), so runs are
// reproducible and checkpoints can store the exact state. No global generator exists.
#include <cmath>
#include <cstdint>

namespace nexus {

/// SplitMix64 step: a strong 64-bit mixer, also used as a counter-based hash.
inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

/// Uniform float in [0, 1) from a 64-bit hash (24 high-quality bits).
inline float hash_to_unit_float(uint64_t h) { return static_cast<float>(h >> 40) * (1.0f / 16777216.0f); }

/// Sequential generator (xoshiro-free, SplitMix64 stream). State is one uint64, so it is
/// trivial to save in a checkpoint and restore exactly.
struct Rng {
  uint64_t state = 0;

  explicit Rng(uint64_t seed = 0) : state(seed) {}

  uint64_t next_u64() {
    state += 0x9E3779B97F4A7C15ull;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  /// Uniform float in [0, 1).
  float uniform() { return hash_to_unit_float(next_u64()); }
  /// Uniform integer in [0, n), n > 0 (Lemire's multiply-shift; bias < 2^-32 for n < 2^32).
  uint64_t below(uint64_t n) { return static_cast<uint64_t>((static_cast<unsigned __int128>(next_u64()) * n) >> 64); }
  /// Standard normal via Box-Muller (one value per call; simple and reproducible).
  float normal() {
    double u1 = (static_cast<double>(next_u64() >> 11) + 1.0) * (1.0 / 9007199254740993.0);
    double u2 = static_cast<double>(next_u64() >> 11) * (1.0 / 9007199254740992.0);
    return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
  }
};

}  // namespace nexus
