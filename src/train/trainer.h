#pragma once
// The training loop: batches from memory-mapped token files, forward/backward with
// gradient accumulation, clipping, AdamW, periodic evaluation, metrics.jsonl and
// crash-safe checkpoints. Output to the user goes through TrainObserver, so the library
// prints nothing itself.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/config.h"
#include "train/train_config.h"

namespace nexus {

class GPT;
class AdamW;

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
  // Polled after every step: returning true ends the run there with a checkpoint and a
  // summary marked interrupted (a front end's Ctrl-C). Must be cheap.
  std::function<bool()> stop_requested;
};

/// Where a run reads and writes.
struct TrainPaths {
  std::string data_dir;    // holds train.bin, val.bin, meta.json, tokenizer.json; may be empty
                           // with resume: then the directory the checkpoint records is used
  std::string out_dir;     // receives ckpt/ and metrics.jsonl
  bool resume = false;     // continue from out_dir/ckpt
  bool overwrite = false;  // start afresh even if out_dir holds a run (its ckpt and metrics are replaced)
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
  bool interrupted = false;  // stopped early by stop_requested (final losses then 0); the
                             // checkpoint at final_iter is saved
};

/// Trains `model_config` (vocab_size is taken from the dataset) with `train_config`.
/// Without paths.resume or paths.overwrite an out_dir that already holds a run (ckpt/ or
/// metrics.jsonl) is refused (InvalidArgument). With paths.resume, weights and state come from
/// out_dir/ckpt: `model_config` must have the checkpoint's shape and the dataset its tokenizer
/// (InvalidArgument otherwise, before anything large is allocated); only dropout is used.
/// A step whose loss or gradient norm is not finite stops the run with NumericError before
/// that update is applied; the checkpoint on disk stays the last good one.
TrainSummary train_run(const GPTConfig& model_config, const TrainConfig& train_config, const TrainPaths& paths,
                   const TrainObserver& observer = {});

/// Fills x and y (batch * block ids each, row-major) with micro-batch `micro` of a step.
using MicroBatchFn = std::function<void(int micro, std::vector<int32_t>& x, std::vector<int32_t>& y)>;

/// Outcome of one train_step.
struct StepResult {
  float loss = 0;        // mean over the micro-batches
  float grad_norm = 0;   // of the averaged gradient, before clipping
  bool applied = false;  // false when loss or grad_norm is not finite: nothing was updated
};

/// The optimizer step of index `step` (0-based) as train_run takes it: zeroes the gradients,
/// runs forward and backward on config.gradient_accumulation_steps micro-batches of
/// config.batch_size sequences from next_batch (dropout masks seeded by config.seed, step and
/// micro-batch), averages their gradients, then applies AdamW with `lr` and the config's
/// hyper-parameters, unless the loss or the gradient norm is not finite. The averaged gradient
/// stays in model.grads().
StepResult train_step(GPT& model, AdamW& optimizer, const TrainConfig& config, float lr, long step,
                      const MicroBatchFn& next_batch);

/// Peak resident memory of this process so far, in MiB.
double max_rss_mb();

}  // namespace nexus
