#include "infer/model.h"

#include <cstdio>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <new>

#include "core/error.h"
#include "core/kernels/linear.h"
#include "core/kernels/qlinear.h"
#include "core/memory.h"
#include "infer/gguf_model.h"
#include "io/gguf.h"
#include "io/mmap.h"
#include "io/safetensors.h"
#include "model/gpt.h"
#include "model/model_io.h"
#include "tokenizer/tokenizer.h"

namespace nexus {

namespace fs = std::filesystem;

WeightType parse_weight_type(const std::string& name) {
  if (name == "f32") return WeightType::F32;
  if (name == "bf16") return WeightType::BF16;
  if (name == "q8") return WeightType::Q8;
  throw InvalidArgument("unknown weight type '" + name + "' (expected f32, bf16 or q8)");
}

const char* to_string(WeightType type) {
  switch (type) {
    case WeightType::BF16: return "bf16";
    case WeightType::Q8: return "q8";
    default: return "f32";
  }
}

std::string describe_weight_memory(const InferenceModel& model) {
  const double total = model.weight_bytes() / 1e6, head = model.lm_head_bytes() / 1e6;
  char buf[200];
  if (model.lm_head_tied())
    std::snprintf(buf, sizeof buf, "%.1f MB (%s: %.1f MB of parameters + %.1f MB LM head packed from the tied embedding)",
                  total, to_string(model.weight_type()), total - head, head);
  else
    std::snprintf(buf, sizeof buf, "%.1f MB (%s, LM head %.1f MB)", total, to_string(model.weight_type()), head);
  return buf;
}

std::optional<WeightType> parse_weight_option(const std::string& name) {
  if (name == "auto") return std::nullopt;
  if (name == "f32" || name == "bf16" || name == "q8") return parse_weight_type(name);
  throw InvalidArgument("unknown weight type '" + name + "' (expected auto, f32, bf16 or q8)");
}

size_t WeightMatrix::bytes() const {
  switch (type) {
    case WeightType::BF16: return static_cast<const kernels::Bf16Matrix*>(data)->bytes();
    case WeightType::Q8: return static_cast<const kernels::Q8Matrix*>(data)->bytes();
    default: return static_cast<const kernels::F32Matrix*>(data)->bytes();
  }
}

void matmul(const WeightMatrix& w, const float* bias, const float* x, int M, float* y, bool accumulate) {
  if (M <= 0) return;
  switch (w.type) {
    case WeightType::BF16:
      return kernels::qlinear_forward(y, x, *static_cast<const kernels::Bf16Matrix*>(w.data), bias, M, accumulate);
    case WeightType::Q8:
      return kernels::qlinear_forward(y, x, *static_cast<const kernels::Q8Matrix*>(w.data), bias, M, accumulate);
    default:
      return kernels::qlinear_forward(y, x, *static_cast<const kernels::F32Matrix*>(w.data), bias, M, accumulate);
  }
}

InferenceModel::~InferenceModel() = default;

template <class Tensor, class Matrix>
void InferenceModel::bind(Tensor&& tensor, Matrix&& matrix) {
  const GPTConfig& c = config_;
  const int C = c.n_embd;
  // Biases only when the config has them.
  auto bias = [&](const std::string& name, int64_t n) { return c.bias ? tensor(name, {n}) : nullptr; };
  wte_ = tensor("transformer.wte.weight", {c.vocab_size, C});
  wpe_ = tensor("transformer.wpe.weight", {c.block_size, C});
  layers_.assign(c.n_layer, {});
  for (int l = 0; l < c.n_layer; l++) {
    const std::string p = "transformer.h." + std::to_string(l) + ".";
    LayerWeights& w = layers_[l];
    w.ln1w = tensor(p + "ln_1.weight", {C});
    w.ln1b = bias(p + "ln_1.bias", C);
    w.qkv = matrix(p + "attn.c_attn.weight", 3 * C, C);
    w.qkvb = bias(p + "attn.c_attn.bias", 3 * C);
    w.attproj = matrix(p + "attn.c_proj.weight", C, C);
    w.attprojb = bias(p + "attn.c_proj.bias", C);
    w.ln2w = tensor(p + "ln_2.weight", {C});
    w.ln2b = bias(p + "ln_2.bias", C);
    w.fc = matrix(p + "mlp.c_fc.weight", 4 * C, C);
    w.fcb = bias(p + "mlp.c_fc.bias", 4 * C);
    w.fcproj = matrix(p + "mlp.c_proj.weight", C, 4 * C);
    w.fcprojb = bias(p + "mlp.c_proj.bias", C);
  }
  lnfw_ = tensor("transformer.ln_f.weight", {C});
  lnfb_ = bias("transformer.ln_f.bias", C);
}

namespace {

// Floats of the tensors kept as f32 (embeddings, LayerNorms, biases): all but the matrices.
double f32_tensor_floats(const GPTConfig& c) {
  const double C = c.n_embd, L = c.n_layer, norms = c.bias ? 2 : 1;  // LayerNorm weight (+ bias)
  double floats = (double)c.vocab_size * C + (double)c.block_size * C + (2 * L + 1) * norms * C;
  if (c.bias) floats += L * (3 * C + C + 4 * C + C);  // Linear biases
  return floats;
}

}  // namespace

double InferenceModel::weight_bytes_needed(const GPTConfig& c, WeightType t) {
  const double C = c.n_embd;
  const double matrix_values = 12.0 * C * C * c.n_layer + (double)c.vocab_size * C;  // blocks + LM head
  const double bytes_per_value = t == WeightType::F32 ? 4.0 : t == WeightType::BF16 ? 2.0 : 34.0 / 32.0;
  return f32_tensor_floats(c) * sizeof(float) + matrix_values * bytes_per_value;
}

void InferenceModel::count_weight_bytes() {
  weight_bytes_ = (size_t)f32_tensor_floats(config_) * sizeof(float);
  for (const LayerWeights& w : layers_)
    for (const WeightMatrix* m : {&w.qkv, &w.attproj, &w.fc, &w.fcproj}) weight_bytes_ += m->bytes();
  weight_bytes_ += lm_head_.bytes();  // a repacked copy of the tied token embedding
}

WeightMatrix InferenceModel::hold(kernels::F32Matrix&& m) {
  f32_.push_back(std::make_unique<kernels::F32Matrix>(std::move(m)));
  return WeightMatrix{WeightType::F32, f32_.back().get(), f32_.back()->rows(), f32_.back()->cols()};
}

WeightMatrix InferenceModel::hold(kernels::Bf16Matrix&& m) {
  bf16_.push_back(std::make_unique<kernels::Bf16Matrix>(std::move(m)));
  return WeightMatrix{WeightType::BF16, bf16_.back().get(), bf16_.back()->rows(), bf16_.back()->cols()};
}

WeightMatrix InferenceModel::hold(kernels::Q8Matrix&& m) {
  q8_.push_back(std::make_unique<kernels::Q8Matrix>(std::move(m)));
  return WeightMatrix{WeightType::Q8, q8_.back().get(), q8_.back()->rows(), q8_.back()->cols()};
}

WeightMatrix InferenceModel::converted(const float* w, int rows, int cols, WeightType t) {
  if (t == WeightType::F32) return hold(kernels::F32Matrix::from_f32(w, rows, cols));
  if (t == WeightType::BF16) return hold(kernels::Bf16Matrix::from_f32(w, rows, cols));
  return hold(kernels::Q8Matrix::from_f32(w, rows, cols));
}

void InferenceModel::tie_lm_head(WeightType t) {
  // The token embedding stays f32 for lookups; the head is a repacked copy of it.
  lm_head_ = converted(wte_, config_.vocab_size, config_.n_embd, t);
  lm_head_tied_ = true;
}

// Anonymous memory advised to use transparent huge pages (2 MiB aligned), handed out front to
// back by take(). Reserved pages that are never taken cost no memory.
struct InferenceModel::HugePages {
  explicit HugePages(size_t floats) {
    constexpr size_t kHuge = 2u << 20;
    bytes = std::max<size_t>(floats * sizeof(float), 1);
    map_bytes = bytes + kHuge;
    void* p = ::mmap(nullptr, map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    base = p;
    data = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(p) + kHuge - 1) & ~(uintptr_t)(kHuge - 1));
    ::madvise(data, bytes, MADV_HUGEPAGE);  // advice only: plain pages if refused
  }
  ~HugePages() { ::munmap(base, map_bytes); }
  // The next n floats, 64-byte aligned.
  float* take(size_t n) {
    const size_t rounded = (n + 15) / 16 * 16;
    require(rounded <= bytes / sizeof(float) - used, "internal: huge-page weight buffer too small");
    float* p = data + used;
    used += rounded;
    return p;
  }
  void* base = nullptr;
  float* data = nullptr;
  size_t bytes = 0, map_bytes = 0, used = 0;
};

namespace {

// Reads n bytes at `offset` of fd into dst; IoError naming `path` on failure.
void read_at(int fd, uint64_t offset, void* dst, size_t n, const std::string& path) {
  auto* out = static_cast<char*>(dst);
  while (n > 0) {
    const ssize_t got = ::pread(fd, out, n, (off_t)offset);
    if (got <= 0) throw IoError("cannot read '" + path + "': " + (got < 0 ? std::strerror(errno) : "unexpected end"));
    out += got, offset += (uint64_t)got, n -= (size_t)got;
  }
}

// Start of the data section: after the 8-byte header length and the header.
uint64_t data_start(int fd, const std::string& path) {
  unsigned char b[8];
  read_at(fd, 0, b, 8, path);
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = (n << 8) | b[i];
  return 8 + n;
}

// A file descriptor closed when it goes out of scope (-1: none).
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// InvalidArgument when the model cannot be stored as t (8-bit blocks run along n_embd).
void check_weight_type(const GPTConfig& c, WeightType t) {
  if (t == WeightType::Q8 && c.n_embd % kernels::kQ8Block != 0)
    throw InvalidArgument("8-bit weights need n_embd divisible by " + std::to_string(kernels::kQ8Block) +
                          ", the model has n_embd=" + std::to_string(c.n_embd));
}

// Runs `convert`, which stores a file's matrix as the load's weight type. The InvalidArgument
// of an 8-bit conversion (non-finite or huge weights) gets the file and the tensor named:
// still InvalidArgument when the caller asked for the type (LoadOptions::weights), FormatError
// when the file's own storage called for it (a q8_0 file with such an f32 or f16 matrix).
template <class Convert>
auto naming_tensor(const std::string& file, const std::string& tensor, bool requested, Convert&& convert) {
  try {
    return convert();
  } catch (const InvalidArgument& e) {
    const std::string message = file + ": tensor '" + tensor + "': " + e.what();
    if (requested) throw InvalidArgument(message);
    throw FormatError(message);
  }
}

bool aligned_to(const void* p, size_t alignment) { return reinterpret_cast<uintptr_t>(p) % alignment == 0; }

// True for the GGUF names of the matrices (the Linear weights and the LM head).
bool is_gguf_matrix(const std::string& name) {
  return name == "output.weight" || name.ends_with(".attn_qkv.weight") || name.ends_with(".attn_output.weight") ||
         name.ends_with(".ffn_up.weight") || name.ends_with(".ffn_down.weight");
}

// Floats a GGUF load copies into owned memory (the f32 tensors gguf_f32 does not read in
// place; matrices are always repacked), each rounded up as HugePages::take does.
size_t gguf_owned_floats(const GgufFile& f, WeightType t, bool zero_copy) {
  size_t n = 0;
  for (const GgufTensorInfo& ti : f.tensors()) {
    const bool in_place = ti.type == GgmlType::F32 && zero_copy && aligned_to(f.raw(ti).data(), alignof(float));
    if (!in_place && !is_gguf_matrix(ti.name)) n += ((size_t)ti.numel() + 15) / 16 * 16;
  }
  return n;
}

}  // namespace

std::shared_ptr<const InferenceModel> InferenceModel::load(const std::string& path, LoadOptions options) {
  if (is_gguf_file(path)) return load_gguf(path, options);
  if (fs::is_regular_file(path))
    throw FormatError(path + " is neither a model directory nor a GGUF file (it does not start with \"GGUF\")");
  const std::string dir = resolve_model_dir(path);
  std::shared_ptr<InferenceModel> m(new InferenceModel());
  m->config_ = load_model_config(dir);
  const WeightType t = options.weights.value_or(WeightType::F32);
  check_weight_type(m->config_, t);
  auto file = std::make_unique<SafetensorsFile>((fs::path(dir) / kModelFile).string());
  // Nothing sized by config.json is allocated before it has been checked against the file.
  check_weights_file(m->config_, stored_tensors(*file));
  require_memory(weight_bytes_needed(m->config_, t), "the model " + dir);
  auto mapped = [&](const std::string& name, const std::vector<int64_t>& shape) {
    return file->f32(name, shape);  // checks the dtype
  };
  // Without mmap, the f32 tensors (not the matrices: those are repacked) are read with pread
  // into huge-page memory.
  Fd fd;
  uint64_t start = 0;
  if (!options.mmap) {
    const size_t C = m->config_.n_embd, matrices = 12 * C * C * m->config_.n_layer;  // repacked, not copied
    m->owned_ = std::make_unique<HugePages>(parameter_count(m->config_) - matrices + 16 * tensor_count(m->config_));
    fd.fd = ::open(file->path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd.fd < 0) throw IoError("cannot open '" + file->path() + "': " + std::strerror(errno));
    start = data_start(fd.fd, file->path());
  }
  auto tensor = [&](const std::string& name, const std::vector<int64_t>& shape) -> const float* {
    const float* src = mapped(name, shape);
    if (fd.fd < 0) return src;
    const TensorInfo& ti = file->info(name);
    float* dst = m->owned_->take(ti.nbytes() / sizeof(float));
    read_at(fd.fd, start + ti.begin, dst, ti.nbytes(), file->path());
    return dst;
  };
  // A matrix is read once from the map to be repacked, and its pages are then given back:
  // nothing reads them again.
  auto matrix = [&](const std::string& name, int rows, int cols) {
    const float* src = mapped(name, {rows, cols});
    const WeightMatrix w = naming_tensor(file->path(), name, options.weights.has_value(),
                                         [&] { return m->converted(src, rows, cols, t); });
    release_pages(src, (size_t)rows * cols * sizeof(float));
    return w;
  };
  m->bind(tensor, matrix);
  naming_tensor(file->path(), "transformer.wte.weight", options.weights.has_value(), [&] { m->tie_lm_head(t); });
  m->weight_type_ = t;
  m->count_weight_bytes();
  if (options.mmap) m->file_ = std::move(file);
  const fs::path tok = fs::path(dir) / kTokenizerFile;
  if (fs::exists(tok)) m->tokenizer_ = load_tokenizer(tok.string());
  return m;
}

const float* InferenceModel::gguf_f32(const GgufFile& f, const GgufTensorInfo& info, bool zero_copy) {
  const uint8_t* p = f.raw(info).data();
  if (info.type == GgmlType::F32 && zero_copy && aligned_to(p, alignof(float)))
    return reinterpret_cast<const float*>(p);
  const size_t n = (size_t)info.numel();
  float* dst = owned_->take(n);
  if (info.type != GgmlType::F32) {
    f.to_f32(info, dst);
    f.release(info);
    return dst;
  }
  // Copied 4 MB at a time, each slice's file pages given back at once: the source is never
  // resident beside the whole copy (the token embedding is the largest tensor).
  constexpr size_t kSlice = 1 << 20;
  for (size_t i = 0; i < n; i += kSlice) {
    const size_t m = std::min(kSlice, n - i);
    std::memcpy(dst + i, p + i * sizeof(float), m * sizeof(float));
    f.release(info, i * sizeof(float), m * sizeof(float));
  }
  return dst;
}

WeightMatrix InferenceModel::gguf_matrix(const GgufFile& f, const GgufTensorInfo& info, WeightType t, bool zero_copy) {
  const int rows = (int)info.dims[1], cols = (int)info.dims[0];
  const uint8_t* p = f.raw(info).data();
  WeightMatrix w;
  if (t == WeightType::Q8 && info.type == GgmlType::Q8_0) {
    w = hold(kernels::Q8Matrix::from_q8_0(p, rows, cols));  // the blocks as stored
  } else if (t == WeightType::BF16 && info.type == GgmlType::BF16 && aligned_to(p, alignof(uint16_t))) {
    w = hold(kernels::Bf16Matrix::from_bf16(reinterpret_cast<const uint16_t*>(p), rows, cols));
  } else {
    // Another type: converted from the exact f32 values (read in place when stored as f32).
    std::vector<float> values;
    const float* src = reinterpret_cast<const float*>(p);
    if (info.type != GgmlType::F32 || !aligned_to(p, alignof(float))) src = (values = f.to_f32(info)).data();
    w = converted(src, rows, cols, t);
  }
  f.release(info);
  return w;
}

std::shared_ptr<const InferenceModel> InferenceModel::load_gguf(const std::string& path, LoadOptions options) {
  auto file = std::make_unique<GgufFile>(path);
  const GgufFile& f = *file;
  std::shared_ptr<InferenceModel> m(new InferenceModel());
  m->config_ = gguf_config(f);
  const WeightType t = options.weights.value_or(gguf_stored_weight_type(f));
  check_weight_type(m->config_, t);
  check_gguf_tensors(f, m->config_);
  require_memory(weight_bytes_needed(m->config_, t), "the model " + path);
  m->owned_ = std::make_unique<HugePages>(gguf_owned_floats(f, t, options.mmap));
  // The tensor of nanoGPT name `name` (its shape was checked by check_gguf_tensors).
  auto info = [&](const std::string& name) -> const GgufTensorInfo& {
    return f.tensor(gguf_tensor_name(name));
  };
  // The head first, while little else is held (a converted matrix's file pages stay resident
  // until it is done): output.weight, or the token embedding when absent or (f32) identical.
  const GPTConfig& c = m->config_;
  const GgufTensorInfo* out = f.find_tensor(gguf_tensor_name("lm_head.weight"));
  const GgufTensorInfo& embd = info("transformer.wte.weight");
  bool tied = !out;
  if (out && t == WeightType::F32 && out->type == GgmlType::F32 && embd.type == GgmlType::F32 &&
      std::ranges::equal(f.raw(*out), f.raw(embd))) {
    f.release(*out);
    f.release(embd);
    tied = true;
  }
  const std::string where = "GGUF file " + f.path();
  const bool requested = options.weights.has_value();
  auto matrix = [&](const std::string& name, int /*rows*/, int /*cols*/) {  // shapes: check_gguf_tensors
    const GgufTensorInfo& ti = info(name);
    return naming_tensor(where, ti.name, requested, [&] { return m->gguf_matrix(f, ti, t, options.mmap); });
  };
  if (!tied) m->lm_head_ = matrix("lm_head.weight", c.vocab_size, c.n_embd);
  m->bind([&](const std::string& name, const std::vector<int64_t>&) {
            return m->gguf_f32(f, info(name), options.mmap);
          },
          matrix);
  if (tied) naming_tensor(where, embd.name, requested, [&] { m->tie_lm_head(t); });
  m->weight_type_ = t;
  m->count_weight_bytes();
  m->tokenizer_ = gguf_tokenizer(f, c.vocab_size);
  if (options.mmap) m->gguf_ = std::move(file);
  return m;
}

std::shared_ptr<const InferenceModel> InferenceModel::from_gpt(const GPT& gpt, WeightType weights) {
  std::shared_ptr<InferenceModel> m(new InferenceModel());
  m->config_ = gpt.config();
  check_weight_type(m->config_, weights);
  m->owned_ = std::make_unique<HugePages>(gpt.num_params());
  std::copy(gpt.params(), gpt.params() + gpt.num_params(), m->owned_->data);
  std::map<std::string, size_t> offsets;
  for (const NamedTensor& t : gpt.layout().named_tensors()) offsets[t.name] = t.offset;
  const float* base = m->owned_->data;
  auto tensor = [&](const std::string& name, const std::vector<int64_t>&) { return base + offsets.at(name); };
  // A repacked matrix's f32 copy is never read again: its pages are freed.
  auto matrix = [&](const std::string& name, int rows, int cols) {
    const float* src = base + offsets.at(name);
    const WeightMatrix w = m->converted(src, rows, cols, weights);
    release_pages(src, (size_t)rows * cols * sizeof(float));
    return w;
  };
  m->bind(tensor, matrix);
  m->tie_lm_head(weights);
  m->weight_type_ = weights;
  m->count_weight_bytes();
  return m;
}

}  // namespace nexus
