#include "io/safetensors.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/json_input.h"

static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

namespace nexus {
namespace {

using json = nlohmann::json;

constexpr uint64_t kMaxHeaderBytes = 100ull * 1000 * 1000;  // anything larger is corrupt
constexpr int kMaxJsonDepth = 16;                           // the format needs depth 3

struct DTypeEntry {
  DType dtype;
  const char* name;
  size_t size;
};
constexpr DTypeEntry kDTypes[] = {
    {DType::F32, "F32", 4}, {DType::F16, "F16", 2}, {DType::BF16, "BF16", 2}, {DType::F64, "F64", 8},
    {DType::I8, "I8", 1},   {DType::I16, "I16", 2}, {DType::I32, "I32", 4},   {DType::I64, "I64", 8},
    {DType::U8, "U8", 1},   {DType::U16, "U16", 2}, {DType::U32, "U32", 4},   {DType::U64, "U64", 8},
    {DType::BOOL, "BOOL", 1},
};

const DTypeEntry& entry_of(DType dtype) {
  for (const auto& e : kDTypes)
    if (e.dtype == dtype) return e;
  throw InvalidArgument("unknown DType value " + std::to_string(static_cast<int>(dtype)));
}

// numel * elem_size, or nullopt if it overflows int64 or a dim is negative.
std::optional<uint64_t> byte_size(const std::vector<int64_t>& shape, size_t elem_size) {
  unsigned __int128 total = elem_size;
  for (int64_t d : shape) {
    if (d < 0) return std::nullopt;
    total *= static_cast<uint64_t>(d);
    if (total > static_cast<unsigned __int128>(INT64_MAX)) return std::nullopt;
  }
  return static_cast<uint64_t>(total);
}

// Parses the header, also refusing duplicate keys (which nlohmann would silently merge).
json parse_header_json(std::string_view header, const std::string& where) {
  json j = parse_json(header, where + ": header", {.max_depth = kMaxJsonDepth, .max_bytes = kMaxHeaderBytes,
                                                   .unique_keys = true});
  if (!j.is_object()) throw FormatError(where + ": header is not a JSON object");
  return j;
}

// Reads a non-negative JSON integer; `what` names the field for messages.
uint64_t get_non_negative(const json& v, const std::string& what) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer()) throw FormatError(what + " is negative (" + v.dump() + ")");
  throw FormatError(what + " is not an integer (" + v.dump() + ")");
}

std::vector<int64_t> parse_shape(const json& v, const std::string& where) {
  if (!v.is_array()) throw FormatError(where + ": 'shape' is not an array");
  std::vector<int64_t> shape;
  for (const auto& d : v) {
    uint64_t dim = get_non_negative(d, where + ": shape dimension");
    if (dim > static_cast<uint64_t>(INT64_MAX)) throw FormatError(where + ": shape dimension too large");
    shape.push_back(static_cast<int64_t>(dim));
  }
  return shape;
}

TensorInfo parse_entry(const json& v, uint64_t data_size, const std::string& where) {
  if (!v.is_object()) throw FormatError(where + ": entry is not a JSON object");
  for (const char* field : {"dtype", "shape", "data_offsets"})
    if (!v.contains(field)) throw FormatError(where + ": missing '" + field + "'");
  TensorInfo info;
  const json& dt = v.at("dtype");
  if (!dt.is_string()) throw FormatError(where + ": 'dtype' is not a string");
  auto dtype = parse_dtype(dt.get_ref<const std::string&>());
  if (!dtype) throw FormatError(where + ": unknown dtype '" + dt.get<std::string>() + "'");
  info.dtype = *dtype;
  info.shape = parse_shape(v.at("shape"), where);
  const json& off = v.at("data_offsets");
  if (!off.is_array() || off.size() != 2)
    throw FormatError(where + ": 'data_offsets' is not an array of two integers");
  info.begin = get_non_negative(off[0], where + ": data_offsets begin");
  info.end = get_non_negative(off[1], where + ": data_offsets end");
  if (info.begin > info.end)
    throw FormatError(where + ": data_offsets begin " + std::to_string(info.begin) + " > end " +
                      std::to_string(info.end));
  if (info.end > data_size)
    throw FormatError(where + ": data_offsets [" + std::to_string(info.begin) + ", " + std::to_string(info.end) +
                      "] exceed the data section (" + std::to_string(data_size) +
                      " bytes): the file is truncated or corrupt");
  auto nbytes = byte_size(info.shape, dtype_size(info.dtype));
  if (!nbytes) throw FormatError(where + ": shape " + shape_to_string(info.shape) + " is too large");
  if (*nbytes != info.end - info.begin)
    throw FormatError(where + ": shape " + shape_to_string(info.shape) + " of " + dtype_name(info.dtype) +
                      " needs " + std::to_string(*nbytes) + " bytes but data_offsets span " +
                      std::to_string(info.end - info.begin));
  return info;
}

std::map<std::string, std::string> parse_metadata(const json& v, const std::string& where) {
  if (!v.is_object()) throw FormatError(where + ": '__metadata__' is not a JSON object");
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : v.items()) {
    if (!value.is_string())
      throw FormatError(where + ": '__metadata__' value of '" + key + "' is not a string");
    out[key] = value.get<std::string>();
  }
  return out;
}

std::string build_header(const std::vector<TensorRef>& tensors, const std::map<std::string, std::string>& metadata,
                         const std::string& path) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    std::string where = "save_safetensors " + path + ": tensor '" + t.name + "'";
    if (t.name.empty() || t.name == "__metadata__") throw InvalidArgument(where + ": invalid name");
    if (!seen.insert(t.name).second) throw InvalidArgument(where + ": duplicate name");
    auto nbytes = byte_size(t.shape, dtype_size(t.dtype));
    if (!nbytes) throw InvalidArgument(where + ": invalid shape " + shape_to_string(t.shape));
    if (*nbytes > 0 && t.data == nullptr) throw InvalidArgument(where + ": null data");
    header[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + *nbytes}}};
    offset += *nbytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    throw InvalidArgument("save_safetensors " + path + ": names and metadata must be valid UTF-8: " + e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

}  // namespace

std::string dtype_name(DType dtype) { return entry_of(dtype).name; }

size_t dtype_size(DType dtype) { return entry_of(dtype).size; }

std::optional<DType> parse_dtype(std::string_view name) {
  for (const auto& e : kDTypes)
    if (name == e.name) return e.dtype;
  return std::nullopt;
}

std::string shape_to_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

void save_safetensors(const std::string& path, const std::vector<TensorRef>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  const std::string header = build_header(tensors, metadata, path);
  write_file_atomic(path, std::function<void(std::FILE*)>([&](std::FILE* f) {
                      uint8_t len[8];
                      uint64_t n = header.size();
                      for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
                      std::fwrite(len, 1, 8, f);
                      std::fwrite(header.data(), 1, header.size(), f);
                      for (const auto& t : tensors) {
                        uint64_t nbytes = *byte_size(t.shape, dtype_size(t.dtype));
                        if (nbytes) std::fwrite(t.data, 1, nbytes, f);
                      }
                    }));
}

// Owned aligned copies of tensors whose data in the map is misaligned for float.
struct SafetensorsFile::AlignedCache {
  std::mutex mutex;
  std::map<std::string, std::vector<float>> copies;
};

SafetensorsFile::SafetensorsFile(const std::string& path) : map_(path), cache_(std::make_unique<AlignedCache>()) {
  const std::string where = "safetensors file " + path;
  const uint64_t size = map_.size();
  if (size < 8)
    throw FormatError(where + ": file is " + std::to_string(size) + " bytes, shorter than the 8-byte header length");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | map_.data()[i];
  if (n > kMaxHeaderBytes)
    throw FormatError(where + ": header length " + std::to_string(n) + " is absurd (> 100 MB); file is corrupt");
  if (n > size - 8)
    throw FormatError(where + ": header length " + std::to_string(n) + " exceeds the file size (" +
                      std::to_string(size) + " bytes); file is truncated or corrupt");
  data_start_ = 8 + n;
  parse_header(std::string_view(reinterpret_cast<const char*>(map_.data()) + 8, n), size - data_start_);
}

SafetensorsFile::~SafetensorsFile() = default;
SafetensorsFile::SafetensorsFile(SafetensorsFile&&) noexcept = default;
SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&&) noexcept = default;

void SafetensorsFile::parse_header(std::string_view header, uint64_t data_size) {
  const std::string where = "safetensors file " + path();
  json j = parse_header_json(header, where);
  std::vector<std::pair<std::string, const TensorInfo*>> by_offset;
  for (const auto& [name, value] : j.items()) {
    if (name == "__metadata__") {
      metadata_ = parse_metadata(value, where);
      continue;
    }
    const std::string tensor_where = where + ": tensor '" + name + "'";
    if (name.empty()) throw FormatError(where + ": tensor with an empty name");
    auto [it, inserted] = tensors_.emplace(name, parse_entry(value, data_size, tensor_where));
    if (!inserted) throw FormatError(tensor_where + ": duplicate name");
    by_offset.emplace_back(name, &it->second);
  }
  std::sort(by_offset.begin(), by_offset.end(), [](const auto& a, const auto& b) {
    return std::tie(a.second->begin, a.second->end, a.first) < std::tie(b.second->begin, b.second->end, b.first);
  });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const auto& [prev_name, prev] = by_offset[i - 1];
    const auto& [name, cur] = by_offset[i];
    if (cur->begin < prev->end)
      throw FormatError(where + ": tensor '" + name + "' overlaps tensor '" + prev_name + "' (data_offsets [" +
                        std::to_string(cur->begin) + ", " + std::to_string(cur->end) + "] vs [" +
                        std::to_string(prev->begin) + ", " + std::to_string(prev->end) + "])");
  }
  for (const auto& entry : by_offset) order_.push_back(entry.first);
}

const TensorInfo& SafetensorsFile::info(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) throw FormatError("safetensors file " + path() + " has no tensor '" + name + "'");
  return it->second;
}

std::span<const uint8_t> SafetensorsFile::raw(const std::string& name) const {
  const TensorInfo& ti = info(name);
  return {map_.data() + data_start_ + ti.begin, static_cast<size_t>(ti.nbytes())};
}

const float* SafetensorsFile::f32(const std::string& name, const std::vector<int64_t>& expected_shape) const {
  const TensorInfo& ti = info(name);
  const std::string where = "safetensors file " + path() + ": tensor '" + name + "'";
  if (ti.dtype != DType::F32) throw FormatError(where + " has dtype " + dtype_name(ti.dtype) + ", expected F32");
  if (ti.shape != expected_shape)
    throw FormatError(where + " has shape " + shape_to_string(ti.shape) + ", expected " +
                      shape_to_string(expected_shape));
  const uint8_t* p = map_.data() + data_start_ + ti.begin;
  if (reinterpret_cast<uintptr_t>(p) % alignof(float) == 0) return reinterpret_cast<const float*>(p);
  std::lock_guard<std::mutex> lock(cache_->mutex);
  auto [it, inserted] = cache_->copies.try_emplace(name);
  if (inserted) {
    it->second.resize(static_cast<size_t>(ti.numel()));
    if (ti.nbytes()) std::memcpy(it->second.data(), p, ti.nbytes());
  }
  return it->second.data();
}

}  // namespace nexus
