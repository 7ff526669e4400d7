#pragma once
// One-call generation for a single prompt on the KV-cache engine (a Scheduler with one
// slot). Batches of prompts, streaming to many clients and cancellation use
// infer/scheduler.h directly.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "infer/scheduler.h"

namespace nexus {

/// Outcome of one generation.
struct GenerationResult {
  std::vector<int32_t> tokens;  // sampled tokens
  std::string text;             // final text (empty without a tokenizer)
  FinishReason finish_reason = FinishReason::None;
  std::string stop;             // the stop string that ended it, if any
  int slides = 0;               // context slides (OverflowPolicy::Slide)
  SequenceTimings timings;
};

/// Copies the outcome of a finished sequence.
GenerationResult result_of(const Sequence& sequence);

/// Generates from `prompt` (non-empty token ids). on_token gets each accepted token and the
/// text that became final with it, as soon as it is produced. `context` is the KV cache size
/// (0 = block_size). Throws InvalidArgument for bad params/prompt, and for a sampling error.
GenerationResult generate(std::shared_ptr<const InferenceModel> model, std::vector<int32_t> prompt,
                          const GenerationParams& params,
                          const std::function<void(int32_t, std::string_view)>& on_token = {}, int context = 0);

}  // namespace nexus
