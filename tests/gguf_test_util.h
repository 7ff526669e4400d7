#pragma once
// Helpers shared by the GGUF model tests (test_gguf_model.cpp, test_gguf_vocab.cpp): scratch
// directories, model directories, exports, and rewriting a GGUF file with edits.
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "infer/forward.h"
#include "infer/gguf_model.h"
#include "io/atomic_file.h"
#include "io/gguf.h"
#include "model/gpt.h"
#include "model/model_io.h"
#include "tokenizer/tokenizer.h"

namespace nexus::testutil {

/// A scratch directory, removed with its contents when the object goes.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& name)
      : path(std::filesystem::temp_directory_path() /
             ("nexus_test_gguf_" + std::to_string(::getpid()) + "_" + name)) {
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  /// Path of `name` inside the directory.
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

/// Writes a model directory (weights, config.json, tokenizer.json) as `nexus init` does.
inline std::string write_model_dir(const std::string& dir, const GPT& g, const Tokenizer& tok) {
  std::filesystem::create_directories(dir);
  save_model_weights(g, dir + "/" + kModelFile);
  write_file_atomic(dir + "/" + kConfigFile, nlohmann::json{{"model", to_json(g.config())}}.dump());
  save_tokenizer(tok, dir + "/" + kTokenizerFile);
  return dir;
}

/// Exports the model at `model` (a directory or GGUF) to `out` as `type`, as `nexus export` does.
inline std::string export_to(const std::string& model, GgufExportType type, const std::string& out) {
  auto m = InferenceModel::load(model, {.weights = export_load_type(type)});
  export_gguf(*m, type, out, "test");
  return out;
}

/// Logits (n, V) of every position of `tokens` through the engine in one prefill pass.
inline std::vector<float> engine_logits(std::shared_ptr<const InferenceModel> m, const std::vector<int32_t>& tokens) {
  ForwardPass pass(m);
  KVCache cache(m->config(), (int)tokens.size());
  ForwardChunk ch{&cache, 0, tokens.data(), (int)tokens.size(), RowKind::Prefill, false, true};
  const float* l = pass.run({&ch, 1});
  return std::vector<float>(l, l + tokens.size() * m->config().vocab_size);
}

/// Metadata and tensors of a GGUF file, to be edited and written back.
using GgufEdit = std::function<void(std::vector<GgufKV>&, std::vector<GgufTensorRef>&)>;

/// Writes `dst`: the file `src` with `edit` applied to its metadata and tensor list (tensor
/// data still points into `src`, or wherever the edit points it).
inline void rewrite_gguf(const std::string& src, const std::string& dst, const GgufEdit& edit) {
  const GgufFile f(src);
  std::vector<GgufKV> kv = f.metadata();
  std::vector<GgufTensorRef> tensors;
  for (const GgufTensorInfo& t : f.tensors()) tensors.push_back({t.name, t.dims, t.type, f.raw(t).data()});
  edit(kv, tensors);
  save_gguf(dst, kv, tensors);
}

/// Sets (or adds) a metadata value.
inline void set_kv(std::vector<GgufKV>& kv, const std::string& key, GgufValue value) {
  for (auto& [k, v] : kv)
    if (k == key) {
      v = std::move(value);
      return;
    }
  kv.emplace_back(key, std::move(value));
}

/// Removes every metadata key that starts with `prefix`.
inline void erase_kv(std::vector<GgufKV>& kv, const std::string& prefix) {
  std::erase_if(kv, [&](const GgufKV& e) { return e.first.rfind(prefix, 0) == 0; });
}

}  // namespace nexus::testutil
