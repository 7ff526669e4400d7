#pragma once
// Ragged batched generation with continuous batching.
//
// The scheduler keeps up to max_batch sequences in flight, each in a slot with a KV cache
// allocated up front. One step() is one batched forward pass: every decoding sequence adds
// its last sampled token (one row each), and prefilling sequences add chunks of their
// prompts until the step's prefill budget (prefill_tokens) is spent, so a long prompt is
// prefilled over several steps while the others keep decoding. Sequences with fresh logits
// sample (in parallel) and the tokens are accepted in slot order. A sequence that finishes
// frees its slot, and the next waiting request takes it (and its cache memory) at the start
// of the next step.
//
// Determinism: a sequence's tokens depend only on its prompt, its parameters (seed
// included) and the model, never on the batch it ran in or the thread count: each row is
// computed by the same kernels with the same arithmetic whatever the other rows (see
// matmul() in infer/model.h), and each sequence has its own sampler state.
//
// Threads: a Scheduler is driven from one thread (submit, step, cancel, take_finished); the
// work inside a step uses all OpenMP threads. Several schedulers may share one model.
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "infer/forward.h"
#include "infer/sequence.h"

namespace nexus {

/// Sizes of a scheduler.
struct SchedulerOptions {
  int max_batch = 8;         // sequences in flight at once (slots, each with a KV cache)
  int prefill_tokens = 512;  // prompt tokens per step, over all prefilling sequences
  int context = 0;           // KV cache positions per sequence; 0 = the model's block_size
  KvType kv_type = KvType::F32;  // element type of the KV caches
};

/// Continuous-batching generation loop over one model.
class Scheduler {
 public:
  /// Called with each token a sequence accepts and the text that became final with it
  /// (possibly empty); for streaming.
  using TokenCallback = std::function<void(const Sequence&, int32_t token, std::string_view text)>;

  /// A scheduler for `model`. InvalidArgument for max_batch or prefill_tokens < 1 or a
  /// context outside [0, block_size].
  Scheduler(std::shared_ptr<const InferenceModel> model, SchedulerOptions options = {});

  /// Queues a request (validated now: InvalidArgument for bad params or prompt) and returns
  /// its id (0, 1, 2, ... in submission order).
  uint64_t submit(std::vector<int32_t> prompt, GenerationParams params);
  /// Cancels a waiting or running request (finish reason Cancelled); false if unknown or done.
  bool cancel(uint64_t id);

  /// Runs one batched forward pass and the sampling after it. Returns false (and does
  /// nothing) when no request is waiting or running.
  bool step();
  /// Steps until every submitted request has finished.
  void run();

  /// Sets the streaming callback (may be empty).
  void on_token(TokenCallback callback) { on_token_ = std::move(callback); }
  /// Finished sequences since the last call, in the order they finished.
  std::vector<std::unique_ptr<Sequence>> take_finished();

  /// Requests waiting for a slot.
  int waiting() const { return (int)waiting_.size(); }
  /// Requests holding a slot.
  int running() const;
  /// Bytes of KV cache allocated (slots ever used; caches are kept for reuse).
  size_t cache_bytes() const { return caches_allocated_ * kv_cache_bytes(model_->config(), context_, kv_type_); }
  /// KV cache positions per sequence.
  int context() const { return context_; }
  /// The forward pass (its workspace size, for reports).
  const ForwardPass& forward() const { return forward_; }
  /// Forward passes run so far.
  long steps() const { return steps_; }

 private:
  void admit();
  void retire(size_t slot);
  void sample_and_accept(const std::vector<size_t>& slots, const float* logits);

  std::shared_ptr<const InferenceModel> model_;
  SchedulerOptions options_;
  int context_;
  KvType kv_type_ = KvType::F32;
  ForwardPass forward_;
  std::deque<std::unique_ptr<Sequence>> waiting_;
  std::vector<std::unique_ptr<Sequence>> slots_;  // size max_batch; null = free
  std::vector<std::unique_ptr<KVCache>> free_caches_;
  size_t caches_allocated_ = 0;
  std::vector<std::unique_ptr<Sequence>> finished_;
  std::vector<Candidates> scratch_;  // sampler scratch, one per thread
  TokenCallback on_token_;
  uint64_t next_id_ = 0;
  long steps_ = 0;
};

}  // namespace nexus
