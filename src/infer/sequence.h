#pragma once
// Per-sequence state of generation: the KV cache, the tokens in the context window, the
// sampler chain and its state, the text pipeline (UTF-8-safe streaming decode, then stop
// strings) and the finish reason. A Sequence never runs the model itself: a Scheduler
// (infer/scheduler.h) takes chunks of its pending tokens into batched forward passes and
// hands back the logits of its last token.
//
// Context overflow. The cache holds `context` positions (at most the model's block_size).
// When a sampled token does not fit any more, the request's OverflowPolicy decides:
//   Stop   the sequence finishes with reason "length" (the token that filled the context is
//          still part of the output);
//   Slide  the context window is cut to its last context/2 tokens (the newest ones, the
//          sampled token included); the cache is emptied and those tokens are prefilled again
//          at positions 0.., then generation continues. Each slide costs one prefill of
//          context/2 tokens and the model forgets everything before the window.
// A prompt longer than the context is an error under Stop; under Slide only its last
// context/2 tokens are kept (the same cut), so generation starts with room to grow.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "infer/forward.h"
#include "infer/sampler.h"
#include "infer/stop.h"
#include "tokenizer/stream_decoder.h"

namespace nexus {

/// What to do when a sequence fills its context (see the file comment).
enum class OverflowPolicy { Stop, Slide };

/// Why a sequence ended.
enum class FinishReason {
  None,       // still running
  Stop,       // EOS token or a stop string
  Length,     // max_tokens reached, or the context filled under OverflowPolicy::Stop
  Cancelled,  // the caller cancelled it
  Error,      // sampling failed (e.g. every token banned by logit bias); see error()
};

/// "stop", "length", "cancelled", "error" (OpenAI's spelling), or "" for None.
std::string to_string(FinishReason reason);

/// Parses "stop" / "slide" (CLI and JSON spelling of OverflowPolicy); InvalidArgument otherwise.
OverflowPolicy parse_overflow_policy(std::string_view text);

/// Most tokens a sequence can generate under OverflowPolicy::Stop from a prompt of
/// `prompt_tokens` in a context of `context` positions (the token that fills it counts).
inline int tokens_until_context_full(int context, int prompt_tokens) { return context - prompt_tokens + 1; }

/// Everything a request asks for besides its prompt.
struct GenerationParams {
  SamplerParams sampler;
  int max_tokens = 256;                            // tokens to generate (>= 0)
  std::vector<std::string> stop;                   // stop strings; need a tokenizer
  int32_t eos_token = -1;                          // ends generation, not emitted; -1 = none
  OverflowPolicy overflow = OverflowPolicy::Stop;  // when the context fills

  /// Throws InvalidArgument naming the first bad field (sampler fields included).
  void validate(int vocab_size) const;
};

/// Wall-clock timings of one sequence (under batching they overlap other sequences').
struct SequenceTimings {
  double queued_ms = 0;      // submit -> admitted into a slot
  double prompt_ms = 0;      // admitted -> first token sampled (prefill)
  double generation_ms = 0;  // first token -> finished
  int prompt_tokens = 0;     // prompt tokens prefilled (after any cut)
  int generated_tokens = 0;
  /// prompt_tokens per second of prompt_ms (0 when unmeasurable).
  double prompt_tok_per_s() const;
  /// Tokens after the first per second of generation_ms (0 when fewer than 2 tokens).
  double generation_tok_per_s() const;
};

/// One generation request in flight: cache, context window, sampler, text and outcome.
class Sequence {
 public:
  using Clock = std::chrono::steady_clock;

  /// A waiting sequence. Validates params against the model (InvalidArgument for an empty
  /// prompt, a token outside the vocabulary, stop strings without a tokenizer, or a prompt
  /// longer than `context` under OverflowPolicy::Stop). `tokenizer` may be null (ids only).
  Sequence(uint64_t id, std::vector<int32_t> prompt, GenerationParams params, const GPTConfig& config,
           const Tokenizer* tokenizer, int context);

  /// Caller-chosen id.
  uint64_t id() const { return id_; }
  /// The prompt as submitted.
  const std::vector<int32_t>& prompt() const { return prompt_; }
  /// Every token sampled so far (including one that ended the sequence: EOS or a stop).
  const std::vector<int32_t>& generated() const { return generated_; }
  /// Text emitted so far (stop strings and anything after them excluded); empty without a
  /// tokenizer. Ids past the tokenizer's vocabulary (a padded model vocabulary) add no text.
  const std::string& text() const { return text_; }
  /// The request's parameters.
  const GenerationParams& params() const { return params_; }
  /// Why it ended (None while running).
  FinishReason finish_reason() const { return finish_; }
  /// True once it has ended.
  bool finished() const { return finish_ != FinishReason::None; }
  /// The stop string that ended it, if any.
  const std::string& stop_string() const { return stop_string_; }
  /// Error message when finish_reason() is Error.
  const std::string& error() const { return error_; }
  /// Context slides so far.
  int slides() const { return slides_; }
  /// Positions of the cache (the context size).
  int context() const { return context_size_; }
  /// Positions currently filled in the cache.
  int position() const { return cached_; }
  /// Timings so far.
  const SequenceTimings& timings() const { return timings_; }

  // --- used by the Scheduler -------------------------------------------------------------

  /// Gives the sequence its cache (capacity must equal context()); starts its prompt clock.
  void attach(std::unique_ptr<KVCache> cache);
  /// Takes the cache back (when finished) so another sequence can reuse it.
  std::unique_ptr<KVCache> detach();
  /// True while it holds a cache.
  bool attached() const { return cache_ != nullptr; }
  /// Tokens of the context window not yet run through the model.
  int pending() const { return (int)window_.size() - cached_; }
  /// True when its only pending token is one it sampled (a decode step).
  bool decoding() const { return decoding_; }
  /// The next up to `max_tokens` pending tokens as a forward chunk (logits wanted when the
  /// chunk ends the pending run). Valid until the sequence changes.
  ForwardChunk next_chunk(int max_tokens);
  /// Marks n tokens of the last chunk as cached.
  void advance(int n);
  /// Draws the next token from `logits` (V); `scratch` is reusable storage. Does not change
  /// anything but the sampler state, so sequences may sample in parallel.
  int32_t sample(std::span<const float> logits, Candidates& scratch);
  /// Takes a sampled token: records it, runs the text pipeline, checks EOS, stop strings,
  /// max_tokens and the context. Returns the text that became final with it.
  std::string accept(int32_t token);
  /// Ends the sequence now (cancellation or an error); returns the held-back text.
  std::string finish(FinishReason reason, std::string error = {});

 private:
  std::string flush_text();
  void overflow();

  uint64_t id_;
  std::vector<int32_t> prompt_, generated_;
  GenerationParams params_;
  int vocab_size_;
  int context_size_;
  std::vector<int32_t> window_;  // tokens in the context window (cached_ of them in the cache)
  int cached_ = 0;
  bool decoding_ = false;
  std::unique_ptr<KVCache> cache_;
  SamplerChain chain_;
  SamplerState state_;
  std::optional<StreamDecoder> decoder_;
  int tokenizer_vocab_ = 0;  // ids >= this (a model vocabulary padded past the tokenizer's) give no text
  StopMatcher matcher_;
  std::string text_, stop_string_, error_;
  FinishReason finish_ = FinishReason::None;
  int slides_ = 0;
  SequenceTimings timings_;
  Clock::time_point submitted_, admitted_, first_token_;
};

}  // namespace nexus
