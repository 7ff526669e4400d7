#pragma once
// Sliding-window perplexity (as in Hugging Face's "Perplexity of fixed-length models"):
// windows of `context` tokens start every `stride` tokens; each window scores only the
// targets the previous window did not, so with stride < context every scored token sees at
// least context - stride tokens of history. stride == context gives disjoint windows
// (fastest, least context); stride 1 is exact autoregressive scoring (slowest).
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "infer/model.h"

namespace nexus {

/// Totals of a perplexity run.
struct PerplexityResult {
  double nll = 0;      // summed negative log-likelihood of the scored tokens (nats)
  long tokens = 0;     // scored tokens (all but the first of the text, and with stride ==
                       // context the first of each window, which has no history)
  long bytes = 0;      // text bytes of the scored tokens (when token_bytes was given)
  long windows = 0;    // forward passes
  /// exp(mean NLL per token).
  double perplexity() const;
  /// Summed NLL in bits per byte of scored text (NaN without token_bytes).
  double bits_per_byte() const;
};

/// Scores `tokens` (at least 2, all in the vocabulary) with windows of `context` tokens
/// (0 = block_size) every `stride` tokens (0 = context / 2). token_bytes[id], when not empty,
/// is the byte length of token id's text (for bits per byte). InvalidArgument for bad sizes
/// or tokens. progress(done, total) is called after each window when given.
PerplexityResult perplexity(std::shared_ptr<const InferenceModel> model, const std::vector<int32_t>& tokens,
                            int context = 0, int stride = 0, const std::vector<int>& token_bytes = {},
                            const std::function<void(long, long)>& progress = {});

}  // namespace nexus
