#pragma once
// Saving and loading model weights as safetensors under nanoGPT's state_dict names, so a
// PyTorch user can load them (tied lm_head.weight is stored once, as transformer.wte.weight).
//
// A model directory (a checkpoint) holds:
//   model.safetensors  the weights (F32)
//   config.json        {"model": GPTConfig fields, "train": TrainConfig fields, ...}
//   tokenizer.json     the tokenizer (tokenizer/tokenizer.h)
// Training adds trainer_state.safetensors (optimizer moments, step, RNG) for resume.
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "model/gpt.h"

namespace nexus {

/// File names inside a model directory.
inline constexpr const char* kModelFile = "model.safetensors";
inline constexpr const char* kConfigFile = "config.json";
inline constexpr const char* kTokenizerFile = "tokenizer.json";

/// The tensor table of a weights file, as check_weights_file compares it with a config.
struct StoredTensors {
  std::string path;                                    ///< the file, for messages
  std::map<std::string, std::vector<int64_t>> shapes;  ///< row-major shape by the file's name
  /// The file's name of a tensor given its nanoGPT name (the identity for safetensors).
  std::function<std::string(const std::string&)> name = [](const std::string& n) { return n; };
};

/// The tensor table of a safetensors file.
StoredTensors stored_tensors(const SafetensorsFile& file);

/// Checks that `stored` holds exactly the tensors `config` needs, each with its shape, before
/// anything sized by the config is allocated: a config.json edited to n_layer = 30000000 is
/// refused after looking at a few names, whatever it claims. The expected tensors are walked
/// one at a time and the walk ends at the first one the file lacks, so it never goes past
/// the file's own tensor count. Also accepted: lm_head.weight (the tied head, of the token
/// embedding's shape) and nanoGPT's ".attn.bias" mask buffers (any shape). FormatError naming
/// the file and the first mismatch (missing, misshapen or unexpected tensor).
void check_weights_file(const GPTConfig& config, const StoredTensors& stored);

/// Writes the weights of `model` to `path` (atomically).
void save_model_weights(const GPT& model, const std::string& path,
                        const std::map<std::string, std::string>& metadata = {});

/// Copies every parameter from `file` into `model`, checking the tensor table
/// (check_weights_file) and each dtype. FormatError on any mismatch.
void load_model_weights(GPT& model, const SafetensorsFile& file);

/// Returns `path` if it holds model.safetensors, else path/ckpt if that does; otherwise
/// throws IoError explaining what was looked for.
std::string resolve_model_dir(const std::string& path);

/// Reads the "model" object of DIR/config.json.
GPTConfig load_model_config(const std::string& dir);

}  // namespace nexus
