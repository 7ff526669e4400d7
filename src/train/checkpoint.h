#pragma once
// Training checkpoints: a directory (model_io.h's layout) plus trainer_state.safetensors
// holding the AdamW moments ("adam.m", "adam.v", flat F32) and, in its metadata, the step,
// the data sampler's RNG state and the best validation loss, for an exact resume.
//
// Crash safety: everything is written into a sibling temporary directory first and then
// swapped with the old checkpoint in one atomic renameat2(RENAME_EXCHANGE), so a kill at
// any moment leaves either the old or the new checkpoint whole.
#include <cstdint>
#include <string>

#include "model/gpt.h"
#include "train/optimizer.h"
#include "train/train_config.h"

namespace nexus {

/// Trainer state stored beside the weights.
struct TrainerState {
  long step = 0;               // optimizer steps completed
  uint64_t rng_state = 0;      // batch sampler RNG after `step` steps
  float best_val_loss = 1e9f;  // best validation loss seen so far
};

/// Everything a checkpoint is written from.
struct CheckpointSource {
  const GPT& model;
  const AdamW& optimizer;
  const TrainConfig& train;
  const TrainerState& state;
  const std::string& tokenizer_json;  // contents of tokenizer.json
  const std::string& data_dir;        // recorded in config.json
};

/// Writes (or replaces) the checkpoint directory `dir` crash-safely.
void save_checkpoint(const std::string& dir, const CheckpointSource& source);

/// Throws IoError unless DIR holds a checkpoint to resume from (names the directory).
void require_checkpoint(const std::string& dir);

/// Throws InvalidArgument naming the first field in which `requested` changes the shape of
/// the checkpoint's model `saved` (every field but dropout, which a resumed run may change,
/// and vocab_size, which comes from the dataset).
void check_resume_architecture(const GPTConfig& saved, const GPTConfig& requested, const std::string& dir);

/// Throws InvalidArgument naming both unless `tokenizer_json` (the tokenizer.json of the dataset
/// in `data_dir`) is the tokenizer of the checkpoint DIR: same file, or the same JSON value.
/// A different tokenizer of the same size would silently give the ids other meanings.
void check_resume_tokenizer(const std::string& dir, const std::string& tokenizer_json, const std::string& data_dir);

/// Reads the train config stored in DIR/config.json.
TrainConfig load_checkpoint_train_config(const std::string& dir);

/// The dataset directory recorded in DIR/config.json, as it was given to the run ("" if none).
std::string load_checkpoint_data_dir(const std::string& dir);

/// Checks DIR's weights and optimizer state against `config` (the tensor tables: every
/// weight with its shape, adam.m and adam.v of parameter_count(config) floats) without
/// allocating anything sized by the config, so a damaged config.json cannot make the caller
/// build a model the files do not hold. FormatError naming the file and the first mismatch.
void check_checkpoint(const std::string& dir, const GPTConfig& config);

/// Loads weights and optimizer moments into `model` and `optimizer` (built from the
/// checkpoint's config) and returns the trainer state. FormatError on any mismatch.
TrainerState load_checkpoint(const std::string& dir, GPT& model, AdamW& optimizer);

}  // namespace nexus
