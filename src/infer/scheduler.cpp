#include "infer/scheduler.h"

#include <omp.h>

#include <algorithm>
#include <exception>
#include <string>

#include "core/error.h"
#include "core/memory.h"

namespace nexus {

Scheduler::Scheduler(std::shared_ptr<const InferenceModel> model, SchedulerOptions options)
    : model_(std::move(model)), options_(options), forward_(model_) {
  const int block = model_->config().block_size;
  require(options_.max_batch >= 1, "max batch must be at least 1, got " + std::to_string(options_.max_batch));
  require(options_.prefill_tokens >= 1,
          "prefill tokens per step must be at least 1, got " + std::to_string(options_.prefill_tokens));
  require(options_.context >= 0 && options_.context <= block,
          "context " + std::to_string(options_.context) + " must be in [1, block_size=" + std::to_string(block) +
              "] (0 = block_size)");
  context_ = options_.context == 0 ? block : options_.context;
  kv_type_ = options_.kv_type;
  slots_.resize(options_.max_batch);
}

uint64_t Scheduler::submit(std::vector<int32_t> prompt, GenerationParams params) {
  const uint64_t id = next_id_;
  waiting_.push_back(std::make_unique<Sequence>(id, std::move(prompt), std::move(params), model_->config(),
                                                model_->tokenizer(), context_));
  next_id_++;
  return id;
}

int Scheduler::running() const {
  return (int)std::count_if(slots_.begin(), slots_.end(), [](const auto& s) { return s != nullptr; });
}

bool Scheduler::cancel(uint64_t id) {
  for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
    if ((*it)->id() != id) continue;
    (*it)->finish(FinishReason::Cancelled);
    finished_.push_back(std::move(*it));
    waiting_.erase(it);
    return true;
  }
  for (size_t s = 0; s < slots_.size(); s++) {
    if (!slots_[s] || slots_[s]->id() != id) continue;
    slots_[s]->finish(FinishReason::Cancelled);
    retire(s);
    return true;
  }
  return false;
}

std::vector<std::unique_ptr<Sequence>> Scheduler::take_finished() { return std::exchange(finished_, {}); }

void Scheduler::retire(size_t slot) {
  free_caches_.push_back(slots_[slot]->detach());
  finished_.push_back(std::move(slots_[slot]));
}

void Scheduler::admit() {
  // The caches this admission will allocate are checked against the machine's memory all
  // together, before the first one is made (a --batch-size the machine cannot hold fails
  // before any work, not after the first sequences ran).
  const size_t free_slots = (size_t)std::count(slots_.begin(), slots_.end(), nullptr);
  const size_t admitted = std::min(free_slots, waiting_.size());
  if (admitted > free_caches_.size()) {
    const size_t fresh = admitted - free_caches_.size();
    require_memory((double)fresh * kv_cache_bytes(model_->config(), context_, kv_type_),
                   "the KV cache of " + std::to_string(fresh) + " sequences of " + std::to_string(context_) +
                       " positions");
  }
  for (size_t s = 0; s < slots_.size() && !waiting_.empty(); s++) {
    if (slots_[s]) continue;
    slots_[s] = std::move(waiting_.front());
    waiting_.pop_front();
    std::unique_ptr<KVCache> cache;
    if (!free_caches_.empty()) {
      cache = std::move(free_caches_.back());
      free_caches_.pop_back();
    } else {
      cache = std::make_unique<KVCache>(model_->config(), context_, kv_type_);
      caches_allocated_++;
    }
    slots_[s]->attach(std::move(cache));
    if (slots_[s]->params().max_tokens == 0) {  // nothing to generate: done without running
      slots_[s]->finish(FinishReason::Length);
      retire(s);
      s--;  // the slot is free again: give it to the next waiting request
    }
  }
}

bool Scheduler::step() {
  admit();
  std::vector<ForwardChunk> chunks;
  std::vector<size_t> chunk_slot;
  // Decoding sequences first (one row each), then prompt chunks within the budget.
  for (size_t s = 0; s < slots_.size(); s++)
    if (slots_[s] && slots_[s]->decoding()) {
      chunks.push_back(slots_[s]->next_chunk(1));
      chunk_slot.push_back(s);
    }
  int budget = options_.prefill_tokens;
  for (size_t s = 0; s < slots_.size() && budget > 0; s++)
    if (slots_[s] && !slots_[s]->decoding()) {
      chunks.push_back(slots_[s]->next_chunk(budget));
      chunk_slot.push_back(s);
      budget -= chunks.back().n;
    }
  if (chunks.empty()) return false;
  const float* logits = forward_.run(chunks);
  std::vector<size_t> sampling;  // slots with a logits row, in chunk (= logits) order
  for (size_t i = 0; i < chunks.size(); i++) {
    slots_[chunk_slot[i]]->advance(chunks[i].n);
    if (chunks[i].want_logits) sampling.push_back(chunk_slot[i]);
  }
  sample_and_accept(sampling, logits);
  steps_++;
  return true;
}

void Scheduler::sample_and_accept(const std::vector<size_t>& slots, const float* logits) {
  const int n = (int)slots.size(), V = model_->config().vocab_size;
  std::vector<int32_t> tokens(n, -1);
  std::vector<std::string> errors(n);
  if (scratch_.size() < (size_t)omp_get_max_threads()) scratch_.resize(omp_get_max_threads());
  // Sampling touches only each sequence's own state, so sequences sample in parallel.
#pragma omp parallel for schedule(dynamic, 1) if (n > 1 && (long)n * V >= 65536 && !omp_in_parallel())
  for (int i = 0; i < n; i++) {
    try {
      tokens[i] = slots_[slots[i]]->sample({logits + (size_t)i * V, (size_t)V}, scratch_[omp_get_thread_num()]);
    } catch (const std::exception& e) {
      errors[i] = e.what();
    }
  }
  for (int i = 0; i < n; i++) {
    Sequence& seq = *slots_[slots[i]];
    if (!errors[i].empty()) {
      seq.finish(FinishReason::Error, errors[i]);
    } else {
      const std::string text = seq.accept(tokens[i]);
      if (on_token_) on_token_(seq, tokens[i], text);
    }
    if (seq.finished()) retire(slots[i]);
  }
}

void Scheduler::run() {
  while (step()) {
  }
}

}  // namespace nexus
