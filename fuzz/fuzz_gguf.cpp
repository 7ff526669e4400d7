// libFuzzer: arbitrary bytes as a GGUF file (GgufFile::from_bytes; the mapped constructor
// parses the same way). Parsing either succeeds or throws FormatError. A parsed file's
// tensors must lie inside the input (ASan watches the input's heap copy), sized by type and dims; every tensor must convert to
// floats (F32 bit-exactly); and what was read must write back (gguf_to_bytes) as a file that
// parses to the same metadata and tensors and writes back to the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>

#include "core/error.h"
#include "fuzz_check.h"
#include "io/gguf.h"

namespace {

using nexus::fuzz::check;

// The file as gguf_to_bytes writes what it holds.
std::string rewrite(const nexus::GgufFile& f) {
  std::vector<nexus::GgufTensorRef> refs;
  for (const nexus::GgufTensorInfo& t : f.tensors()) refs.push_back({t.name, t.dims, t.type, f.raw(t).data()});
  return nexus::gguf_to_bytes(f.metadata(), refs);
}

// from_bytes keeps the input in a heap string, so ASan reports any read of a tensor outside
// the input (raw bytes are read in full below and by the rewrite).
void check_tensor(const nexus::GgufFile& f, const nexus::GgufTensorInfo& t) {
  check(f.find_tensor(t.name) == &t && t.offset % f.alignment() == 0);
  check(nexus::ggml_nbytes(t.type, t.dims) == t.nbytes);
  const auto raw = f.raw(t);
  check(raw.size() == t.nbytes);
  const std::vector<float> values = f.to_f32(t);
  check(values.size() == static_cast<size_t>(t.numel()));
  if (t.type == nexus::GgmlType::F32) check(raw.empty() || std::memcmp(values.data(), raw.data(), raw.size()) == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::optional<nexus::GgufFile> f;
  try {
    f.emplace(nexus::GgufFile::from_bytes(std::string(reinterpret_cast<const char*>(data), size), "fuzz"));
  } catch (const nexus::FormatError&) {
    return 0;
  }
  check(f->alignment() != 0 && (f->alignment() & (f->alignment() - 1)) == 0);
  for (const auto& [key, value] : f->metadata()) check(f->find(key) == &value);
  for (const nexus::GgufTensorInfo& t : f->tensors()) check_tensor(*f, t);
  const std::string bytes = rewrite(*f);
  const nexus::GgufFile again = nexus::GgufFile::from_bytes(bytes, "rewrite");
  check(again.metadata().size() == f->metadata().size() && again.tensors().size() == f->tensors().size());
  for (size_t i = 0; i < f->tensors().size(); ++i) {
    const nexus::GgufTensorInfo &a = again.tensors()[i], &b = f->tensors()[i];
    check(a.name == b.name && a.dims == b.dims && a.type == b.type && a.nbytes == b.nbytes);
    check(a.nbytes == 0 || std::memcmp(again.raw(a).data(), f->raw(b).data(), a.nbytes) == 0);
  }
  check(rewrite(again) == bytes);
  return 0;
}
