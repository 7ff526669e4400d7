#pragma once
// Read-only model for inference: the config and the weights, loaded once and shared by every
// sequence (and thread) that generates with it. Per-sequence state (KV cache, position,
// sampler state) lives in infer/sequence.h; nothing here changes after construction.
//
// Tensors are memory-mapped from model.safetensors where possible (no copy: the page cache
// is the only copy, and several processes share it); a model built from a training GPT
// copies its parameters instead. Every Linear weight and the LM head is repacked at load
// time into the panel layout of core/kernels/qlinear.h, in the storage type chosen by
// LoadOptions::weights (f32, bf16 or 8-bit blocks), so decode streams each weight
// sequentially and prefill needs no per-call packing; embeddings, LayerNorms and biases
// stay f32 in place. matmul() below is the single place a storage type has to be known.
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "model/config.h"

namespace nexus {

namespace kernels {
class F32Matrix;
class Bf16Matrix;
class Q8Matrix;
}  // namespace kernels

class GPT;
class SafetensorsFile;
class Tokenizer;

/// Storage type of a weight matrix: f32, bfloat16 or 8-bit blocks of 32 (core/kernels/qlinear.h).
enum class WeightType { F32, BF16, Q8 };

/// Parses "f32", "bf16" or "q8"; InvalidArgument otherwise.
WeightType parse_weight_type(const std::string& name);
/// The name parse_weight_type reads ("f32", "bf16", "q8").
const char* to_string(WeightType type);

/// A weight matrix in PyTorch's Linear layout: rows = output features, cols = input features.
struct WeightMatrix {
  WeightType type = WeightType::F32;
  // A kernels::F32Matrix, Bf16Matrix or Q8Matrix (core/kernels/qlinear.h) by type; while a
  // model is being bound, an F32 matrix briefly points at row-major source floats instead.
  const void* data = nullptr;
  int rows = 0;
  int cols = 0;
  /// Bytes the matrix occupies.
  size_t bytes() const;
};

/// y(M, w.rows) = x(M, w.cols) @ w^T + bias, or y += with accumulate. bias may be null.
/// Each row's result depends only on that row (never on M or the other rows), which is what
/// makes generation give the same tokens at any batch size, cached or not.
void matmul(const WeightMatrix& w, const float* bias, const float* x, int M, float* y, bool accumulate);

/// Views of one transformer block's weights. Bias pointers are null for bias=false models.
struct LayerWeights {
  const float* ln1w = nullptr;  // (C)
  const float* ln1b = nullptr;  // (C)
  WeightMatrix qkv;             // (3C, C)
  const float* qkvb = nullptr;  // (3C)
  WeightMatrix attproj;         // (C, C)
  const float* attprojb = nullptr;
  const float* ln2w = nullptr;
  const float* ln2b = nullptr;
  WeightMatrix fc;              // (4C, C)
  const float* fcb = nullptr;   // (4C)
  WeightMatrix fcproj;          // (C, 4C)
  const float* fcprojb = nullptr;
};

/// How InferenceModel::load places the weights in memory.
struct LoadOptions {
  /// true: map model.safetensors and read the weights in place (no copy, shared page cache,
  /// instant start). false: read them into private memory backed by transparent huge pages
  /// (fewer TLB misses while streaming the weights: ~10% faster decode; the file is read once,
  /// page by page, so peak memory stays at one copy).
  bool mmap = true;
  /// Storage of the Linear weights and the LM head, repacked from f32 at load time
  /// (Q8 needs n_embd % 32 == 0). Embeddings, LayerNorms and biases stay f32.
  WeightType weights = WeightType::F32;
};

/// Config + weights (+ the tokenizer when the model directory has one). Immutable.
class InferenceModel {
 public:
  /// Loads a model directory (or a training --out directory, see resolve_model_dir): config,
  /// weights (see LoadOptions) and tokenizer.json when present. IoError / FormatError naming
  /// the file when something is missing or malformed.
  static std::shared_ptr<const InferenceModel> load(const std::string& path, LoadOptions options = {});
  /// A model holding a copy of a training GPT's parameters (no tokenizer), with its Linear
  /// weights and LM head stored as `weights`.
  static std::shared_ptr<const InferenceModel> from_gpt(const GPT& gpt, WeightType weights = WeightType::F32);

  /// Unmaps or frees the weights.
  ~InferenceModel();
  InferenceModel(const InferenceModel&) = delete;
  InferenceModel& operator=(const InferenceModel&) = delete;

  /// The model's shape.
  const GPTConfig& config() const { return config_; }
  /// Weights of block l (0 <= l < n_layer).
  const LayerWeights& layer(int l) const { return layers_[l]; }
  /// Token embedding (V, C); also the tied LM head.
  const float* wte() const { return wte_; }
  /// Position embedding (block_size, C).
  const float* wpe() const { return wpe_; }
  /// Final LayerNorm weight (C).
  const float* lnfw() const { return lnfw_; }
  /// Final LayerNorm bias (C), null for bias=false models.
  const float* lnfb() const { return lnfb_; }
  /// The LM head (V, C): logits = lnf(x) @ lm_head^T.
  const WeightMatrix& lm_head() const { return lm_head_; }
  /// The tokenizer saved with the model, or null.
  const Tokenizer* tokenizer() const { return tokenizer_.get(); }
  /// Bytes of all weights the engine reads (f32 tensors plus repacked matrices; the tied LM
  /// head is a repacked copy, counted apart from the f32 token embedding).
  size_t weight_bytes() const { return weight_bytes_; }
  /// Storage type of the Linear weights and the LM head.
  WeightType weight_type() const { return weight_type_; }
  /// True when the weights are read straight from a memory-mapped file.
  bool mapped() const { return file_ != nullptr; }

 private:
  InferenceModel() = default;
  // Fills the views from a function returning each tensor by nanoGPT name and shape.
  template <class Get>
  void bind(Get&& get);
  // Replaces every f32 WeightMatrix (layers and LM head) by a converted copy of type t.
  void convert(WeightType t);
  // Converts one f32 matrix to type t, keeping the copy alive in bf16_ / q8_.
  WeightMatrix converted(const WeightMatrix& w, WeightType t);

  GPTConfig config_;
  std::vector<LayerWeights> layers_;
  const float *wte_ = nullptr, *wpe_ = nullptr, *lnfw_ = nullptr, *lnfb_ = nullptr;
  WeightMatrix lm_head_;
  size_t weight_bytes_ = 0;
  WeightType weight_type_ = WeightType::F32;
  std::vector<std::unique_ptr<kernels::F32Matrix>> f32_;    // repacked matrices (weights f32)
  std::vector<std::unique_ptr<kernels::Bf16Matrix>> bf16_;  // converted matrices (weights bf16)
  std::vector<std::unique_ptr<kernels::Q8Matrix>> q8_;      // converted matrices (weights q8)
  struct HugePages;                        // private memory of copied weights
  std::unique_ptr<HugePages> owned_;       // copied parameters (from_gpt, load without mmap)
  std::unique_ptr<SafetensorsFile> file_;  // mapped parameters (load with mmap)
  std::unique_ptr<Tokenizer> tokenizer_;
};

}  // namespace nexus
