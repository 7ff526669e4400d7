#pragma once
// Helpers shared by the inference tests (test_infer.cpp, test_infer_quant.cpp): random
// models and token sequences, reproducible from a seed.
#include <cstdint>
#include <memory>
#include <vector>

#include "core/rng.h"
#include "model/gpt.h"

namespace nexus::testutil {

/// A GPT with every parameter ~ N(0, scale^2) (spread-out logits: few near-ties).
inline std::unique_ptr<GPT> random_gpt(const GPTConfig& c, uint64_t seed, float scale = 0.3f) {
  auto g = std::make_unique<GPT>(c);
  Rng rng(seed);
  for (size_t i = 0; i < g->num_params(); i++) g->params()[i] = scale * rng.normal();
  return g;
}

/// n token ids uniform in [0, vocab).
inline std::vector<int32_t> some_tokens(int n, int vocab, uint64_t seed) {
  Rng rng(seed);
  std::vector<int32_t> t(n);
  for (auto& x : t) x = (int32_t)rng.below(vocab);
  return t;
}

}  // namespace nexus::testutil
