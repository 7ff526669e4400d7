#pragma once
// Saving and loading model weights as safetensors under nanoGPT's state_dict names, so a
// PyTorch user can load them (tied lm_head.weight is stored once, as transformer.wte.weight).
//
// A model directory (a checkpoint) holds:
//   model.safetensors  the weights (F32)
//   config.json        {"model": GPTConfig fields, "train": TrainConfig fields, ...}
//   tokenizer.json     the tokenizer (tokenizer/tokenizer.h)
// Training adds trainer_state.safetensors (optimizer moments, step, RNG) for resume.
#include <map>
#include <memory>
#include <string>

#include "io/safetensors.h"
#include "model/gpt.h"

namespace nexus {

/// File names inside a model directory.
inline constexpr const char* kModelFile = "model.safetensors";
inline constexpr const char* kConfigFile = "config.json";
inline constexpr const char* kTokenizerFile = "tokenizer.json";

/// Writes the weights of `model` to `path` (atomically).
void save_model_weights(const GPT& model, const std::string& path,
                        const std::map<std::string, std::string>& metadata = {});

/// Copies every parameter from `file` into `model`, checking dtype and shape. Accepts and
/// ignores lm_head.weight (tied) and attn.bias mask buffers; FormatError for a missing or
/// unexpected tensor.
void load_model_weights(GPT& model, const SafetensorsFile& file);

/// Returns `path` if it holds model.safetensors, else path/ckpt if that does; otherwise
/// throws IoError explaining what was looked for.
std::string resolve_model_dir(const std::string& path);

/// Reads the "model" object of DIR/config.json.
GPTConfig load_model_config(const std::string& dir);

/// Loads config and weights from a model directory (see resolve_model_dir).
std::unique_ptr<GPT> load_model(const std::string& path);

}  // namespace nexus
