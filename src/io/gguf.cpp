#include "io/gguf.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <set>
#include <tuple>

#include "core/error.h"
#include "core/half.h"
#include "io/atomic_file.h"

static_assert(std::endian::native == std::endian::little, "GGUF I/O assumes a little-endian host");

namespace nexus {
namespace {

constexpr char kMagic[4] = {'G', 'G', 'U', 'F'};
constexpr uint32_t kVersion = 3;
constexpr uint64_t kDefaultAlignment = 32;
constexpr size_t kMaxNameBytes = 63;  // ggml's GGML_MAX_NAME (64) minus the terminating NUL
constexpr uint32_t kMaxDims = 4;      // GGML_MAX_DIMS
constexpr int64_t kQK8_0 = 32;

// Calls f(std::type_identity<T>{}) with the C++ type of a GGUF scalar type; false if unknown
// (ARRAY included, since arrays are not scalars).
template <class F>
bool dispatch(GgufType type, F&& f) {
  switch (type) {
    case GgufType::UINT8:
      f(std::type_identity<uint8_t>{});
      return true;
    case GgufType::INT8:
      f(std::type_identity<int8_t>{});
      return true;
    case GgufType::UINT16:
      f(std::type_identity<uint16_t>{});
      return true;
    case GgufType::INT16:
      f(std::type_identity<int16_t>{});
      return true;
    case GgufType::UINT32:
      f(std::type_identity<uint32_t>{});
      return true;
    case GgufType::INT32:
      f(std::type_identity<int32_t>{});
      return true;
    case GgufType::FLOAT32:
      f(std::type_identity<float>{});
      return true;
    case GgufType::BOOL:
      f(std::type_identity<bool>{});
      return true;
    case GgufType::STRING:
      f(std::type_identity<std::string>{});
      return true;
    case GgufType::UINT64:
      f(std::type_identity<uint64_t>{});
      return true;
    case GgufType::INT64:
      f(std::type_identity<int64_t>{});
      return true;
    case GgufType::FLOAT64:
      f(std::type_identity<double>{});
      return true;
    case GgufType::ARRAY:
      return false;
  }
  return false;
}

// Smallest encoding of one value of a scalar type in the file (strings: the u64 length).
template <class T>
constexpr uint64_t min_encoded_size() {
  if constexpr (std::is_same_v<T, std::string>)
    return 8;
  else if constexpr (std::is_same_v<T, bool>)
    return 1;
  else
    return sizeof(T);
}

uint64_t align_up(uint64_t x, uint64_t alignment) { return (x + alignment - 1) / alignment * alignment; }

bool is_supported(uint32_t type) { return type == 0 || type == 1 || type == 8 || type == 30; }

// ---- reading ----

// Bounds-checked little-endian reader over the file image; every failure is a FormatError
// naming the file, what was being read and where.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size, const std::string& where) : data_(data), size_(size), where_(where) {}

  size_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }

  [[noreturn]] void fail(const std::string& message) const {
    throw FormatError(where_ + ": " + message + " (at byte " + std::to_string(pos_) + ")");
  }

  template <class T>
  T pod(const std::string& what) {
    if (remaining() < sizeof(T)) fail("file ends inside " + what + "; it is truncated");
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string str(const std::string& what) {
    const uint64_t n = pod<uint64_t>("the length of " + what);
    if (n > remaining())
      fail("length " + std::to_string(n) + " of " + what + " exceeds the " + std::to_string(remaining()) +
           " bytes left in the file");
    std::string s(reinterpret_cast<const char*>(data_ + pos_), static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return s;
  }

  template <class T>
  T scalar(const std::string& what) {
    if constexpr (std::is_same_v<T, std::string>) {
      return str(what);
    } else if constexpr (std::is_same_v<T, bool>) {
      const uint8_t b = pod<uint8_t>(what);
      if (b > 1) fail(what + " is a BOOL with byte value " + std::to_string(b) + " (must be 0 or 1)");
      return b != 0;
    } else {
      return pod<T>(what);
    }
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  const std::string& where_;
};

GgufValue read_value(Reader& r, GgufType type, const std::string& key) {
  const std::string what = "the value of '" + key + "'";
  GgufValue out;
  if (type == GgufType::ARRAY) {
    const auto elem = static_cast<GgufType>(r.pod<uint32_t>("the element type of " + what));
    const uint64_t count = r.pod<uint64_t>("the length of " + what);
    const bool known = dispatch(elem, [&](auto tag) {
      using T = typename decltype(tag)::type;
      if (count > r.remaining() / min_encoded_size<T>())
        r.fail("array '" + key + "' claims " + std::to_string(count) + " elements of type " + gguf_type_name(elem) +
               ", more than the file can hold");
      std::vector<T> values;
      values.reserve(static_cast<size_t>(count));
      for (uint64_t i = 0; i < count; ++i)
        values.push_back(r.scalar<T>("element " + std::to_string(i) + " of " + what));
      out = GgufValue(std::move(values));
    });
    if (!known) {
      if (elem == GgufType::ARRAY) r.fail("array '" + key + "' holds arrays; nested arrays are not supported");
      r.fail("array '" + key + "' has unknown element type " + std::to_string(static_cast<uint32_t>(elem)));
    }
    return out;
  }
  const bool known = dispatch(type, [&](auto tag) {
    using T = typename decltype(tag)::type;
    out = GgufValue(r.scalar<T>(what));
  });
  if (!known) r.fail("metadata '" + key + "' has unknown value type " + std::to_string(static_cast<uint32_t>(type)));
  return out;
}

// Reads the KV section; checks keys are non-empty and unique.
std::vector<GgufKV> read_metadata(Reader& r, uint64_t count) {
  // Smallest KV: 8-byte key length + 1 key byte + 4-byte type + 1-byte value.
  if (count > r.remaining() / 14) r.fail("metadata count " + std::to_string(count) + " is more than the file can hold");
  std::vector<GgufKV> out;
  std::set<std::string> keys;
  for (uint64_t i = 0; i < count; ++i) {
    std::string key = r.str("metadata key " + std::to_string(i));
    if (key.empty()) r.fail("metadata key " + std::to_string(i) + " is empty");
    if (!keys.insert(key).second) r.fail("metadata key '" + key + "' appears twice");
    const auto type = static_cast<GgufType>(r.pod<uint32_t>("the type of '" + key + "'"));
    GgufValue value = read_value(r, type, key);
    out.emplace_back(std::move(key), std::move(value));
  }
  return out;
}

// The data alignment: general.alignment (a UINT32 power of two) or the default.
uint64_t reader_alignment(const std::vector<GgufKV>& metadata, const std::string& where) {
  for (const auto& [key, value] : metadata) {
    if (key != "general.alignment") continue;
    if (value.type() != GgufType::UINT32)
      throw FormatError(where + ": general.alignment is " + gguf_type_name(value.type()) + ", expected UINT32");
    const uint32_t a = value.get<uint32_t>();
    if (a == 0 || (a & (a - 1)) != 0)
      throw FormatError(where + ": general.alignment " + std::to_string(a) + " is not a power of two");
    return a;
  }
  return kDefaultAlignment;
}

// Reads one tensor description and checks everything that does not need the data section.
GgufTensorInfo read_tensor_info(Reader& r, uint64_t index, uint64_t alignment) {
  GgufTensorInfo t;
  t.name = r.str("the name of tensor " + std::to_string(index));
  const std::string what = "tensor '" + t.name + "'";
  if (t.name.empty()) r.fail("tensor " + std::to_string(index) + " has an empty name");
  if (t.name.size() > kMaxNameBytes)
    r.fail(what + ": name is " + std::to_string(t.name.size()) + " bytes (at most 63)");
  const uint32_t n_dims = r.pod<uint32_t>("the dim count of " + what);
  if (n_dims == 0 || n_dims > kMaxDims) r.fail(what + " has " + std::to_string(n_dims) + " dims (must be 1 to 4)");
  for (uint32_t d = 0; d < n_dims; ++d) {
    const uint64_t dim = r.pod<uint64_t>("dim " + std::to_string(d) + " of " + what);
    if (dim > static_cast<uint64_t>(INT64_MAX)) r.fail(what + " has dim " + std::to_string(dim) + " (too large)");
    t.dims.push_back(static_cast<int64_t>(dim));
  }
  const uint32_t type = r.pod<uint32_t>("the type of " + what);
  if (!is_supported(type))
    r.fail(what + " has ggml type " + std::to_string(type) + " (" + ggml_type_name(type) +
           "); Nexus reads F32, F16, BF16 and Q8_0");
  t.type = static_cast<GgmlType>(type);
  const auto nbytes = ggml_nbytes(t.type, t.dims);
  if (!nbytes)
    r.fail(what + ": dims do not fit type " + ggml_type_name(type) +
           " (size overflows, or dim 0 is not a multiple of the block size)");
  t.nbytes = *nbytes;
  t.offset = r.pod<uint64_t>("the data offset of " + what);
  if (t.offset % alignment != 0)
    r.fail(what + ": data offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
           std::to_string(alignment));
  return t;
}

// Checks every tensor lies inside the data section and no two overlap.
void check_layout(const std::vector<GgufTensorInfo>& tensors, uint64_t data_size, const std::string& where) {
  std::vector<const GgufTensorInfo*> by_offset;
  for (const auto& t : tensors) {
    if (t.offset > data_size || t.nbytes > data_size - t.offset)
      throw FormatError(where + ": tensor '" + t.name + "' spans bytes [" + std::to_string(t.offset) + ", +" +
                        std::to_string(t.nbytes) + ") but the data section has " + std::to_string(data_size) +
                        " bytes; the file is truncated or corrupt");
    by_offset.push_back(&t);
  }
  std::sort(by_offset.begin(), by_offset.end(), [](const GgufTensorInfo* a, const GgufTensorInfo* b) {
    return std::tie(a->offset, a->nbytes) < std::tie(b->offset, b->nbytes);
  });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const GgufTensorInfo& prev = *by_offset[i - 1];
    const GgufTensorInfo& cur = *by_offset[i];
    if (cur.offset < prev.offset + prev.nbytes)
      throw FormatError(where + ": tensor '" + cur.name + "' (offset " + std::to_string(cur.offset) +
                        ") overlaps tensor '" + prev.name + "' (offset " + std::to_string(prev.offset) + ", " +
                        std::to_string(prev.nbytes) + " bytes)");
  }
}

// ---- writing ----

using Sink = std::function<void(const void*, size_t)>;

template <class T>
void put(std::string& out, const T& v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof(T));
}

void put_string(std::string& out, const std::string& s) {
  put<uint64_t>(out, s.size());
  out += s;
}

template <class T>
void put_scalar(std::string& out, const T& v) {
  if constexpr (std::is_same_v<T, std::string>)
    put_string(out, v);
  else if constexpr (std::is_same_v<T, bool>)
    put<uint8_t>(out, v ? 1 : 0);
  else
    put<T>(out, v);
}

void put_value(std::string& out, const GgufValue& value) {
  put<uint32_t>(out, static_cast<uint32_t>(value.type()));
  if (value.is_array()) {
    put<uint32_t>(out, static_cast<uint32_t>(value.element_type()));
    put<uint64_t>(out, value.size());
  }
  std::visit(
      [&](const auto& values) {
        using T = typename std::decay_t<decltype(values)>::value_type;
        for (size_t i = 0; i < values.size(); ++i) put_scalar<T>(out, values[i]);
      },
      value.storage());
}

// Alignment from `general.alignment` if present (must be a UINT32 power of two), else 32.
uint64_t writer_alignment(const std::vector<GgufKV>& metadata) {
  for (const auto& [key, value] : metadata) {
    if (key != "general.alignment") continue;
    require(value.type() == GgufType::UINT32, "GGUF general.alignment must be a UINT32 scalar");
    const uint32_t a = value.get<uint32_t>();
    require(a != 0 && (a & (a - 1)) == 0, "GGUF general.alignment must be a power of two, got " + std::to_string(a));
    return a;
  }
  return kDefaultAlignment;
}

// Checks the tensors and returns each one's size in bytes.
std::vector<uint64_t> tensor_sizes(const std::vector<GgufTensorRef>& tensors) {
  std::set<std::string> names;
  std::vector<uint64_t> sizes;
  for (const auto& t : tensors) {
    const std::string where = "GGUF tensor '" + t.name + "'";
    require(!t.name.empty() && t.name.size() <= kMaxNameBytes,
            where + ": name must be 1 to " + std::to_string(kMaxNameBytes) + " bytes");
    require(names.insert(t.name).second, where + ": duplicate name");
    require(!t.dims.empty() && t.dims.size() <= kMaxDims, where + ": must have 1 to 4 dims");
    require(is_supported(static_cast<uint32_t>(t.type)), where + ": unsupported type");
    const auto nbytes = ggml_nbytes(t.type, t.dims);
    require(nbytes.has_value(), where + ": bad dims for " + ggml_type_name(static_cast<uint32_t>(t.type)) +
                                    " (negative, too large, or dims[0] not a multiple of the block size)");
    require(*nbytes == 0 || t.data != nullptr, where + ": null data");
    sizes.push_back(*nbytes);
  }
  return sizes;
}

// Writes the whole file through `sink`: header (built in memory) then each tensor, padded.
void write_gguf(const Sink& sink, const std::vector<GgufKV>& metadata, const std::vector<GgufTensorRef>& tensors) {
  const uint64_t alignment = writer_alignment(metadata);
  const std::vector<uint64_t> sizes = tensor_sizes(tensors);
  std::string header(kMagic, 4);
  put<uint32_t>(header, kVersion);
  put<uint64_t>(header, tensors.size());
  put<uint64_t>(header, metadata.size());
  std::set<std::string> keys;
  for (const auto& [key, value] : metadata) {
    require(!key.empty(), "GGUF metadata keys must not be empty");
    require(keys.insert(key).second, "GGUF metadata key '" + key + "' appears twice");
    put_string(header, key);
    put_value(header, value);
  }
  uint64_t offset = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    put_string(header, tensors[i].name);
    put<uint32_t>(header, static_cast<uint32_t>(tensors[i].dims.size()));
    for (int64_t d : tensors[i].dims) put<uint64_t>(header, static_cast<uint64_t>(d));
    put<uint32_t>(header, static_cast<uint32_t>(tensors[i].type));
    put<uint64_t>(header, offset);
    offset += align_up(sizes[i], alignment);
  }
  header.resize(align_up(header.size(), alignment), '\0');
  sink(header.data(), header.size());
  const std::string zeros(alignment, '\0');
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (sizes[i]) sink(tensors[i].data, sizes[i]);
    sink(zeros.data(), align_up(sizes[i], alignment) - sizes[i]);
  }
}

}  // namespace

std::string gguf_type_name(GgufType type) {
  static const char* const kNames[] = {"UINT8", "INT8",   "UINT16", "INT16",  "UINT32", "INT32",  "FLOAT32",
                                       "BOOL",  "STRING", "ARRAY",  "UINT64", "INT64",  "FLOAT64"};
  const auto i = static_cast<uint32_t>(type);
  return i < std::size(kNames) ? kNames[i] : "type " + std::to_string(i);
}

std::string ggml_type_name(uint32_t type) {
  // All ggml types up to BF16, so an unsupported but valid type gets a recognisable name.
  static const char* const kNames[] = {"F32",     "F16",    "Q4_0",    "Q4_1",  "Q4_2",   "Q4_3",  "Q5_0",  "Q5_1",
                                       "Q8_0",    "Q8_1",   "Q2_K",    "Q3_K",  "Q4_K",   "Q5_K",  "Q6_K",  "Q8_K",
                                       "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS",
                                       "I8",      "I16",    "I32",     "I64",   "F64",    "IQ1_M", "BF16"};
  return type < std::size(kNames) ? kNames[type] : "unknown ggml type " + std::to_string(type);
}

int64_t ggml_block_size(GgmlType type) { return type == GgmlType::Q8_0 ? kQK8_0 : 1; }

int64_t ggml_block_bytes(GgmlType type) {
  switch (type) {
    case GgmlType::F32:
      return 4;
    case GgmlType::F16:
    case GgmlType::BF16:
      return 2;
    case GgmlType::Q8_0:
      return static_cast<int64_t>(sizeof(BlockQ8_0));
  }
  throw InvalidArgument("unsupported ggml type " + std::to_string(static_cast<uint32_t>(type)));
}

std::optional<uint64_t> ggml_nbytes(GgmlType type, std::span<const int64_t> dims) {
  if (dims.empty()) return std::nullopt;
  const int64_t block = ggml_block_size(type);
  if (dims[0] < 0 || dims[0] % block != 0) return std::nullopt;
  unsigned __int128 total = static_cast<uint64_t>(ggml_block_bytes(type));
  total *= static_cast<uint64_t>(dims[0] / block);
  for (size_t i = 1; i < dims.size(); ++i) {
    if (dims[i] < 0) return std::nullopt;
    total *= static_cast<uint64_t>(dims[i]);
    if (total > static_cast<unsigned __int128>(INT64_MAX)) return std::nullopt;
  }
  if (total > static_cast<unsigned __int128>(INT64_MAX)) return std::nullopt;
  return static_cast<uint64_t>(total);
}

void dequantize_q8_0(const BlockQ8_0* blocks, float* out, int64_t n) {
  require(n % kQK8_0 == 0, "Q8_0 needs a multiple of 32 values, got " + std::to_string(n));
  for (int64_t b = 0; b < n / kQK8_0; ++b) {
    const float d = fp16_to_float(blocks[b].d);
    for (int64_t j = 0; j < kQK8_0; ++j) out[b * kQK8_0 + j] = d * static_cast<float>(blocks[b].qs[j]);
  }
}

GgufType GgufValue::element_type() const {
  const size_t i = data_.index();  // variant order follows the type codes, skipping ARRAY (9)
  return static_cast<GgufType>(i < 9 ? i : i + 1);
}

size_t GgufValue::size() const {
  return std::visit([](const auto& v) { return v.size(); }, data_);
}

void GgufValue::throw_type_mismatch(std::string_view key, const std::string& wanted) const {
  const std::string have = is_array() ? "an array of " + gguf_type_name(element_type()) : gguf_type_name(type());
  throw FormatError("GGUF metadata '" + std::string(key) + "' is " + have + ", expected " + wanted);
}

void save_gguf(const std::string& path, const std::vector<GgufKV>& metadata,
               const std::vector<GgufTensorRef>& tensors) {
  write_file_atomic(path, std::function<void(std::FILE*)>([&](std::FILE* f) {
                      write_gguf([&](const void* p, size_t n) { std::fwrite(p, 1, n, f); }, metadata, tensors);
                    }));
}

std::string gguf_to_bytes(const std::vector<GgufKV>& metadata, const std::vector<GgufTensorRef>& tensors) {
  std::string out;
  write_gguf([&](const void* p, size_t n) { out.append(static_cast<const char*>(p), n); }, metadata, tensors);
  return out;
}

int64_t GgufTensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

GgufFile::GgufFile(const std::string& path) : name_(path), map_(path) {
  base_ = map_.data();
  size_ = map_.size();
  parse();
}

GgufFile GgufFile::from_bytes(std::string bytes, const std::string& name) {
  GgufFile f;
  f.name_ = name;
  f.owned_ = std::make_shared<const std::string>(std::move(bytes));
  f.base_ = reinterpret_cast<const uint8_t*>(f.owned_->data());
  f.size_ = f.owned_->size();
  f.parse();
  return f;
}

void GgufFile::parse() {
  const std::string where = "GGUF file " + name_;
  Reader r(base_, size_, where);
  if (size_ < 24)
    throw FormatError(where + ": file is " + std::to_string(size_) + " bytes, too short for a GGUF header (24)");
  if (std::memcmp(base_, kMagic, 4) != 0) throw FormatError(where + ": bad magic (not a GGUF file)");
  r.pod<uint32_t>("the magic");
  const uint32_t version = r.pod<uint32_t>("the version");
  if (version != kVersion)
    throw FormatError(where + ": unsupported GGUF version " + std::to_string(version) + " (Nexus reads version 3)");
  const uint64_t tensor_count = r.pod<uint64_t>("the tensor count");
  const uint64_t kv_count = r.pod<uint64_t>("the metadata count");
  metadata_ = read_metadata(r, kv_count);
  alignment_ = reader_alignment(metadata_, where);
  // Smallest tensor description: 9 (name) + 4 (n_dims) + 8 (one dim) + 4 (type) + 8 (offset).
  if (tensor_count > r.remaining() / 33)
    r.fail("tensor count " + std::to_string(tensor_count) + " is more than the file can hold");
  std::set<std::string_view> names;
  for (uint64_t i = 0; i < tensor_count; ++i) tensors_.push_back(read_tensor_info(r, i, alignment_));
  for (const auto& t : tensors_)
    if (!names.insert(t.name).second) throw FormatError(where + ": tensor '" + t.name + "' appears twice");
  data_start_ = align_up(r.pos(), alignment_);
  if (data_start_ > size_)
    throw FormatError(where + ": file ends before the data section (at byte " + std::to_string(data_start_) + ")");
  check_layout(tensors_, size_ - data_start_, where);
}

const GgufValue* GgufFile::find(std::string_view key) const {
  for (const auto& kv : metadata_)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

const GgufValue& GgufFile::at(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) throw FormatError("GGUF file " + name_ + " has no metadata key '" + std::string(key) + "'");
  return *v;
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

const GgufTensorInfo& GgufFile::tensor(std::string_view name) const {
  const GgufTensorInfo* t = find_tensor(name);
  if (!t) throw FormatError("GGUF file " + name_ + " has no tensor '" + std::string(name) + "'");
  return *t;
}

std::span<const uint8_t> GgufFile::raw(const GgufTensorInfo& info) const {
  // Offsets were validated against the file in parse(); a foreign info is re-checked here.
  require(info.offset <= size_ - data_start_ && info.nbytes <= size_ - data_start_ - info.offset,
          "GGUF tensor '" + info.name + "' does not belong to " + name_);
  return {base_ + data_start_ + info.offset, static_cast<size_t>(info.nbytes)};
}

std::vector<float> GgufFile::to_f32(const GgufTensorInfo& info) const {
  std::vector<float> out(static_cast<size_t>(info.numel()));
  to_f32(info, out.data());
  return out;
}

void GgufFile::to_f32(const GgufTensorInfo& info, float* out) const {
  const std::span<const uint8_t> bytes = raw(info);
  const auto n = static_cast<size_t>(info.numel());
  // Data may be unaligned (general.alignment can be as small as 1): copy before converting.
  switch (info.type) {
    case GgmlType::F32:
      if (n) std::memcpy(out, bytes.data(), n * sizeof(float));
      break;
    case GgmlType::F16:
    case GgmlType::BF16: {
      constexpr size_t kChunk = 4096;  // bounded scratch, whatever the tensor size
      uint16_t bits[kChunk];
      for (size_t i = 0; i < n; i += kChunk) {
        const size_t m = std::min(kChunk, n - i);
        std::memcpy(bits, bytes.data() + i * sizeof(uint16_t), m * sizeof(uint16_t));
        if (info.type == GgmlType::F16)
          fp16_to_float_row(bits, out + i, static_cast<int64_t>(m));
        else
          bf16_to_float_row(bits, out + i, static_cast<int64_t>(m));
      }
      break;
    }
    case GgmlType::Q8_0: {
      BlockQ8_0 block;
      for (size_t b = 0; b < n / kQK8_0; ++b) {
        std::memcpy(&block, bytes.data() + b * sizeof(BlockQ8_0), sizeof(BlockQ8_0));
        dequantize_q8_0(&block, out + b * kQK8_0, kQK8_0);
      }
      break;
    }
  }
}

void GgufFile::release(const GgufTensorInfo& info, uint64_t offset, uint64_t bytes) const {
  if (map_.data() == nullptr || base_ != map_.data()) return;  // held in memory (from_bytes)
  const std::span<const uint8_t> all = raw(info);
  offset = std::min<uint64_t>(offset, all.size());
  bytes = std::min<uint64_t>(bytes, all.size() - offset);
  map_.release(static_cast<size_t>(all.data() - base_ + offset), static_cast<size_t>(bytes));
}

bool is_gguf_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  char magic[4] = {};
  const bool ok = std::fread(magic, 1, 4, f) == 4 && std::memcmp(magic, kMagic, 4) == 0;
  std::fclose(f);
  return ok;
}

}  // namespace nexus
