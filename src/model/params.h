#pragma once
// Parameter layout of a GPT: every parameter lives in one float buffer; per-layer tensors
// of the same kind are stacked (L, ...) as in llm.c, so zeroing, the optimizer and saving
// are single loops. named_tensors() maps the stack to nanoGPT's state_dict names.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/config.h"

namespace nexus {

/// Named views into one parameter (or gradient) buffer. Bias views are null when the
/// config has bias == false.
struct GPTWeights {
  float* wte = nullptr;       // (V, C) token embedding, tied with the LM head
  float* wpe = nullptr;       // (block_size, C) position embedding
  float* ln1w = nullptr;      // (L, C)
  float* ln1b = nullptr;      // (L, C)
  float* qkvw = nullptr;      // (L, 3C, C) c_attn: q, k, v stacked along the output dim
  float* qkvb = nullptr;      // (L, 3C)
  float* attprojw = nullptr;  // (L, C, C) attention output projection
  float* attprojb = nullptr;  // (L, C)
  float* ln2w = nullptr;      // (L, C)
  float* ln2b = nullptr;      // (L, C)
  float* fcw = nullptr;       // (L, 4C, C) MLP up projection
  float* fcb = nullptr;       // (L, 4C)
  float* fcprojw = nullptr;   // (L, C, 4C) MLP down projection
  float* fcprojb = nullptr;   // (L, C)
  float* lnfw = nullptr;      // (C) final LayerNorm
  float* lnfb = nullptr;      // (C)
};

/// One tensor as PyTorch names it, located in the parameter buffer.
struct NamedTensor {
  std::string name;            // e.g. "transformer.h.0.attn.c_attn.weight"
  std::vector<int64_t> shape;  // e.g. {3C, C}
  size_t offset = 0;           // in floats from the buffer start
  size_t count = 0;            // number of floats
};

/// A contiguous range of the buffer and whether AdamW decays it (2-D weights only).
struct DecayRange {
  size_t offset = 0;
  size_t count = 0;
  bool decay = false;
};

/// Calls f(tensor) for every tensor of `config` in buffer order, under its nanoGPT name (as
/// ParameterLayout::named_tensors lists them), building one at a time: the walk stops as
/// soon as f returns false, so checking a file against an absurd config costs nothing.
void visit_named_tensors(const GPTConfig& config, const std::function<bool(const NamedTensor&)>& f);

/// Number of tensors of `config` (named_tensors().size()), computed without listing them.
uint64_t tensor_count(const GPTConfig& config);

/// Number of parameters of `config` (ParameterLayout::total()), computed without building
/// the layout. InvalidArgument when it exceeds 2^62 (no machine holds such a model, and
/// byte counts derived from it must not overflow).
uint64_t parameter_count(const GPTConfig& config);

/// Computes where every parameter lives for a config.
class ParameterLayout {
 public:
  explicit ParameterLayout(const GPTConfig& config);

  /// Total number of floats.
  size_t total() const { return total_; }
  /// Views into `base`, which must hold total() floats.
  GPTWeights bind(float* base) const;
  /// Every tensor under its nanoGPT state_dict name (lm_head.weight is tied to wte and omitted).
  const std::vector<NamedTensor>& named_tensors() const { return named_; }
  /// Ranges covering the buffer, with the weight-decay flag of each.
  const std::vector<DecayRange>& decay_ranges() const { return ranges_; }

 private:
  struct Block {
    size_t offset, count;
    bool decay;
  };
  GPTConfig config_;
  std::vector<Block> blocks_;  // in GPTWeights field order
  std::vector<NamedTensor> named_;
  std::vector<DecayRange> ranges_;
  size_t total_ = 0;
};

}  // namespace nexus
