#include "model/model_io.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "core/error.h"
#include "io/json_input.h"

namespace nexus {

namespace fs = std::filesystem;

void save_model_weights(const GPT& model, const std::string& path, const std::map<std::string, std::string>& metadata) {
  std::vector<TensorRef> refs;
  for (const NamedTensor& t : model.layout().named_tensors())
    refs.push_back({t.name, DType::F32, t.shape, model.params() + t.offset});
  auto meta = metadata;
  meta["format"] = "pt";  // what Hugging Face tooling expects for PyTorch-named weights
  save_safetensors(path, refs, meta);
}

StoredTensors stored_tensors(const SafetensorsFile& file) {
  StoredTensors stored{file.path(), {}};
  for (const std::string& name : file.names()) stored.shapes.emplace(name, file.info(name).shape);
  return stored;
}

void check_weights_file(const GPTConfig& config, const StoredTensors& stored) {
  const std::string where = stored.path + ": ";
  const std::string head = stored.name("lm_head.weight");
  // Tensors the model does not take: the tied head and nanoGPT's attention masks.
  auto extra = [&](const std::string& name) { return name == head || name.ends_with(".attn.bias"); };
  const auto held = std::count_if(stored.shapes.begin(), stored.shapes.end(),
                                  [&](const auto& t) { return !extra(t.first); });
  const std::string mismatch = " (the file does not match the model config: it holds " + std::to_string(held) +
                               " model tensors, the config needs " + std::to_string(tensor_count(config)) + ")";
  auto check_shape = [&](const std::string& name, const std::vector<int64_t>& have, const std::vector<int64_t>& want) {
    if (have != want)
      throw FormatError(where + "tensor '" + name + "' has shape " + shape_to_string(have) + ", expected " +
                        shape_to_string(want) + " from the model config");
  };
  std::set<std::string> used;
  visit_named_tensors(config, [&](const NamedTensor& t) {
    const std::string name = stored.name(t.name);
    const auto it = stored.shapes.find(name);
    if (it == stored.shapes.end()) throw FormatError(where + "missing tensor '" + name + "'" + mismatch);
    check_shape(name, it->second, t.shape);
    used.insert(name);
    return true;
  });
  for (const auto& [name, shape] : stored.shapes) {
    if (used.count(name)) continue;
    if (!extra(name)) throw FormatError(where + "unexpected tensor '" + name + "'" + mismatch);
    if (name == head) check_shape(name, shape, {config.vocab_size, config.n_embd});
  }
}

void load_model_weights(GPT& model, const SafetensorsFile& file) {
  check_weights_file(model.config(), stored_tensors(file));
  for (const NamedTensor& t : model.layout().named_tensors()) {
    const float* src = file.f32(t.name, t.shape);  // checks the dtype
    std::copy(src, src + t.count, model.params() + t.offset);
  }
}

std::string resolve_model_dir(const std::string& path) {
  if (fs::exists(fs::path(path) / kModelFile)) return path;
  fs::path nested = fs::path(path) / "ckpt";
  if (fs::exists(nested / kModelFile)) return nested.string();
  throw IoError("no model found at '" + path + "': expected " + kModelFile + " in it or in its ckpt/ folder");
}

GPTConfig load_model_config(const std::string& dir) {
  const std::string path = (fs::path(dir) / kConfigFile).string();
  const nlohmann::json j = read_json_file(path);
  if (!j.is_object() || !j.contains("model")) throw FormatError(path + ": no \"model\" object");
  try {
    return gpt_config_from_json(j.at("model"));
  } catch (const Error& e) {
    throw FormatError(path + ": " + e.what());
  }
}

}  // namespace nexus
