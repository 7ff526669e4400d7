#pragma once
// The safetensors file format (https://github.com/huggingface/safetensors):
//
//   bytes [0, 8)        N, the header length, unsigned 64-bit little-endian
//   bytes [8, 8+N)      UTF-8 JSON object (padded with trailing spaces):
//                         {"__metadata__": {"key": "value", ...},          (optional)
//                          "name": {"dtype": "F32", "shape": [d0, d1, ...],
//                                   "data_offsets": [begin, end]}, ...}
//   bytes [8+N, EOF)    the data section; [begin, end) are relative to its start.
//                       Tensors are row-major, little-endian.
//
// save_safetensors() pads the header to a multiple of 8 bytes and packs the tensors
// contiguously in the order given. SafetensorsFile validates the whole header before any
// tensor is handed out; every problem is a FormatError naming the file (and the tensor).
// The reader accepts gaps between tensors and trailing bytes after the last one, but
// never overlapping tensors.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "io/mmap.h"

namespace nexus {

/// Element types of the safetensors format (names as spelled in the header).
enum class DType { F32, F16, BF16, F64, I8, I16, I32, I64, U8, U16, U32, U64, BOOL };

/// Header spelling of a dtype ("F32", "BF16", ...).
std::string dtype_name(DType dtype);

/// Size of one element in bytes.
size_t dtype_size(DType dtype);

/// Parses a header dtype string; nullopt if it is not one of the supported names.
std::optional<DType> parse_dtype(std::string_view name);

/// Formats a shape as "[d0, d1, ...]" for messages.
std::string shape_to_string(const std::vector<int64_t>& shape);

/// A tensor to be written: `data` points at numel(shape) * dtype_size(dtype) bytes.
struct TensorRef {
  std::string name;            ///< unique, non-empty, not "__metadata__"
  DType dtype = DType::F32;    ///< element type
  std::vector<int64_t> shape;  ///< dimensions (empty = scalar)
  const void* data = nullptr;  ///< row-major little-endian elements (may be null if empty)
};

/// Writes a safetensors file atomically (write_file_atomic). Throws InvalidArgument for
/// bad tensors (empty/duplicate names, negative dims, null data) and IoError on write failure.
void save_safetensors(const std::string& path, const std::vector<TensorRef>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

/// Description of one tensor stored in a file.
struct TensorInfo {
  DType dtype = DType::F32;    ///< element type
  std::vector<int64_t> shape;  ///< dimensions
  uint64_t begin = 0;          ///< start offset within the data section
  uint64_t end = 0;            ///< end offset (exclusive) within the data section
  /// Number of elements (product of the shape; 1 for a scalar).
  int64_t numel() const;
  /// Number of bytes (end - begin).
  uint64_t nbytes() const { return end - begin; }
};

/// A validated, memory-mapped safetensors file. Movable, not copyable.
class SafetensorsFile {
 public:
  /// Maps and validates `path`. IoError if it cannot be opened, FormatError if malformed.
  explicit SafetensorsFile(const std::string& path);
  /// Releases the mapping and any aligned copies.
  ~SafetensorsFile();
  /// Takes over another open file.
  SafetensorsFile(SafetensorsFile&&) noexcept;
  /// Takes over another open file.
  SafetensorsFile& operator=(SafetensorsFile&&) noexcept;

  /// Path the file was opened from.
  const std::string& path() const { return map_.path(); }
  /// Tensor names in data-section order (the write order for files written by Nexus).
  const std::vector<std::string>& names() const { return order_; }
  /// True if a tensor with this name exists.
  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  /// Dtype, shape and offsets of a tensor; FormatError if the file has no such tensor.
  const TensorInfo& info(const std::string& name) const;
  /// The F32 tensor `name`, checked against `expected_shape` (FormatError showing both
  /// shapes on mismatch, or if the dtype is not F32). The pointer is valid while this object
  /// lives. It points straight into the map when the data is 4-byte aligned; otherwise (the
  /// format does not guarantee alignment) the tensor is copied once into an owned aligned
  /// buffer, so the result is always safely aligned. Thread-safe.
  const float* f32(const std::string& name, const std::vector<int64_t>& expected_shape) const;
  /// Raw little-endian bytes of any tensor (no alignment guarantee).
  std::span<const uint8_t> raw(const std::string& name) const;
  /// The "__metadata__" string map (empty if absent).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  struct AlignedCache;
  void parse_header(std::string_view header, uint64_t data_size);

  MappedFile map_;
  uint64_t data_start_ = 0;
  std::map<std::string, TensorInfo> tensors_;
  std::vector<std::string> order_;
  std::map<std::string, std::string> metadata_;
  std::unique_ptr<AlignedCache> cache_;
};

}  // namespace nexus
