// GGUF names, the model config of a GGUF file, and export_gguf (see infer/gguf_model.h).
#include "infer/gguf_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <type_traits>
#include <variant>

#include "core/error.h"
#include "core/half.h"
#include "core/kernels/layernorm.h"
#include "core/kernels/qlinear.h"
#include "io/gguf.h"
#include "io/json_input.h"
#include "model/model_io.h"
#include "tokenizer/tokenizer.h"

namespace nexus {
namespace {

// llama.cpp's general.file_type (LLAMA_FTYPE_ALL_F32, _MOSTLY_F16, _MOSTLY_BF16, _MOSTLY_Q8_0).
uint32_t file_type(GgufExportType t) {
  switch (t) {
    case GgufExportType::F16: return 1;
    case GgufExportType::BF16: return 32;
    case GgufExportType::Q8_0: return 7;
    default: return 0;
  }
}

GgmlType ggml_type(GgufExportType t) {
  switch (t) {
    case GgufExportType::F16: return GgmlType::F16;
    case GgufExportType::BF16: return GgmlType::BF16;
    case GgufExportType::Q8_0: return GgmlType::Q8_0;
    default: return GgmlType::F32;
  }
}

// The exact f32 values of a matrix, whatever its storage: (rows, cols) row-major.
std::vector<float> matrix_values(const WeightMatrix& w) {
  std::vector<float> out((size_t)w.rows * w.cols);
  if (w.type == WeightType::BF16)
    static_cast<const kernels::Bf16Matrix*>(w.data)->to_f32(out.data());
  else if (w.type == WeightType::Q8)
    static_cast<const kernels::Q8Matrix*>(w.data)->to_f32(out.data());
  else
    static_cast<const kernels::F32Matrix*>(w.data)->to_f32(out.data());
  return out;
}

// Tensor bytes made for the writer; each buffer keeps its address while the store lives.
struct ByteStore {
  std::vector<std::vector<uint8_t>> buffers;
  uint8_t* make(size_t n) { return buffers.emplace_back(n).data(); }
};

// The bytes of matrix w as ggml type t: the model's own bits when it already holds t, else
// rounded with the one rule of each type (Bf16Matrix / Q8Matrix::from_f32, F16C rounding).
const void* encode_matrix(const WeightMatrix& w, GgufExportType t, ByteStore& store) {
  const size_t n = (size_t)w.rows * w.cols;
  if (t == GgufExportType::BF16 && w.type == WeightType::BF16) {
    uint8_t* out = store.make(n * 2);
    static_cast<const kernels::Bf16Matrix*>(w.data)->to_bf16(reinterpret_cast<uint16_t*>(out));
    return out;
  }
  if (t == GgufExportType::Q8_0 && w.type == WeightType::Q8) {
    uint8_t* out = store.make(n / kernels::kQ8Block * kernels::kQ8_0BlockBytes);
    static_cast<const kernels::Q8Matrix*>(w.data)->to_q8_0(out);
    return out;
  }
  const std::vector<float> v = matrix_values(w);
  switch (t) {
    case GgufExportType::F32: {
      uint8_t* out = store.make(n * 4);
      std::memcpy(out, v.data(), n * 4);
      return out;
    }
    case GgufExportType::F16: {
      uint8_t* out = store.make(n * 2);
      float_to_fp16_row(v.data(), reinterpret_cast<uint16_t*>(out), (int64_t)n);
      return out;
    }
    case GgufExportType::BF16: {
      uint8_t* out = store.make(n * 2);
      kernels::Bf16Matrix::from_f32(v.data(), w.rows, w.cols).to_bf16(reinterpret_cast<uint16_t*>(out));
      return out;
    }
    case GgufExportType::Q8_0: {
      uint8_t* out = store.make(n / kernels::kQ8Block * kernels::kQ8_0BlockBytes);
      kernels::Q8Matrix::from_f32(v.data(), w.rows, w.cols).to_q8_0(out);
      return out;
    }
  }
  return nullptr;
}

// The metadata of an exported model (keys in the file comment of gguf_model.h).
std::vector<GgufKV> export_metadata(const InferenceModel& model, GgufExportType type, const std::string& name) {
  const GPTConfig& c = model.config();
  const Tokenizer& tok = *model.tokenizer();
  GgufVocab v = gguf_vocab(tok, c.vocab_size);
  auto u32 = [](int x) { return GgufValue(static_cast<uint32_t>(x)); };
  std::vector<GgufKV> kv = {{"general.architecture", "gpt2"},
                            {"general.name", name},
                            {"general.file_type", file_type(type)}};
  if (type == GgufExportType::Q8_0) kv.emplace_back("general.quantization_version", uint32_t{2});
  const std::vector<GgufKV> rest = {
      {"general.alignment", uint32_t{32}},
      {"gpt2.context_length", u32(c.block_size)},
      {"gpt2.embedding_length", u32(c.n_embd)},
      {"gpt2.feed_forward_length", u32(4 * c.n_embd)},
      {"gpt2.block_count", u32(c.n_layer)},
      {"gpt2.attention.head_count", u32(c.n_head)},
      {"gpt2.attention.layer_norm_epsilon", kernels::kLayerNormEps},
      {"tokenizer.ggml.model", "gpt2"},
      {"tokenizer.ggml.pre", v.pre},
  };
  kv.insert(kv.end(), rest.begin(), rest.end());
  // The long arrays are moved in (an initializer list would copy them).
  kv.emplace_back("tokenizer.ggml.tokens", std::move(v.tokens));
  kv.emplace_back("tokenizer.ggml.token_type", std::move(v.token_type));
  kv.emplace_back("tokenizer.ggml.merges", std::move(v.merges));
  kv.emplace_back("tokenizer.ggml.add_bos_token", false);  // Nexus never prepends one
  if (v.eos) {
    kv.emplace_back("tokenizer.ggml.bos_token_id", *v.eos);
    kv.emplace_back("tokenizer.ggml.eos_token_id", *v.eos);
  }
  kv.emplace_back("nexus.config", to_json(c).dump());
  kv.emplace_back("nexus.bias", c.bias);
  kv.emplace_back("nexus.tokenizer", tok.serialize());
  return kv;
}

// An integer metadata value of any GGUF integer type, checked to lie in [lo, hi].
int64_t int_key(const GgufFile& f, const std::string& key, int64_t lo, int64_t hi) {
  const GgufValue& v = f.at(key);
  std::optional<int64_t> x;
  if (!v.is_array())
    std::visit(
        [&](const auto& values) {
          using T = typename std::decay_t<decltype(values)>::value_type;
          if constexpr (std::is_same_v<T, uint64_t>) {
            if (values[0] <= (uint64_t)INT64_MAX) x = (int64_t)values[0];
          } else if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
            x = (int64_t)values[0];
          }
        },
        v.storage());
  const std::string where = "GGUF file " + f.path() + ": metadata '" + key + "'";
  if (!x) throw FormatError(where + " is not an integer");
  if (*x < lo || *x > hi)
    throw FormatError(where + " is " + std::to_string(*x) + ", expected " + std::to_string(lo) + " to " +
                      std::to_string(hi));
  return *x;
}

// nexus.config, when present, must describe the same shape as the gpt2.* keys; returns it.
GPTConfig check_nexus_config(const GgufFile& f, const GPTConfig& c) {
  const std::string where = "GGUF file " + f.path() + ": nexus.config";
  const nlohmann::json j = parse_json(f.at("nexus.config").get<std::string>("nexus.config"), where);
  GPTConfig n;
  try {
    n = gpt_config_from_json(j);
  } catch (const Error& e) {
    throw FormatError(where + ": " + e.what());
  }
  if (n.block_size != c.block_size || n.vocab_size != c.vocab_size || n.n_layer != c.n_layer ||
      n.n_head != c.n_head || n.n_embd != c.n_embd || n.bias != c.bias)
    throw FormatError(where + " " + to_json(n).dump() + " disagrees with the gpt2.* keys and tensors " +
                      to_json(c).dump());
  return n;
}

}  // namespace

GgufExportType parse_gguf_export_type(const std::string& name) {
  if (name == "f32") return GgufExportType::F32;
  if (name == "f16") return GgufExportType::F16;
  if (name == "bf16") return GgufExportType::BF16;
  if (name == "q8_0" || name == "q8") return GgufExportType::Q8_0;
  throw InvalidArgument("unknown GGUF type '" + name + "' (expected f32, f16, bf16 or q8_0)");
}

const char* to_string(GgufExportType type) {
  switch (type) {
    case GgufExportType::F16: return "f16";
    case GgufExportType::BF16: return "bf16";
    case GgufExportType::Q8_0: return "q8_0";
    default: return "f32";
  }
}

WeightType export_load_type(GgufExportType type) {
  if (type == GgufExportType::BF16) return WeightType::BF16;
  if (type == GgufExportType::Q8_0) return WeightType::Q8;
  return WeightType::F32;
}

std::string gguf_tensor_name(const std::string& n) {
  static const std::map<std::string, std::string> kTop = {
      {"transformer.wte.weight", "token_embd.weight"}, {"transformer.wpe.weight", "position_embd.weight"},
      {"transformer.ln_f.weight", "output_norm.weight"}, {"transformer.ln_f.bias", "output_norm.bias"},
      {"lm_head.weight", "output.weight"}};
  static const std::map<std::string, std::string> kBlock = {
      {"ln_1.weight", "attn_norm.weight"},        {"ln_1.bias", "attn_norm.bias"},
      {"attn.c_attn.weight", "attn_qkv.weight"},  {"attn.c_attn.bias", "attn_qkv.bias"},
      {"attn.c_proj.weight", "attn_output.weight"}, {"attn.c_proj.bias", "attn_output.bias"},
      {"ln_2.weight", "ffn_norm.weight"},         {"ln_2.bias", "ffn_norm.bias"},
      {"mlp.c_fc.weight", "ffn_up.weight"},       {"mlp.c_fc.bias", "ffn_up.bias"},
      {"mlp.c_proj.weight", "ffn_down.weight"},   {"mlp.c_proj.bias", "ffn_down.bias"}};
  if (auto it = kTop.find(n); it != kTop.end()) return it->second;
  const std::string prefix = "transformer.h.";
  const size_t dot = n.find('.', prefix.size());
  if (n.rfind(prefix, 0) == 0 && dot != std::string::npos && dot > prefix.size()) {
    const std::string layer = n.substr(prefix.size(), dot - prefix.size());
    const auto it = kBlock.find(n.substr(dot + 1));
    if (it != kBlock.end() && std::all_of(layer.begin(), layer.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
      return "blk." + layer + "." + it->second;
  }
  throw InvalidArgument("no GGUF name for tensor '" + n + "'");
}

GPTConfig gguf_config(const GgufFile& f) {
  const std::string where = "GGUF file " + f.path();
  const GgufValue& arch = f.at("general.architecture");
  const std::string name = arch.type() == GgufType::STRING ? arch.get<std::string>() : "?";
  if (name != "gpt2")
    throw FormatError(where + ": general.architecture is '" + name + "'; Nexus reads GPT-2 models ('gpt2')");
  const GgufTensorInfo& embd = f.tensor("token_embd.weight");
  GPTConfig c;
  c.n_embd = (int)int_key(f, "gpt2.embedding_length", 1, 1 << 20);
  c.n_head = (int)int_key(f, "gpt2.attention.head_count", 1, c.n_embd);
  // Every block has a dozen tensors in the file, which bounds n_layer before anything is allocated.
  c.n_layer = (int)int_key(f, "gpt2.block_count", 1, (int64_t)f.tensors().size());
  c.block_size = (int)int_key(f, "gpt2.context_length", 1, 1 << 24);
  if (f.find("gpt2.attention.head_count_kv") && int_key(f, "gpt2.attention.head_count_kv", 1, c.n_head) != c.n_head)
    throw FormatError(where + ": grouped-query attention (head_count_kv != head_count) is not GPT-2");
  if (int_key(f, "gpt2.feed_forward_length", 1, INT32_MAX) != 4 * (int64_t)c.n_embd)
    throw FormatError(where + ": gpt2.feed_forward_length must be 4 * embedding_length (Nexus's MLP width)");
  const GgufValue& eps = f.at("gpt2.attention.layer_norm_epsilon");
  if (eps.type() != GgufType::FLOAT32 || std::fabs(eps.get<float>() - kernels::kLayerNormEps) > 1e-9f)
    throw FormatError(where + ": gpt2.attention.layer_norm_epsilon must be the FLOAT32 1e-5 Nexus's LayerNorm uses");
  if (embd.dims.size() != 2 || embd.dims[0] != c.n_embd || embd.dims[1] < 1 || embd.dims[1] > INT32_MAX)
    throw FormatError(where + ": token_embd.weight must have dims {embedding_length, vocab}, has " +
                      std::to_string(embd.dims.size()) + " dims");
  c.vocab_size = (int)embd.dims[1];
  c.dropout = 0.0f;
  if (const GgufValue* bias = f.find("nexus.bias")) {
    if (bias->type() != GgufType::BOOL) throw FormatError(where + ": nexus.bias is not a BOOL");
    c.bias = bias->get<bool>();
  }
  if (f.find("nexus.config")) c.dropout = check_nexus_config(f, c).dropout;
  try {
    c.validate();
  } catch (const Error& e) {
    throw FormatError(where + ": " + e.what());
  }
  return c;
}

void check_gguf_tensors(const GgufFile& f, const GPTConfig& config) {
  StoredTensors stored{"GGUF file " + f.path(), {}, gguf_tensor_name};
  for (const GgufTensorInfo& t : f.tensors())
    stored.shapes.emplace(t.name, std::vector<int64_t>(t.dims.rbegin(), t.dims.rend()));  // row-major
  GPTConfig with_biases = config;
  with_biases.bias = true;
  check_weights_file(with_biases, stored);
}

WeightType gguf_stored_weight_type(const GgufFile& f) {
  switch (f.tensor("blk.0.attn_qkv.weight").type) {
    case GgmlType::BF16: return WeightType::BF16;
    case GgmlType::Q8_0: return WeightType::Q8;
    default: return WeightType::F32;
  }
}

GgufExportStats export_gguf(const InferenceModel& model, GgufExportType type, const std::string& path,
                            const std::string& name) {
  const GPTConfig& c = model.config();
  require(model.tokenizer() != nullptr, "the model has no tokenizer.json: a GGUF file needs the vocabulary");
  require(type != GgufExportType::Q8_0 || c.n_embd % kernels::kQ8Block == 0,
          "q8_0 needs n_embd divisible by 32 (blocks run along the input features), the model has n_embd=" +
              std::to_string(c.n_embd));
  const std::vector<GgufKV> metadata = export_metadata(model, type, name);
  const int64_t C = c.n_embd;
  const std::vector<float> zeros(4 * C, 0.0f);  // every bias of a bias=false model
  ByteStore store;
  std::vector<GgufTensorRef> tensors;
  auto f32 = [&](const std::string& n, std::vector<int64_t> shape, const float* data) {
    tensors.push_back({gguf_tensor_name(n), std::vector<int64_t>(shape.rbegin(), shape.rend()), GgmlType::F32,
                       data ? data : zeros.data()});
  };
  auto matrix = [&](const std::string& n, const WeightMatrix& w) {
    tensors.push_back({gguf_tensor_name(n), {w.cols, w.rows}, ggml_type(type), encode_matrix(w, type, store)});
  };
  f32("transformer.wte.weight", {c.vocab_size, C}, model.wte());
  f32("transformer.wpe.weight", {c.block_size, C}, model.wpe());
  for (int l = 0; l < c.n_layer; l++) {
    const std::string p = "transformer.h." + std::to_string(l) + ".";
    const LayerWeights& w = model.layer(l);
    f32(p + "ln_1.weight", {C}, w.ln1w);
    f32(p + "ln_1.bias", {C}, w.ln1b);
    matrix(p + "attn.c_attn.weight", w.qkv);
    f32(p + "attn.c_attn.bias", {3 * C}, w.qkvb);
    matrix(p + "attn.c_proj.weight", w.attproj);
    f32(p + "attn.c_proj.bias", {C}, w.attprojb);
    f32(p + "ln_2.weight", {C}, w.ln2w);
    f32(p + "ln_2.bias", {C}, w.ln2b);
    matrix(p + "mlp.c_fc.weight", w.fc);
    f32(p + "mlp.c_fc.bias", {4 * C}, w.fcb);
    matrix(p + "mlp.c_proj.weight", w.fcproj);
    f32(p + "mlp.c_proj.bias", {C}, w.fcprojb);
  }
  f32("transformer.ln_f.weight", {C}, model.lnfw());
  f32("transformer.ln_f.bias", {C}, model.lnfb());
  matrix("lm_head.weight", model.lm_head());
  save_gguf(path, metadata, tensors);
  return {tensors.size(), (uint64_t)std::filesystem::file_size(path)};
}

}  // namespace nexus
