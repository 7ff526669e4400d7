#pragma once
// Plain autoregressive sampling (no KV cache yet: each step reruns the last block_size
// tokens). The full sampler chain and the cached engine belong to src/infer's later work.
#include <cstdint>
#include <functional>
#include <vector>

#include "model/gpt.h"

namespace nexus {

/// Options of simple sampling.
struct SampleOptions {
  int max_tokens = 256;       // tokens to generate
  float temperature = 0.8f;   // 0 = greedy (argmax)
  int top_k = 200;            // keep the k most likely tokens; 0 = all
  uint64_t seed = 1337;
};

/// Validates options: InvalidArgument for negative temperature, max_tokens or top_k.
void validate(const SampleOptions& options);

/// Picks the next token from `logits` (V): temperature, top-k, then a draw from rng.
int32_t sample_token(const float* logits, int V, const SampleOptions& options, uint64_t& rng_state);

/// Generates up to max_tokens after `prompt` (non-empty). Calls on_token for each new token
/// as soon as it is chosen. Returns the new tokens.
std::vector<int32_t> generate(GPT& model, const std::vector<int32_t>& prompt, const SampleOptions& options,
                              const std::function<void(int32_t)>& on_token = {});

}  // namespace nexus
