#pragma once
// The inference forward pass: any number of sequences, each contributing a run of tokens
// at its own position (a whole prompt, a chunk of one, or the one token sampled last step),
// go through the model in one batched pass. Weight matmuls run once over all rows; attention
// runs per (sequence, head) against that sequence's KV cache, in parallel. Logits are only
// computed for the last token of the runs that ask for them.
//
// Row layout of a pass: the runs' tokens in run order; R rows in all,
// C = n_embd. Activations: x (R,C) residual stream, ln (R,C), qkv (R,3C), att (R,C),
// fc (R,4C), then lnf (NL,C) and logits (NL,V) for the NL runs that want logits.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/buffer.h"
#include "infer/model.h"

namespace nexus {

/// Element type of a KV cache: f32, or fp16 (half the memory and the bandwidth of each
/// decode step; llama.cpp's default). Keys and values are rounded to fp16 when stored, and
/// attention reads them back as floats.
enum class KvType { F32, F16 };

/// "f32" / "f16".
const char* kv_type_name(KvType type);
/// KvType from its name; InvalidArgument for any other.
KvType parse_kv_type(const std::string& name);

/// Keys and values of every layer for one sequence, allocated up front for `capacity`
/// positions: (L, 2, NH, T, hs) elements — per layer K then V, per head a (T, hs) block whose
/// row t is position t. Head-major, so a decode step streams each head's keys and values
/// contiguously (2.5x the bandwidth of (T, C) rows read 64 floats at a time).
class KVCache {
 public:
  /// A zeroed cache of `capacity` positions (1 <= capacity <= block_size) for `config`.
  KVCache(const GPTConfig& config, int capacity, KvType type = KvType::F32);
  /// Positions the cache holds.
  int capacity() const { return T_; }
  /// Element type.
  KvType type() const { return type_; }
  /// Keys of layer l, head h: (T, hs), row stride hs. F32 caches only.
  float* keys(int l, int h) { return f32() + block(l, 0, h); }
  /// Values of layer l, head h: (T, hs), row stride hs. F32 caches only.
  float* values(int l, int h) { return f32() + block(l, 1, h); }
  const float* keys(int l, int h) const { return const_cast<KVCache*>(this)->keys(l, h); }
  const float* values(int l, int h) const { return const_cast<KVCache*>(this)->values(l, h); }
  /// fp16 keys / values of layer l, head h: (T, hs), row stride hs. F16 caches only.
  uint16_t* keys_f16(int l, int h) { return f16() + block(l, 0, h); }
  uint16_t* values_f16(int l, int h) { return f16() + block(l, 1, h); }
  const uint16_t* keys_f16(int l, int h) const { return const_cast<KVCache*>(this)->keys_f16(l, h); }
  const uint16_t* values_f16(int l, int h) const { return const_cast<KVCache*>(this)->values_f16(l, h); }
  /// Bytes of one element (4 for f32, 2 for f16).
  size_t element_bytes() const { return type_ == KvType::F16 ? 2 : sizeof(float); }
  /// Keys / values of layer l, head h as untyped memory ((T, hs) elements), e.g. to prefetch.
  const void* key_bytes(int l, int h) const { return bytes_at(block(l, 0, h)); }
  const void* value_bytes(int l, int h) const { return bytes_at(block(l, 1, h)); }
  /// Copies another cache of the same shape and type (e.g. to fork a prefilled prompt).
  void copy_from(const KVCache& other);
  /// Bytes of cache memory.
  size_t bytes() const { return data_.bytes(); }

 private:
  size_t block(int l, int kv, int h) const { return (((size_t)l * 2 + kv) * NH_ + h) * T_ * hs_; }
  const void* bytes_at(size_t element) const {
    return reinterpret_cast<const char*>(data_.data()) + element * element_bytes();
  }
  float* f32();
  uint16_t* f16();

  FloatBuffer data_;  // an F16 cache keeps its 2-byte elements in half as many floats
  int T_ = 0, NH_ = 0, hs_ = 0;
  KvType type_ = KvType::F32;
};

/// Bytes a KVCache of `capacity` positions and element `type` takes for `config`.
size_t kv_cache_bytes(const GPTConfig& config, int capacity, KvType type = KvType::F32);

/// Which attention path a chunk takes: Decode = one new token against its cache (a dot
/// product per cached position); Prefill = a run of tokens (tiled causal attention). The
/// weight matmuls treat every row alike.
enum class RowKind { Decode, Prefill };

/// One run of consecutive tokens of one sequence in a forward pass.
struct ForwardChunk {
  KVCache* cache = nullptr;         // the sequence's cache; positions [0, pos) are filled
  int pos = 0;                      // position of tokens[0]
  const int32_t* tokens = nullptr;  // n tokens
  int n = 0;
  RowKind kind = RowKind::Prefill;  // Decode: a single sampled token (n == 1)
  bool want_logits = false;         // compute the logits of the last token
  bool all_logits = false;          // compute the logits of every token (perplexity)
};

/// Runs batched inference forward passes for one model. Owns the activation workspace
/// (grown on demand, reused across calls). Not thread-safe: one pass at a time.
class ForwardPass {
 public:
  /// A pass for `model` (shared, read-only).
  explicit ForwardPass(std::shared_ptr<const InferenceModel> model);

  /// Processes `chunks`: writes their keys and values into their caches at positions
  /// [pos, pos+n) and returns the logits (NL, V), in chunk order: one row per chunk with
  /// want_logits, n rows per chunk with all_logits (valid until the next run).
  /// InvalidArgument for an empty chunk, a token outside the vocabulary, a run past the cache
  /// or the context, or a decode chunk with n != 1.
  const float* run(std::span<const ForwardChunk> chunks);

  /// The model this pass runs.
  const InferenceModel& model() const { return *model_; }
  /// Bytes of activation workspace currently held.
  size_t workspace_bytes() const;

 private:
  void validate(std::span<const ForwardChunk> chunks) const;
  void ensure_workspace(int rows, int logit_rows, int max_keys, bool f16_cache);
  void embed(std::span<const ForwardChunk> chunks, const std::vector<int>& row0);
  void layer(int l, std::span<const ForwardChunk> chunks, const std::vector<int>& row0);
  void store_kv(int l, std::span<const ForwardChunk> chunks, const std::vector<int>& row0);
  void attention(int l, std::span<const ForwardChunk> chunks, const std::vector<int>& row0);
  void logits(std::span<const ForwardChunk> chunks, const std::vector<int>& row0);

  std::shared_ptr<const InferenceModel> model_;
  int rows_ = 0, logit_rows_ = 0;
  FloatBuffer x_, ln_, mean_, rstd_, qkv_, att_, fc_, lnf_, logits_;
  std::vector<FloatBuffer> scratch_;  // attention scratch, one per thread
  long scratch_floats_ = 0;
};

}  // namespace nexus
