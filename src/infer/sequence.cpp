#include "infer/sequence.h"

#include <algorithm>

#include "core/error.h"

namespace nexus {

namespace {
double ms_between(Sequence::Clock::time_point a, Sequence::Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}
}  // namespace

std::string to_string(FinishReason reason) {
  switch (reason) {
    case FinishReason::None: return "";
    case FinishReason::Stop: return "stop";
    case FinishReason::Length: return "length";
    case FinishReason::Cancelled: return "cancelled";
    case FinishReason::Error: return "error";
  }
  return "";
}

OverflowPolicy parse_overflow_policy(std::string_view text) {
  if (text == "stop") return OverflowPolicy::Stop;
  if (text == "slide") return OverflowPolicy::Slide;
  throw InvalidArgument("context overflow policy must be 'stop' or 'slide', got '" + std::string(text) + "'");
}

void GenerationParams::validate(int vocab_size) const {
  sampler.validate(vocab_size);
  require(max_tokens >= 0, "max tokens must not be negative, got " + std::to_string(max_tokens));
  require(eos_token >= -1 && eos_token < vocab_size,
          "EOS token " + std::to_string(eos_token) + " is outside the vocabulary [0, " + std::to_string(vocab_size) +
              ") (-1 = none)");
  for (const std::string& s : stop) require(!s.empty(), "a stop string must not be empty");
}

double SequenceTimings::prompt_tok_per_s() const { return prompt_ms > 0 ? prompt_tokens / (prompt_ms / 1e3) : 0.0; }

double SequenceTimings::generation_tok_per_s() const {
  return generated_tokens > 1 && generation_ms > 0 ? (generated_tokens - 1) / (generation_ms / 1e3) : 0.0;
}

Sequence::Sequence(uint64_t id, std::vector<int32_t> prompt, GenerationParams params, const GPTConfig& config,
                   const Tokenizer* tokenizer, int context)
    : id_(id),
      prompt_(std::move(prompt)),
      params_(std::move(params)),
      vocab_size_(config.vocab_size),
      context_size_(context),
      chain_(SamplerChain::from_params(params_.sampler, config.vocab_size)),
      state_(params_.sampler, config.vocab_size, context),
      matcher_(params_.stop) {
  params_.validate(config.vocab_size);
  require(context >= 1 && context <= config.block_size,
          "context " + std::to_string(context) + " must be in [1, block_size=" + std::to_string(config.block_size) +
              "]");
  require(!prompt_.empty(), "the prompt is empty (it needs at least one token)");
  for (int32_t t : prompt_)
    require(t >= 0 && t < config.vocab_size, "prompt token " + std::to_string(t) + " is outside the vocabulary [0, " +
                                                 std::to_string(config.vocab_size) + ")");
  require(params_.stop.empty() || tokenizer != nullptr, "stop strings need a tokenizer to match text against");
  const int n = (int)prompt_.size();
  if (n > context) {
    require(params_.overflow == OverflowPolicy::Slide,
            "the prompt has " + std::to_string(n) + " tokens but the context holds " + std::to_string(context) +
                "; shorten it or allow sliding the context window");
    window_.assign(prompt_.end() - std::max(1, context / 2), prompt_.end());
  } else {
    window_ = prompt_;
  }
  for (int32_t t : prompt_) chain_.accept(t, state_);  // penalties see the prompt too
  if (tokenizer) {
    decoder_.emplace(*tokenizer);
    tokenizer_vocab_ = tokenizer->vocab_size();
  }
  timings_.prompt_tokens = (int)window_.size();
  submitted_ = Clock::now();
}

void Sequence::attach(std::unique_ptr<KVCache> cache) {
  require(cache != nullptr && cache->capacity() == context_size_, "sequence needs a KV cache of its context size");
  cache_ = std::move(cache);
  admitted_ = Clock::now();
  timings_.queued_ms = ms_between(submitted_, admitted_);
}

std::unique_ptr<KVCache> Sequence::detach() { return std::move(cache_); }

ForwardChunk Sequence::next_chunk(int max_tokens) {
  const int n = std::min(pending(), max_tokens);
  require(cache_ != nullptr && n >= 1 && !finished(), "sequence has nothing to run");
  ForwardChunk ch;
  ch.cache = cache_.get();
  ch.pos = cached_;
  ch.tokens = window_.data() + cached_;
  ch.n = n;
  ch.kind = decoding_ ? RowKind::Decode : RowKind::Prefill;
  ch.want_logits = n == pending();
  return ch;
}

void Sequence::advance(int n) { cached_ += n; }

int32_t Sequence::sample(std::span<const float> logits, Candidates& scratch) {
  return chain_.sample(logits, state_, scratch);
}

std::string Sequence::accept(int32_t token) {
  require(!finished() && pending() == 0, "sequence is not waiting for a token");
  const auto now = Clock::now();
  if (generated_.empty()) {
    first_token_ = now;
    timings_.prompt_ms = ms_between(admitted_, now);
  }
  timings_.generation_ms = ms_between(first_token_, now);
  chain_.accept(token, state_);
  generated_.push_back(token);
  timings_.generated_tokens = (int)generated_.size();
  if (token == params_.eos_token) return finish(FinishReason::Stop);
  std::string out;
  if (decoder_ && token < tokenizer_vocab_) {  // ids the tokenizer lacks decode to no text
    StopMatcher::Result r = matcher_.feed(decoder_->push(token));
    out = std::move(r.text);
    if (r.stopped) {
      stop_string_ = r.stop;
      text_ += out;
      finish_ = FinishReason::Stop;
      return out;
    }
  }
  text_ += out;
  if ((int)generated_.size() >= params_.max_tokens) return out + finish(FinishReason::Length);
  window_.push_back(token);
  decoding_ = true;
  if ((int)window_.size() > context_size_) {
    if (params_.overflow == OverflowPolicy::Stop) return out + finish(FinishReason::Length);
    overflow();
  }
  return out;
}

void Sequence::overflow() {
  // Slide: keep the newest half of the window and prefill it again from position 0.
  const int keep = std::max(1, context_size_ / 2);
  window_.erase(window_.begin(), window_.end() - keep);
  cached_ = 0;
  decoding_ = false;
  slides_++;
}

std::string Sequence::flush_text() {
  if (!decoder_) return {};
  StopMatcher::Result r = matcher_.feed(decoder_->finish());
  std::string out = std::move(r.text);
  if (r.stopped)
    stop_string_ = r.stop;
  else
    out += matcher_.flush();
  text_ += out;
  return out;
}

std::string Sequence::finish(FinishReason reason, std::string error) {
  if (finished()) return {};
  std::string out = reason == FinishReason::Error ? std::string() : flush_text();
  // The held-back text may itself complete a stop string (e.g. at max_tokens).
  if (reason == FinishReason::Length && matcher_.stopped()) reason = FinishReason::Stop;
  finish_ = reason;
  error_ = std::move(error);
  if (!generated_.empty()) timings_.generation_ms = ms_between(first_token_, Clock::now());
  return out;
}

}  // namespace nexus
