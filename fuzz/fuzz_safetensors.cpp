// libFuzzer: arbitrary bytes as a .safetensors file. Opening either succeeds or throws
// FormatError. An opened file's tensors must be exactly the bytes the header points at inside
// the file (checked against the input itself, not through the reader), sized by dtype and
// shape, in data order without overlap; f32() must hand out those bytes aligned; and what
// was read must write back (save_safetensors) and read again as the same tensors.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>

#include "core/error.h"
#include "fuzz_check.h"
#include "fuzz_file.h"
#include "io/safetensors.h"

namespace {

using nexus::fuzz::check;

// The tensors of `f` as written by save_safetensors, which must reproduce them.
void check_rewrite(const nexus::SafetensorsFile& f) {
  std::vector<nexus::TensorRef> refs;
  for (const std::string& name : f.names()) {
    const nexus::TensorInfo& ti = f.info(name);
    refs.push_back({name, ti.dtype, ti.shape, f.raw(name).data()});
  }
  const std::string path = (nexus::fuzz::scratch_dir() / "rewrite.safetensors").string();
  nexus::save_safetensors(path, refs, f.metadata());
  const nexus::SafetensorsFile again(path);
  check(again.names() == f.names() && again.metadata() == f.metadata());
  for (const std::string& name : f.names()) {
    check(again.info(name).dtype == f.info(name).dtype && again.info(name).shape == f.info(name).shape);
    const auto a = again.raw(name), b = f.raw(name);
    check(a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::optional<nexus::SafetensorsFile> f;
  try {
    f.emplace(nexus::fuzz::input_file(data, size));
  } catch (const nexus::FormatError&) {
    return 0;
  }
  uint64_t header = 0;  // the reader accepted the file, so the 8-byte length is there
  for (int i = 7; i >= 0; --i) header = (header << 8) | data[i];
  const uint64_t data_start = 8 + header;
  uint64_t prev_end = 0;
  for (const std::string& name : f->names()) {
    const nexus::TensorInfo& ti = f->info(name);
    check(f->has(name) && ti.begin >= prev_end && ti.begin <= ti.end && data_start + ti.end <= size);
    check(ti.nbytes() == static_cast<uint64_t>(ti.numel()) * nexus::dtype_size(ti.dtype));
    prev_end = ti.end;
    const auto raw = f->raw(name);
    check(raw.size() == ti.nbytes());
    check(raw.empty() || std::memcmp(raw.data(), data + data_start + ti.begin, raw.size()) == 0);
    if (ti.dtype != nexus::DType::F32) continue;
    const float* values = f->f32(name, ti.shape);
    check(reinterpret_cast<uintptr_t>(values) % alignof(float) == 0);
    check(raw.empty() || std::memcmp(values, raw.data(), raw.size()) == 0);
  }
  check_rewrite(*f);
  return 0;
}
