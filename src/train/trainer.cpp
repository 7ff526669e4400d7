#include "train/trainer.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <vector>

#include "core/error.h"
#include "core/kernels/adamw.h"
#include "core/memory.h"
#include "core/rng.h"
#include "io/atomic_file.h"
#include "model/gpt.h"
#include "model/model_io.h"
#include "train/checkpoint.h"
#include "train/data.h"
#include "train/optimizer.h"

namespace nexus {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double max_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024.0;
}

namespace {

// Appends JSON lines to OUT/metrics.jsonl, flushing each so a killed run keeps its log.
class MetricsLog {
 public:
  explicit MetricsLog(const std::string& path, bool append) : out_(path, append ? std::ios::app : std::ios::trunc) {
    if (!out_) throw IoError("cannot open " + path + " for writing");
  }
  void write(const nlohmann::json& j) {
    out_ << j.dump() << '\n';
    out_.flush();
  }

 private:
  std::ofstream out_;
};

// Everything one run holds.
struct Run {
  GPTConfig model_config;
  TrainConfig config;
  TrainPaths paths;
  DatasetMeta meta;
  std::unique_ptr<TokenFile> train_file, val_file;
  std::unique_ptr<BatchSampler> train_sampler, val_sampler;
  std::unique_ptr<GPT> model;
  std::unique_ptr<AdamW> optimizer;
  TrainerState state;
  Rng rng;
  std::string tokenizer_json;
  std::vector<int32_t> x, y;
};

// Mean loss over eval_iters batches of one split, with its own RNG so evaluation never
// changes the training batch stream (and resume stays exact).
float estimate_loss(Run& run, const BatchSampler& sampler, int split_id) {
  Rng rng(splitmix64((uint64_t)run.config.seed * 1000003ull + (uint64_t)run.state.step * 2 + split_id));
  double sum = 0;
  std::vector<int32_t> x, y;
  for (int k = 0; k < run.config.eval_iters; k++) {
    sampler.sample(rng, x, y);
    sum += run.model->forward(x.data(), y.data(), sampler.batch(), sampler.block());
  }
  return (float)(sum / run.config.eval_iters);
}

void open_data(Run& run) {
  run.meta = load_dataset_meta(run.paths.data_dir);
  run.tokenizer_json = read_file((fs::path(run.paths.data_dir) / "tokenizer.json").string());
  run.train_file = std::make_unique<TokenFile>(open_split(run.paths.data_dir, run.meta, "train"));
  run.val_file = std::make_unique<TokenFile>(open_split(run.paths.data_dir, run.meta, "val"));
}

void build_model(Run& run, const TrainObserver& obs) {
  const std::string ckpt = (fs::path(run.paths.out_dir) / "ckpt").string();
  if (run.paths.resume) {
    require_checkpoint(ckpt);
    // The shape is the checkpoint's; dropout is a training setting the caller may change.
    GPTConfig saved = load_model_config(ckpt);
    check_resume_architecture(saved, run.model_config, ckpt);
    saved.dropout = run.model_config.dropout;
    run.model_config = saved;
  }
  if (run.model_config.vocab_size != run.meta.vocab_size) {
    if (run.paths.resume)
      throw InvalidArgument("checkpoint vocab_size " + std::to_string(run.model_config.vocab_size) +
                            " does not match the dataset's " + std::to_string(run.meta.vocab_size));
    run.model_config.vocab_size = run.meta.vocab_size;
  }
  // Nothing sized by the config is allocated before the checkpoint's files agree with it and
  // the machine has the memory.
  if (run.paths.resume) check_checkpoint(ckpt, run.model_config);
  require_memory(GPT::training_bytes_needed(run.model_config, run.config.batch_size, run.model_config.block_size),
                 "training this model (batch size " + std::to_string(run.config.batch_size) + ", block size " +
                     std::to_string(run.model_config.block_size) + ")");
  run.model = std::make_unique<GPT>(run.model_config);
  run.optimizer = std::make_unique<AdamW>(run.model->layout());
  if (run.paths.resume) {
    run.state = load_checkpoint(ckpt, *run.model, *run.optimizer);
    run.rng.state = run.state.rng_state;
    if (obs.on_message) obs.on_message("resumed from " + ckpt + " at step " + std::to_string(run.state.step));
  } else {
    run.model->init_weights(splitmix64((uint64_t)run.config.seed));
    run.rng = Rng(splitmix64((uint64_t)run.config.seed + 1));
  }
  run.train_sampler = std::make_unique<BatchSampler>(*run.train_file, run.config.batch_size,
                                                     run.model_config.block_size, run.meta.vocab_size);
  run.val_sampler = std::make_unique<BatchSampler>(*run.val_file, run.config.batch_size, run.model_config.block_size,
                                                   run.meta.vocab_size);
}

void save(Run& run, const TrainObserver& obs) {
  const std::string ckpt = (fs::path(run.paths.out_dir) / "ckpt").string();
  run.state.rng_state = run.rng.state;
  save_checkpoint(ckpt, {*run.model, *run.optimizer, run.config, run.state, run.tokenizer_json, run.paths.data_dir});
  if (obs.on_checkpoint) obs.on_checkpoint(ckpt, run.state.step);
}

// One optimizer step over gradient_accumulation_steps micro-batches. Returns the mean loss.
float train_step(Run& run, float lr, float* grad_norm) {
  const TrainConfig& c = run.config;
  const int accum = c.gradient_accumulation_steps;
  GPT& model = *run.model;
  model.zero_grad();
  double loss_sum = 0;
  for (int micro = 0; micro < accum; micro++) {
    run.train_sampler->sample(run.rng, run.x, run.y);
    ForwardOptions opt;
    opt.training = true;
    opt.dropout_seed = splitmix64(((uint64_t)c.seed << 32) ^ ((uint64_t)run.state.step * accum + micro));
    loss_sum += model.forward(run.x.data(), run.y.data(), c.batch_size, run.model_config.block_size, opt);
    model.backward();
  }
  // Each micro-batch's gradient is of its own mean loss; average them.
  if (accum > 1) kernels::scale_inplace(model.grads(), model.num_grads(), 1.0f / accum);
  *grad_norm = run.optimizer->step(model.params(), model.grads(), lr, c.beta1, c.beta2, c.weight_decay, c.grad_clip,
                                   run.state.step + 1);
  return (float)(loss_sum / accum);
}

// Runs evaluation at the current step, logs it and saves a checkpoint when due.
void evaluate_and_save(Run& run, MetricsLog& log, const TrainObserver& obs, bool force_save) {
  EvalInfo info;
  info.iter = run.state.step;
  info.train_loss = estimate_loss(run, *run.train_sampler, 0);
  info.val_loss = estimate_loss(run, *run.val_sampler, 1);
  log.write({{"iter", info.iter}, {"train_loss", info.train_loss}, {"val_loss", info.val_loss}});
  if (obs.on_eval) obs.on_eval(info);
  const bool improved = info.val_loss < run.state.best_val_loss;
  if (improved) run.state.best_val_loss = info.val_loss;
  if (run.state.step > 0 && (improved || run.config.always_save_checkpoint || force_save)) save(run, obs);
}

}  // namespace

TrainSummary train_run(const GPTConfig& model_config, const TrainConfig& train_config, const TrainPaths& paths,
                   const TrainObserver& obs) {
  train_config.validate();
  Run run;
  run.model_config = model_config;
  run.config = train_config;
  run.paths = paths;
  open_data(run);
  ensure_directory(paths.out_dir);
  build_model(run, obs);
  const TrainConfig& c = run.config;
  if (obs.on_message)
    obs.on_message("model: " + std::to_string(run.model->num_params()) + " parameters, " +
                   std::to_string(run.model_config.n_layer) + " layers, " + std::to_string(run.model_config.n_embd) +
                   " wide; data: " + std::to_string(run.train_file->size()) + " train / " +
                   std::to_string(run.val_file->size()) + " val tokens");
  MetricsLog log((fs::path(paths.out_dir) / "metrics.jsonl").string(), paths.resume);

  TrainSummary summary;
  const auto start = Clock::now();
  std::vector<double> step_ms;
  const double tokens_per_step = (double)c.batch_size * run.model_config.block_size * c.gradient_accumulation_steps;
  while (run.state.step < c.max_iters) {
    if (run.state.step % c.eval_interval == 0) evaluate_and_save(run, log, obs, false);
    const float lr = learning_rate_at(c, run.state.step);
    const auto t0 = Clock::now();
    float grad_norm = 0;
    const float loss = train_step(run, lr, &grad_norm);
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    step_ms.push_back(ms);
    run.state.step++;
    summary.steps_run++;
    if ((run.state.step - 1) % c.log_interval == 0 || run.state.step == c.max_iters) {
      std::vector<double> recent(step_ms.end() - std::min<size_t>(step_ms.size(), 20), step_ms.end());
      std::nth_element(recent.begin(), recent.begin() + recent.size() / 2, recent.end());
      const double typical_ms = recent[recent.size() / 2];
      StepInfo info{run.state.step - 1, c.max_iters, loss, lr, grad_norm, ms, tokens_per_step / (ms / 1000.0),
                    typical_ms / 1000.0 * (c.max_iters - run.state.step)};
      log.write({{"iter", info.iter}, {"loss", info.loss}, {"lr", info.lr}, {"grad_norm", info.grad_norm},
                 {"ms", info.ms}, {"tok_per_s", info.tok_per_s}});
      if (obs.on_step) obs.on_step(info);
    }
  }
  // Final evaluation and checkpoint at max_iters (always saved, so a finished run can be sampled).
  EvalInfo final_eval;
  {
    final_eval.iter = run.state.step;
    final_eval.train_loss = estimate_loss(run, *run.train_sampler, 0);
    final_eval.val_loss = estimate_loss(run, *run.val_sampler, 1);
    log.write({{"iter", final_eval.iter}, {"train_loss", final_eval.train_loss}, {"val_loss", final_eval.val_loss}});
    if (obs.on_eval) obs.on_eval(final_eval);
    run.state.best_val_loss = std::min(run.state.best_val_loss, final_eval.val_loss);
    if (summary.steps_run > 0 || !fs::exists(fs::path(paths.out_dir) / "ckpt")) save(run, obs);
  }
  summary.final_iter = run.state.step;
  summary.final_train_loss = final_eval.train_loss;
  summary.final_val_loss = final_eval.val_loss;
  if (!step_ms.empty()) {
    std::nth_element(step_ms.begin(), step_ms.begin() + step_ms.size() / 2, step_ms.end());
    summary.median_ms_per_iter = step_ms[step_ms.size() / 2];
  }
  summary.wall_s = std::chrono::duration<double>(Clock::now() - start).count();
  summary.max_rss_mb = max_rss_mb();
  return summary;
}

}  // namespace nexus
