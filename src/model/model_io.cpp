#include "model/model_io.h"

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

void load_model_weights(GPT& model, const SafetensorsFile& file) {
  std::set<std::string> expected;
  for (const NamedTensor& t : model.layout().named_tensors()) {
    if (!file.has(t.name))
      throw FormatError(file.path() + ": missing tensor '" + t.name + "' (the file does not match the model config)");
    const float* src = file.f32(t.name, t.shape);
    std::copy(src, src + t.count, model.params() + t.offset);
    expected.insert(t.name);
  }
  for (const std::string& name : file.names()) {
    if (expected.count(name) || name == "lm_head.weight") continue;
    if (name.size() > 10 && name.compare(name.size() - 10, 10, ".attn.bias") == 0) continue;
    throw FormatError(file.path() + ": unexpected tensor '" + name + "' (the file does not match the model config)");
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

std::unique_ptr<GPT> load_model(const std::string& path) {
  const std::string dir = resolve_model_dir(path);
  auto model = std::make_unique<GPT>(load_model_config(dir));
  SafetensorsFile file((fs::path(dir) / kModelFile).string());
  load_model_weights(*model, file);
  return model;
}

}  // namespace nexus
