#include "infer/model.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <new>
#include <set>

#include "core/error.h"
#include "core/kernels/linear.h"
#include "core/kernels/qlinear.h"
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

template <class Get>
void InferenceModel::bind(Get&& get) {
  const GPTConfig& c = config_;
  const int64_t C = c.n_embd;
  weight_bytes_ = 0;
  // Each tensor by name and expected shape; biases only when the config has them.
  auto tensor = [&](const std::string& name, std::vector<int64_t> shape) -> const float* {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    weight_bytes_ += (size_t)n * sizeof(float);
    return get(name, shape);
  };
  auto bias = [&](const std::string& name, int64_t n) { return c.bias ? tensor(name, {n}) : nullptr; };
  // Row-major f32 sources; convert() repacks them before any use.
  auto matrix = [&](const std::string& name, int rows, int cols) {
    return WeightMatrix{WeightType::F32, tensor(name, {rows, cols}), rows, cols};
  };
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
  lm_head_ = WeightMatrix{WeightType::F32, wte_, c.vocab_size, c.n_embd};  // tied
}

WeightMatrix InferenceModel::converted(const WeightMatrix& w, WeightType t) {
  const float* W = static_cast<const float*>(w.data);
  if (t == WeightType::F32) {
    f32_.push_back(std::make_unique<kernels::F32Matrix>(kernels::F32Matrix::from_f32(W, w.rows, w.cols)));
    return WeightMatrix{t, f32_.back().get(), w.rows, w.cols};
  }
  if (t == WeightType::BF16) {
    bf16_.push_back(std::make_unique<kernels::Bf16Matrix>(kernels::Bf16Matrix::from_f32(W, w.rows, w.cols)));
    return WeightMatrix{t, bf16_.back().get(), w.rows, w.cols};
  }
  q8_.push_back(std::make_unique<kernels::Q8Matrix>(kernels::Q8Matrix::from_f32(W, w.rows, w.cols)));
  return WeightMatrix{t, q8_.back().get(), w.rows, w.cols};
}

void InferenceModel::convert(WeightType t) {
  weight_type_ = t;
  const int C = config_.n_embd;
  if (t == WeightType::Q8 && C % kernels::kQ8Block != 0)
    throw InvalidArgument("8-bit weights need n_embd divisible by " + std::to_string(kernels::kQ8Block) +
                          ", the model has n_embd=" + std::to_string(C));
  // The row-major layer matrices are no longer read; the token embedding still is (lookups).
  for (LayerWeights& w : layers_)
    for (WeightMatrix* m : {&w.qkv, &w.attproj, &w.fc, &w.fcproj}) {
      weight_bytes_ -= (size_t)m->rows * m->cols * sizeof(float);  // the row-major source
      *m = converted(*m, t);
      weight_bytes_ += m->bytes();
    }
  lm_head_ = converted(lm_head_, t);
  weight_bytes_ += lm_head_.bytes();
}

// Anonymous memory advised to use transparent huge pages (2 MiB aligned).
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
  void* base = nullptr;
  float* data = nullptr;
  size_t bytes = 0, map_bytes = 0;
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

// Throws FormatError for a tensor the model does not use (the tied head and attention-mask
// buffers may be present, as in load_model_weights).
void check_unused(const SafetensorsFile& file, const std::set<std::string>& used) {
  for (const std::string& name : file.names()) {
    if (used.count(name) || name == "lm_head.weight") continue;
    if (name.size() > 10 && name.compare(name.size() - 10, 10, ".attn.bias") == 0) continue;
    throw FormatError(file.path() + ": unexpected tensor '" + name + "' (the file does not match the model config)");
  }
}

}  // namespace

std::shared_ptr<const InferenceModel> InferenceModel::load(const std::string& path, LoadOptions options) {
  const std::string dir = resolve_model_dir(path);
  std::shared_ptr<InferenceModel> m(new InferenceModel());
  m->config_ = load_model_config(dir);
  auto file = std::make_unique<SafetensorsFile>((fs::path(dir) / kModelFile).string());
  std::set<std::string> used;
  // Without mmap, tensors are read with pread into huge-page memory, 64-byte aligned each.
  const ParameterLayout layout(m->config_);
  int fd = -1;
  uint64_t start = 0, next = 0;
  if (!options.mmap) {
    m->owned_ = std::make_unique<HugePages>(layout.total() + 16 * layout.named_tensors().size());
    fd = ::open(file->path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw IoError("cannot open '" + file->path() + "': " + std::strerror(errno));
  }
  try {
    if (fd >= 0) start = data_start(fd, file->path());
    m->bind([&](const std::string& name, const std::vector<int64_t>& shape) {
      if (!file->has(name))
        throw FormatError(file->path() + ": missing tensor '" + name + "' (the file does not match the model config)");
      used.insert(name);
      const float* mapped = file->f32(name, shape);  // checks dtype and shape
      if (fd < 0) return mapped;
      const TensorInfo& ti = file->info(name);
      float* dst = m->owned_->data + next;
      read_at(fd, start + ti.begin, dst, ti.nbytes(), file->path());
      next += (ti.nbytes() / sizeof(float) + 15) / 16 * 16;
      return static_cast<const float*>(dst);
    });
    check_unused(*file, used);
    m->convert(options.weights);
  } catch (...) {
    if (fd >= 0) ::close(fd);
    throw;
  }
  if (fd >= 0) ::close(fd);
  if (options.mmap) m->file_ = std::move(file);
  const fs::path tok = fs::path(dir) / kTokenizerFile;
  if (fs::exists(tok)) m->tokenizer_ = load_tokenizer(tok.string());
  return m;
}

std::shared_ptr<const InferenceModel> InferenceModel::from_gpt(const GPT& gpt, WeightType weights) {
  std::shared_ptr<InferenceModel> m(new InferenceModel());
  m->config_ = gpt.config();
  m->owned_ = std::make_unique<HugePages>(gpt.num_params());
  std::copy(gpt.params(), gpt.params() + gpt.num_params(), m->owned_->data);
  std::map<std::string, size_t> offsets;
  for (const NamedTensor& t : gpt.layout().named_tensors()) offsets[t.name] = t.offset;
  const float* base = m->owned_->data;
  m->bind([&](const std::string& name, const std::vector<int64_t>&) { return base + offsets.at(name); });
  m->convert(weights);
  return m;
}

}  // namespace nexus
