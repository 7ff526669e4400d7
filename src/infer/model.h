#pragma once
// Read-only model for inference: the config and the weights, loaded once and shared by every
// sequence (and thread) that generates with it. Per-sequence state (KV cache, position,
// sampler state) lives in infer/sequence.h; nothing here changes after construction.
//
// A model is a directory (model.safetensors + config.json + tokenizer.json) or a GGUF file
// (infer/gguf_model.h: written by `nexus export`/`nexus quantize`, or a GPT-2 converted by
// llama.cpp). Tensors are memory-mapped where possible (no copy: the page cache is the only
// copy, and several processes share it); a model built from a training GPT copies its
// parameters instead. Every Linear weight and the LM head is repacked at load time into the
// panel layout of core/kernels/qlinear.h, in its storage type (f32, bf16 or 8-bit blocks; as
// stored or converted, LoadOptions::weights), so decode streams each weight sequentially and
// prefill needs no per-call packing; embeddings, LayerNorms and biases are always f32 in
// place. matmul() below is the single place a storage type has to be known. A repacked
// matrix's source pages are given back to the kernel right away, so resident memory is
// about weight_bytes().
#include <cstddef>
#include <memory>
#include <optional>
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
class GgufFile;
struct GgufTensorInfo;
class SafetensorsFile;
class Tokenizer;

/// Storage type of a weight matrix: f32, bfloat16 or 8-bit blocks of 32 (core/kernels/qlinear.h).
enum class WeightType { F32, BF16, Q8 };

/// Parses "f32", "bf16" or "q8"; InvalidArgument otherwise.
WeightType parse_weight_type(const std::string& name);
/// The name parse_weight_type reads ("f32", "bf16", "q8").
const char* to_string(WeightType type);
/// Parses a --weights value: "auto" (nullopt: as stored) or a parse_weight_type name.
std::optional<WeightType> parse_weight_option(const std::string& name);

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
  /// true: map model.safetensors (or the .gguf) and read the f32 tensors that are not
  /// repacked (embeddings, LayerNorms, biases) in place: no copy, shared page cache. false:
  /// read them into private memory backed by transparent huge pages. The matrices are
  /// repacked into huge-page memory either way.
  bool mmap = true;
  /// Storage of the Linear weights and the LM head. nullopt: as stored (f32 for a model
  /// directory; for a GGUF file the type of its first attention weight, F16 widened exactly
  /// to f32). A given type is converted to at load time, from f32 or, when a GGUF holds
  /// another low-precision type, via its exact f32 values (bf16 <-> q8 thus rounds twice).
  /// Q8 needs n_embd % 32 == 0. Embeddings, LayerNorms and biases are always f32.
  std::optional<WeightType> weights = std::nullopt;
};

/// Config + weights (+ the tokenizer when the model has one). Immutable.
class InferenceModel {
 public:
  /// Loads a model directory (or a training --out directory, see resolve_model_dir): config,
  /// weights (see LoadOptions) and tokenizer.json when present; or a GGUF file (recognised by
  /// its magic, see infer/gguf_model.h). The config is checked against the file's tensor
  /// table (check_weights_file in model/model_io.h) and the weights' size against the
  /// machine's memory (core/memory.h) before anything sized by it is allocated. IoError /
  /// FormatError naming the file when something is missing or malformed; InvalidArgument for
  /// options the model cannot take or a model the machine cannot hold.
  static std::shared_ptr<const InferenceModel> load(const std::string& path, LoadOptions options = {});
  /// A model holding a copy of a training GPT's parameters (no tokenizer), with its Linear
  /// weights and LM head stored as `weights`.
  static std::shared_ptr<const InferenceModel> from_gpt(const GPT& gpt, WeightType weights = WeightType::F32);

  /// Bytes the weights of a `config` model take when its matrices are stored as `t`: what
  /// load() checks against the machine's memory (core/memory.h) before allocating any. A lower
  /// bound of weight_bytes() (it leaves out the padding of the repacked layouts).
  static double weight_bytes_needed(const GPTConfig& config, WeightType t);

  /// Unmaps or frees the weights.
  ~InferenceModel();
  InferenceModel(const InferenceModel&) = delete;
  InferenceModel& operator=(const InferenceModel&) = delete;

  /// The model's shape.
  const GPTConfig& config() const { return config_; }
  /// Weights of block l (0 <= l < n_layer).
  const LayerWeights& layer(int l) const { return layers_[l]; }
  /// Token embedding (V, C) (the tied LM head is a repacked copy, lm_head()).
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
  /// Bytes of all weights held (f32 tensors plus the repacked matrices; the tied LM head is
  /// a repacked copy, counted apart from the f32 token embedding).
  size_t weight_bytes() const { return weight_bytes_; }
  /// Bytes of the LM head within weight_bytes(): with a tied head (GPT-2, nanoGPT) it is held
  /// twice, as the f32 token embedding for lookups and as this packed copy for the logits, so
  /// weight_bytes() exceeds the parameter count times 4 by this much (f32 weights).
  size_t lm_head_bytes() const { return lm_head_.bytes(); }
  /// True when the LM head is a packed copy of the token embedding (tied weights).
  bool lm_head_tied() const { return lm_head_tied_; }
  /// Storage type of the Linear weights and the LM head.
  WeightType weight_type() const { return weight_type_; }
  /// True when (some) weights are read straight from a memory-mapped file.
  bool mapped() const { return file_ != nullptr || gguf_ != nullptr; }

 private:
  InferenceModel() = default;
  static std::shared_ptr<const InferenceModel> load_gguf(const std::string& path, LoadOptions options);
  // Fills the views: tensor(name, shape) -> const float* for the f32 tensors and
  // matrix(name, rows, cols) -> WeightMatrix for the Linear weights, by nanoGPT name. The LM
  // head and weight_bytes_ are left to the caller.
  template <class Tensor, class Matrix>
  void bind(Tensor&& tensor, Matrix&& matrix);
  // An f32 matrix W(rows, cols) repacked as type t, kept alive in f32_ / bf16_ / q8_.
  // Throws InvalidArgument for Q8 when cols % 32 != 0.
  WeightMatrix converted(const float* w, int rows, int cols, WeightType t);
  // A GGUF tensor as f32: zero-copy from the map when it is F32, aligned and `zero_copy`,
  // else widened/dequantized into owned_ (and its file pages released).
  const float* gguf_f32(const GgufFile& f, const GgufTensorInfo& info, bool zero_copy);
  // A GGUF matrix (ggml dims {cols, rows}) as type t: taken as is when stored as t, else
  // converted via its exact f32 values; the file pages of a copied matrix are released.
  WeightMatrix gguf_matrix(const GgufFile& f, const GgufTensorInfo& info, WeightType t, bool zero_copy);
  // Keeps a repacked matrix alive in f32_ / bf16_ / q8_ and returns its view.
  WeightMatrix hold(kernels::F32Matrix&& m);
  WeightMatrix hold(kernels::Bf16Matrix&& m);
  WeightMatrix hold(kernels::Q8Matrix&& m);
  // The tied LM head: a repacked copy of the token embedding.
  void tie_lm_head(WeightType t);
  // Sums what is held into weight_bytes_.
  void count_weight_bytes();

  GPTConfig config_;
  std::vector<LayerWeights> layers_;
  const float *wte_ = nullptr, *wpe_ = nullptr, *lnfw_ = nullptr, *lnfb_ = nullptr;
  WeightMatrix lm_head_;
  bool lm_head_tied_ = false;
  size_t weight_bytes_ = 0;
  WeightType weight_type_ = WeightType::F32;
  std::vector<std::unique_ptr<kernels::F32Matrix>> f32_;    // repacked matrices (weights f32)
  std::vector<std::unique_ptr<kernels::Bf16Matrix>> bf16_;  // converted matrices (weights bf16)
  std::vector<std::unique_ptr<kernels::Q8Matrix>> q8_;      // converted matrices (weights q8)
  struct HugePages;                        // private memory of copied weights
  std::unique_ptr<HugePages> owned_;       // copied or widened f32 tensors
  std::unique_ptr<SafetensorsFile> file_;  // mapped parameters (load with mmap)
  std::unique_ptr<GgufFile> gguf_;         // mapped GGUF file (load of a .gguf with mmap)
  std::unique_ptr<Tokenizer> tokenizer_;
};

/// One line for reports: "652.2 MB (f32: 497.8 MB of parameters + 154.4 MB LM head packed
/// from the tied token embedding)", so figures agree with `nexus init`'s parameter bytes.
std::string describe_weight_memory(const InferenceModel& model);

}  // namespace nexus
