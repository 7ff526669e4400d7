#pragma once
// Training hyper-parameters, named as nanoGPT's config keys. Fields are listed once in
// visit(); the CLI flags (--batch-size ...), the JSON config file, --help and the
// checkpoint's config.json all walk that list.
#include <nlohmann/json.hpp>
#include <string>

namespace nexus {

/// Learning-rate schedule after linear warmup.
enum class LrSchedule { Cosine, InverseSqrt, Constant };

/// Everything that controls a training run except the model shape (GPTConfig).
/// Defaults are nanoGPT's CPU recipe for shakespeare_char.
struct TrainConfig {
  int batch_size = 12;
  int max_iters = 2000;
  float learning_rate = 1e-3f;
  float min_lr = 1e-4f;
  int warmup_iters = 100;
  int lr_decay_iters = 2000;
  bool decay_lr = true;
  std::string lr_schedule = "cosine";  // cosine | inverse-sqrt
  float beta1 = 0.9f;
  float beta2 = 0.99f;
  float weight_decay = 0.1f;
  float grad_clip = 1.0f;  // 0 disables clipping
  int gradient_accumulation_steps = 1;
  int eval_interval = 250;
  int eval_iters = 20;
  int log_interval = 10;
  bool always_save_checkpoint = true;
  int seed = 1337;

  /// Calls v(name, field, help) for every field.
  template <class V>
  void visit(V&& v) {
    v("batch_size", batch_size, "sequences per micro-batch");
    v("max_iters", max_iters, "total optimizer steps");
    v("learning_rate", learning_rate, "peak learning rate");
    v("min_lr", min_lr, "learning rate at the end of the cosine decay");
    v("warmup_iters", warmup_iters, "linear warmup steps");
    v("lr_decay_iters", lr_decay_iters, "step at which the cosine decay reaches min_lr");
    v("decay_lr", decay_lr, "decay the learning rate (false = constant after warmup)");
    v("lr_schedule", lr_schedule, "decay after warmup: cosine or inverse-sqrt");
    v("beta1", beta1, "AdamW beta1");
    v("beta2", beta2, "AdamW beta2");
    v("weight_decay", weight_decay, "AdamW decoupled weight decay (2-D weights only)");
    v("grad_clip", grad_clip, "clip the global gradient norm to this (0 = off)");
    v("gradient_accumulation_steps", gradient_accumulation_steps, "micro-batches per optimizer step");
    v("eval_interval", eval_interval, "evaluate (and checkpoint) every N steps");
    v("eval_iters", eval_iters, "batches per split in each evaluation");
    v("log_interval", log_interval, "log a progress line and a metrics record every N steps");
    v("always_save_checkpoint", always_save_checkpoint, "save at every evaluation, not only when val loss improves");
    v("seed", seed, "seed of initialization, batch sampling and dropout");
  }
  template <class V>
  void visit(V&& v) const {
    const_cast<TrainConfig*>(this)->visit(std::forward<V>(v));
  }

  /// Throws InvalidArgument naming the first bad field.
  void validate() const;
  /// The parsed lr_schedule.
  LrSchedule schedule() const;
};

/// Learning rate at step `it` (nanoGPT's get_lr): warmup lr*(it+1)/(warmup+1); then
/// cosine from learning_rate to min_lr until lr_decay_iters (min_lr after), or
/// inverse-sqrt lr*sqrt(w/max(it,w)) with w = max(warmup_iters, 1); constant when !decay_lr.
float learning_rate_at(const TrainConfig& config, long it);

/// JSON object with every field.
nlohmann::json to_json(const TrainConfig& config);

/// Overrides the fields present in `j`; FormatError for a value its field's type cannot hold
/// (io/json_input.h).
void update_from_json(TrainConfig& config, const nlohmann::json& j);

}  // namespace nexus
