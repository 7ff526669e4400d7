#pragma once
// The training loop: batches from memory-mapped token files, forward/backward with
// gradient accumulation, clipping, AdamW, periodic evaluation, metrics.jsonl and
// crash-safe checkpoints. Output to the user goes through TrainObserver, so the library
// prints nothing itself.
#include <functional>
#include <string>

#include "model/config.h"
#include "train/train_config.h"

namespace nexus {

/// One logged optimizer step.
struct StepInfo {
  long iter = 0;          // step index (0-based) that just finished
  long max_iters = 0;
  float loss = 0;         // mean loss over the step's micro-batches
  float lr = 0;
  float grad_norm = 0;    // before clipping
  double ms = 0;          // wall time of this step
  double tok_per_s = 0;
  double eta_s = 0;       // estimated seconds to max_iters
};

/// One evaluation.
struct EvalInfo {
  long iter = 0;
  float train_loss = 0;
  float val_loss = 0;
};

/// Receives progress; every member may be left empty.
struct TrainObserver {
  std::function<void(const std::string&)> on_message;  // one-off lines (model size, resume, ...)
  std::function<void(const StepInfo&)> on_step;
  std::function<void(const EvalInfo&)> on_eval;
  std::function<void(const std::string& dir, long iter)> on_checkpoint;
};

/// Where a run reads and writes.
struct TrainPaths {
  std::string data_dir;  // holds train.bin, val.bin, meta.json, tokenizer.json
  std::string out_dir;   // receives ckpt/ and metrics.jsonl
  bool resume = false;   // continue from out_dir/ckpt
};

/// Result of a run.
struct TrainSummary {
  long steps_run = 0;
  long final_iter = 0;
  float final_train_loss = 0;
  float final_val_loss = 0;
  double median_ms_per_iter = 0;
  double wall_s = 0;
  double max_rss_mb = 0;
};

/// Trains `model_config` (vocab_size is taken from the dataset) with `train_config`.
/// With paths.resume, weights and state come from out_dir/ckpt: `model_config` must have the
/// checkpoint's shape (InvalidArgument otherwise) and only its dropout is used.
TrainSummary train_run(const GPTConfig& model_config, const TrainConfig& train_config, const TrainPaths& paths,
                   const TrainObserver& observer = {});

/// Peak resident memory of this process so far, in MiB.
double max_rss_mb();

}  // namespace nexus
