#include "train/train_config.h"

#include <cmath>

#include "core/error.h"
#include "io/json_input.h"

namespace nexus {

void TrainConfig::validate() const {
  auto check = [](bool ok, const std::string& message) {
    if (!ok) throw InvalidArgument(message);
  };
  check(batch_size > 0, "batch_size must be positive");
  check(max_iters >= 0, "max_iters must not be negative");
  check(learning_rate > 0 && std::isfinite(learning_rate), "learning_rate must be positive");
  check(min_lr >= 0 && min_lr <= learning_rate, "min_lr must be in [0, learning_rate]");
  check(warmup_iters >= 0, "warmup_iters must not be negative");
  check(lr_decay_iters >= 0, "lr_decay_iters must not be negative");
  check(beta1 >= 0 && beta1 < 1, "beta1 must be in [0, 1)");
  check(beta2 >= 0 && beta2 < 1, "beta2 must be in [0, 1)");
  check(weight_decay >= 0, "weight_decay must not be negative");
  check(grad_clip >= 0, "grad_clip must not be negative (0 disables clipping)");
  check(gradient_accumulation_steps > 0, "gradient_accumulation_steps must be positive");
  check(eval_interval > 0, "eval_interval must be positive");
  check(eval_iters > 0, "eval_iters must be positive");
  check(log_interval > 0, "log_interval must be positive");
  schedule();
}

LrSchedule TrainConfig::schedule() const {
  if (lr_schedule == "cosine") return LrSchedule::Cosine;
  if (lr_schedule == "inverse-sqrt") return LrSchedule::InverseSqrt;
  throw InvalidArgument("lr_schedule must be 'cosine' or 'inverse-sqrt', got '" + lr_schedule + "'");
}

float learning_rate_at(const TrainConfig& c, long it) {
  const double lr = c.learning_rate;
  if (it < c.warmup_iters) return (float)(lr * (it + 1) / (c.warmup_iters + 1));
  if (!c.decay_lr) return (float)lr;
  if (c.schedule() == LrSchedule::InverseSqrt) {
    const double w = std::max(c.warmup_iters, 1);
    return (float)(lr * std::sqrt(w / std::max((double)it, w)));
  }
  if (it > c.lr_decay_iters) return c.min_lr;
  if (c.lr_decay_iters <= c.warmup_iters) return c.min_lr;
  const double ratio = (double)(it - c.warmup_iters) / (c.lr_decay_iters - c.warmup_iters);
  const double coeff = 0.5 * (1.0 + std::cos(M_PI * ratio));
  return (float)(c.min_lr + coeff * (lr - c.min_lr));
}

nlohmann::json to_json(const TrainConfig& config) {
  nlohmann::json j = nlohmann::json::object();
  config.visit([&](const char* name, const auto& field, const char*) { j[name] = field; });
  return j;
}

void update_from_json(TrainConfig& config, const nlohmann::json& j) {
  read_json_fields(config, j, "training config");
}

}  // namespace nexus
