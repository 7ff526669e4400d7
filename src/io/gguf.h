#pragma once
// GGUF v3 files (ggml / llama.cpp's model format): writer and validating, memory-mapped reader.
//
// Layout (all little-endian):
//   "GGUF" | u32 version = 3 | u64 tensor_count | u64 kv_count
//   kv_count x { string key | u32 value type | value }        string = u64 length + bytes
//   tensor_count x { string name | u32 n_dims | u64 dims[n_dims] | u32 ggml type | u64 offset }
//   zero padding to `general.alignment` (a u32 key; 32 when absent)
//   data section: each tensor at its offset (relative to the section, a multiple of the
//   alignment), padded to the alignment.
// Dims are in ggml order, fastest-varying first: a row-major PyTorch/Nexus matrix of shape
// [rows, cols] is stored with dims {cols, rows}.
//
// The reader trusts nothing: every count, length, type, offset and size is checked against the
// file before use, and any violation is one FormatError naming the file and the problem (never
// an out-of-bounds read). Supported tensor types: F32, F16, BF16 and Q8_0 (blocks of 32 values:
// fp16 scale d, then 32 int8 q; value = d * q, exactly ggml's block_q8_0).
//
// Nexus's GPT-2 files (keys, tensor names, tokenizer) are written and read by infer/gguf_model.h
// (`nexus export --format gguf`, `nexus quantize`, InferenceModel::load of a .gguf): tensor data
// is read zero-copy from the map with raw(), or converted with to_f32().
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <variant>
#include <vector>

#include "io/mmap.h"

namespace nexus {

/// Type codes of GGUF metadata values (gguf_type).
enum class GgufType : uint32_t {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
};

/// The ggml tensor types Nexus reads and writes (codes as in ggml.h).
enum class GgmlType : uint32_t { F32 = 0, F16 = 1, Q8_0 = 8, BF16 = 30 };

/// Name of a metadata type ("UINT32", "STRING", ...), or "type N" for an unknown code.
std::string gguf_type_name(GgufType type);
/// Name of a ggml type ("F32", "Q8_0", ...), also for ggml types Nexus does not support.
std::string ggml_type_name(uint32_t type);
/// Values per block (1 for F32/F16/BF16, 32 for Q8_0).
int64_t ggml_block_size(GgmlType type);
/// Bytes per block (4, 2, 2 or 34).
int64_t ggml_block_bytes(GgmlType type);
/// Bytes of a tensor with these ggml-order dims, or nullopt when dims[0] is not a multiple of
/// the block size, a dim is negative, or the size overflows int64.
std::optional<uint64_t> ggml_nbytes(GgmlType type, std::span<const int64_t> dims);

/// ggml's block_q8_0: 32 values = d * qs[i], d stored as fp16 bits.
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[32];
};
static_assert(sizeof(BlockQ8_0) == 34, "Q8_0 blocks are 34 bytes in ggml");

// Quantizing is Nexus's own rule (kernels::quantize_block_q8), not ggml's: one way only.
/// Dequantizes n values (n a multiple of 32) from n/32 blocks.
void dequantize_q8_0(const BlockQ8_0* blocks, float* out, int64_t n);

/// C++ types that map to a GGUF scalar type (std::string_view is stored as a std::string).
template <class T>
concept GgufScalar = std::is_same_v<T, uint8_t> || std::is_same_v<T, int8_t> || std::is_same_v<T, uint16_t> ||
    std::is_same_v<T, int16_t> || std::is_same_v<T, uint32_t> || std::is_same_v<T, int32_t> ||
    std::is_same_v<T, float> || std::is_same_v<T, bool> || std::is_same_v<T, std::string> ||
    std::is_same_v<T, std::string_view> || std::is_same_v<T, uint64_t> || std::is_same_v<T, int64_t> ||
    std::is_same_v<T, double>;

/// One metadata value: a scalar or a (non-nested) array of one scalar type. Scalars are stored
/// as one-element vectors, so get() and get_array() share one representation.
class GgufValue {
 public:
  using Storage =
      std::variant<std::vector<uint8_t>, std::vector<int8_t>, std::vector<uint16_t>, std::vector<int16_t>,
                   std::vector<uint32_t>, std::vector<int32_t>, std::vector<float>, std::vector<bool>,
                   std::vector<std::string>, std::vector<uint64_t>, std::vector<int64_t>, std::vector<double>>;

  /// A UINT32 zero.
  GgufValue() : data_(std::vector<uint32_t>{0}) {}
  /// A scalar of the GGUF type matching T (uint32_t -> UINT32, std::string -> STRING, ...).
  template <GgufScalar T>
  GgufValue(T scalar) : data_(std::vector<Scalar<T>>{Scalar<T>(std::move(scalar))}) {}
  /// A string scalar.
  GgufValue(const char* s) : GgufValue(std::string(s)) {}
  /// An array of the GGUF type matching T.
  template <GgufScalar T>
  GgufValue(std::vector<T> array) : array_(true), data_(std::move(array)) {}

  /// True for an array.
  bool is_array() const { return array_; }
  /// ARRAY for arrays, otherwise the scalar type.
  GgufType type() const { return array_ ? GgufType::ARRAY : element_type(); }
  /// The scalar type, or the element type of an array.
  GgufType element_type() const;
  /// Elements of an array (1 for a scalar).
  size_t size() const;
  /// The scalar of type T; FormatError (naming `key`) if this is an array or another type.
  template <class T>
  T get(std::string_view key = "value") const {
    const auto* v = std::get_if<std::vector<T>>(&data_);
    if (array_ || !v) throw_type_mismatch(key, std::string("a scalar of C++ type ") + typeid(T).name());
    return (*v)[0];
  }
  /// The elements of an array of type T; FormatError (naming `key`) otherwise.
  template <class T>
  const std::vector<T>& get_array(std::string_view key = "value") const {
    const auto* v = std::get_if<std::vector<T>>(&data_);
    if (!array_ || !v) throw_type_mismatch(key, std::string("an array of C++ type ") + typeid(T).name());
    return *v;
  }
  /// The underlying vectors (for generic code such as the writer).
  const Storage& storage() const { return data_; }
  /// Same type and same elements.
  bool operator==(const GgufValue& other) const = default;

 private:
  template <class T>
  using Scalar = std::conditional_t<std::is_same_v<T, std::string_view>, std::string, T>;
  [[noreturn]] void throw_type_mismatch(std::string_view key, const std::string& wanted) const;

  bool array_ = false;
  Storage data_;
};

/// One metadata entry, in file order.
using GgufKV = std::pair<std::string, GgufValue>;

/// A tensor to write: ggml-order dims and data already in `type`'s layout (ggml_nbytes bytes).
struct GgufTensorRef {
  std::string name;           // at most 63 bytes (ggml's GGML_MAX_NAME - 1)
  std::vector<int64_t> dims;  // 1 to 4 dims, fastest first
  GgmlType type = GgmlType::F32;
  const void* data = nullptr;
};

/// Writes a GGUF v3 file atomically (io/atomic_file.h). The alignment is the UINT32 value of a
/// `general.alignment` entry in `metadata` if there is one, else 32. Throws InvalidArgument
/// for duplicate or empty keys/names, bad dims or alignment, and IoError when writing fails.
void save_gguf(const std::string& path, const std::vector<GgufKV>& metadata, const std::vector<GgufTensorRef>& tensors);

/// The same file as bytes in memory (for tests and small files).
std::string gguf_to_bytes(const std::vector<GgufKV>& metadata, const std::vector<GgufTensorRef>& tensors);

/// True when `path` is a regular file that starts with the GGUF magic "GGUF" (how a .gguf
/// model is told from a model directory, whatever its name). Never throws.
bool is_gguf_file(const std::string& path);

/// A tensor described by a GGUF file.
struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> dims;  // ggml order, fastest first
  GgmlType type = GgmlType::F32;
  uint64_t offset = 0;  // from the start of the data section
  uint64_t nbytes = 0;
  /// Number of values.
  int64_t numel() const;
};

/// A validated GGUF file, memory-mapped (or held in memory). Read-only and thread-safe.
class GgufFile {
 public:
  /// Maps and validates `path`: IoError if it cannot be read, FormatError if malformed.
  explicit GgufFile(const std::string& path);
  /// Validates a file image held in memory; `name` is used in messages.
  static GgufFile from_bytes(std::string bytes, const std::string& name = "<memory>");

  /// Where the file came from (for messages).
  const std::string& path() const { return name_; }
  /// Format version (always 3).
  uint32_t version() const { return 3; }
  /// Data alignment in bytes.
  uint64_t alignment() const { return alignment_; }
  /// Metadata entries in file order.
  const std::vector<GgufKV>& metadata() const { return metadata_; }
  /// The value of `key`, or nullptr.
  const GgufValue* find(std::string_view key) const;
  /// The value of `key`; FormatError if absent.
  const GgufValue& at(std::string_view key) const;
  /// Tensor descriptions in file order.
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  /// The tensor called `name`, or nullptr.
  const GgufTensorInfo* find_tensor(std::string_view name) const;
  /// The tensor called `name`; FormatError if absent.
  const GgufTensorInfo& tensor(std::string_view name) const;
  /// Raw bytes of a tensor of this file, in its ggml layout (zero-copy from the map).
  std::span<const uint8_t> raw(const GgufTensorInfo& info) const;
  /// The tensor converted to floats (dequantized for Q8_0; F16 and BF16 widen exactly).
  std::vector<float> to_f32(const GgufTensorInfo& info) const;
  /// The same, written to out[0 .. info.numel()).
  void to_f32(const GgufTensorInfo& info, float* out) const;
  /// Gives back the memory pages of a tensor's bytes that no other tensor shares (a mapped
  /// file only; see release_pages in io/mmap.h). Reading the tensor again stays valid.
  void release(const GgufTensorInfo& info) const { release(info, 0, info.nbytes); }
  /// The same for bytes [offset, offset + bytes) of the tensor (clamped to the tensor).
  void release(const GgufTensorInfo& info, uint64_t offset, uint64_t bytes) const;

 private:
  GgufFile() = default;
  void parse();

  std::string name_;
  MappedFile map_;
  std::shared_ptr<const std::string> owned_;  // from_bytes storage (stable across moves)
  const uint8_t* base_ = nullptr;
  size_t size_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_start_ = 0;
  std::vector<GgufKV> metadata_;
  std::vector<GgufTensorInfo> tensors_;
};

}  // namespace nexus
