#include "train/trainer.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
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
  std::string ckpt;  // out_dir/ckpt
  DatasetMeta meta;
  std::unique_ptr<TokenFile> train_file, val_file;
  std::unique_ptr<BatchSampler> train_sampler, val_sampler;
  std::unique_ptr<GPT> model;
  std::unique_ptr<AdamW> optimizer;
  TrainerState state;
  long saved_step = -1;  // step of the checkpoint on disk that belongs to this run (-1: none)
  Rng rng;
  std::string tokenizer_json;
};

// Shortest spelling of a loss or norm for messages: "nan", "inf", "3.25".
std::string fmt(float v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

// The error that ends a diverged run: the step, what was not finite, and what is kept.
NumericError diverged(const Run& run, const std::string& what) {
  const std::string kept = run.saved_step >= 0 ? "the last good checkpoint " + run.ckpt + " (step " +
                                                     std::to_string(run.saved_step) + ") is kept"
                                               : "no checkpoint was saved";
  return NumericError("step " + std::to_string(run.state.step) + ": " + what + "; stopping, " + kept +
                      " (a lower learning_rate may help)");
}

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

// Refuses to write over a run that is not being resumed, unless asked to.
void check_out_dir(const TrainPaths& paths) {
  if (paths.resume || paths.overwrite) return;
  for (const char* name : {"ckpt", "metrics.jsonl"}) {
    if (fs::exists(fs::path(paths.out_dir) / name))
      throw InvalidArgument(paths.out_dir + " already holds a training run (" + name +
                            "): pass --resume to continue it, or --overwrite to start afresh and replace it");
  }
}

// Without a data directory a resumed run uses the one its checkpoint records.
void resolve_data_dir(Run& run, const TrainObserver& obs) {
  if (!run.paths.data_dir.empty()) return;
  if (!run.paths.resume) throw InvalidArgument("no dataset directory given (one made by `nexus prepare`)");
  const std::string recorded = load_checkpoint_data_dir(run.ckpt);
  if (recorded.empty())
    throw InvalidArgument("cannot resume " + run.ckpt + " without --data: the checkpoint records no dataset");
  if (!fs::is_directory(recorded))
    throw IoError("cannot resume " + run.ckpt + " without --data: the dataset it was trained on, " + recorded +
                  ", is gone (pass --data DIR)");
  run.paths.data_dir = recorded;
  if (obs.on_message) obs.on_message("data: " + recorded + " (recorded in the checkpoint)");
}

void open_data(Run& run) {
  run.meta = load_dataset_meta(run.paths.data_dir);
  run.tokenizer_json = read_file((fs::path(run.paths.data_dir) / "tokenizer.json").string());
  run.train_file = std::make_unique<TokenFile>(open_split(run.paths.data_dir, run.meta, "train"));
  run.val_file = std::make_unique<TokenFile>(open_split(run.paths.data_dir, run.meta, "val"));
}

// Settles the model shape and checks the data against it, before anything large is allocated:
// on resume the checkpoint's shape, tokenizer and vocabulary must be the dataset's.
void plan_model(Run& run) {
  if (run.paths.resume) {
    // The shape is the checkpoint's; dropout is a training setting the caller may change.
    GPTConfig saved = load_model_config(run.ckpt);
    check_resume_architecture(saved, run.model_config, run.ckpt);
    check_resume_tokenizer(run.ckpt, run.tokenizer_json, run.paths.data_dir);
    saved.dropout = run.model_config.dropout;
    run.model_config = saved;
  }
  if (run.model_config.vocab_size != run.meta.vocab_size) {
    if (run.paths.resume)
      throw InvalidArgument("checkpoint vocab_size " + std::to_string(run.model_config.vocab_size) +
                            " does not match the dataset's " + std::to_string(run.meta.vocab_size));
    run.model_config.vocab_size = run.meta.vocab_size;
  }
  run.model_config.validate();
  // Nothing sized by the config is allocated before the checkpoint's files agree with it and
  // the machine has the memory.
  if (run.paths.resume) check_checkpoint(run.ckpt, run.model_config);
  require_memory(GPT::training_bytes_needed(run.model_config, run.config.batch_size, run.model_config.block_size),
                 "training this model (batch size " + std::to_string(run.config.batch_size) + ", block size " +
                     std::to_string(run.model_config.block_size) + ")");
  run.train_sampler = std::make_unique<BatchSampler>(*run.train_file, run.config.batch_size,
                                                     run.model_config.block_size, run.meta.vocab_size);
  run.val_sampler = std::make_unique<BatchSampler>(*run.val_file, run.config.batch_size, run.model_config.block_size,
                                                   run.meta.vocab_size);
}

void build_model(Run& run, const TrainObserver& obs) {
  run.model = std::make_unique<GPT>(run.model_config);
  run.optimizer = std::make_unique<AdamW>(run.model->layout());
  if (run.paths.resume) {
    run.state = load_checkpoint(run.ckpt, *run.model, *run.optimizer);
    run.saved_step = run.state.step;
    run.rng.state = run.state.rng_state;
    if (obs.on_message) obs.on_message("resumed from " + run.ckpt + " at step " + std::to_string(run.state.step));
    const TrainConfig& c = run.config;
    if (c.decay_lr && c.schedule() == LrSchedule::Cosine && c.max_iters > c.lr_decay_iters && obs.on_message)
      obs.on_message("note: max_iters " + std::to_string(c.max_iters) + " is past lr_decay_iters " +
                     std::to_string(c.lr_decay_iters) + ": the learning rate stays at min_lr " + fmt(c.min_lr) +
                     " from step " + std::to_string(c.lr_decay_iters) + " on, as in nanoGPT (raise lr_decay_iters "
                     "to stretch the decay)");
  } else {
    run.model->init_weights(splitmix64((uint64_t)run.config.seed));
    run.rng = Rng(splitmix64((uint64_t)run.config.seed + 1));
  }
}

void save(Run& run, const TrainObserver& obs) {
  run.state.rng_state = run.rng.state;
  save_checkpoint(run.ckpt,
                  {*run.model, *run.optimizer, run.config, run.state, run.tokenizer_json, run.paths.data_dir});
  run.saved_step = run.state.step;
  if (obs.on_checkpoint) obs.on_checkpoint(run.ckpt, run.state.step);
}

// Evaluates at the current step and logs it; a non-finite loss ends the run before any save.
EvalInfo evaluate(Run& run, MetricsLog& log, const TrainObserver& obs) {
  EvalInfo info;
  info.iter = run.state.step;
  info.train_loss = estimate_loss(run, *run.train_sampler, 0);
  info.val_loss = estimate_loss(run, *run.val_sampler, 1);
  if (!std::isfinite(info.train_loss) || !std::isfinite(info.val_loss))
    throw diverged(run, "evaluation loss is " + fmt(info.train_loss) + " (train) / " + fmt(info.val_loss) + " (val)");
  log.write({{"iter", info.iter}, {"train_loss", info.train_loss}, {"val_loss", info.val_loss}});
  if (obs.on_eval) obs.on_eval(info);
  return info;
}

// Runs evaluation at the current step and saves a checkpoint when due.
void evaluate_and_save(Run& run, MetricsLog& log, const TrainObserver& obs) {
  const EvalInfo info = evaluate(run, log, obs);
  const bool improved = info.val_loss < run.state.best_val_loss;
  if (improved) run.state.best_val_loss = info.val_loss;
  if (run.state.step > 0 && (improved || run.config.always_save_checkpoint)) save(run, obs);
}

// One step of the loop: trains, stops a diverged run, logs.
void run_step(Run& run, MetricsLog& log, const TrainObserver& obs, std::vector<double>& step_ms) {
  const TrainConfig& c = run.config;
  const float lr = learning_rate_at(c, run.state.step);
  const auto t0 = Clock::now();
  const StepResult r = train_step(*run.model, *run.optimizer, c, lr, run.state.step,
                                  [&](int, std::vector<int32_t>& x, std::vector<int32_t>& y) {
                                    run.train_sampler->sample(run.rng, x, y);
                                  });
  if (!r.applied)
    throw diverged(run, std::isfinite(r.loss) ? "gradient norm is " + fmt(r.grad_norm) + " (loss " + fmt(r.loss) + ")"
                                              : "loss is " + fmt(r.loss) + " (grad norm " + fmt(r.grad_norm) + ")");
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  step_ms.push_back(ms);
  run.state.step++;
  if ((run.state.step - 1) % c.log_interval == 0 || run.state.step == c.max_iters) {
    const double tokens_per_step = (double)c.batch_size * run.model_config.block_size * c.gradient_accumulation_steps;
    std::vector<double> recent(step_ms.end() - std::min<size_t>(step_ms.size(), 20), step_ms.end());
    std::nth_element(recent.begin(), recent.begin() + recent.size() / 2, recent.end());
    const double typical_ms = recent[recent.size() / 2];
    StepInfo info{run.state.step - 1, c.max_iters, r.loss, lr, r.grad_norm, ms, tokens_per_step / (ms / 1000.0),
                  typical_ms / 1000.0 * (c.max_iters - run.state.step)};
    log.write({{"iter", info.iter}, {"loss", info.loss}, {"lr", info.lr}, {"grad_norm", info.grad_norm},
               {"ms", info.ms}, {"tok_per_s", info.tok_per_s}});
    if (obs.on_step) obs.on_step(info);
  }
}

// Opens data, checks it and the checkpoint, and builds the model: everything before step one.
void prepare_run(Run& run, const TrainObserver& obs) {
  check_out_dir(run.paths);
  if (run.paths.resume) require_checkpoint(run.ckpt);
  resolve_data_dir(run, obs);
  open_data(run);
  plan_model(run);
  build_model(run, obs);
  ensure_directory(run.paths.out_dir);
  // A fresh run must not leave a previous run's checkpoint behind as if it were its own.
  if (!run.paths.resume && run.paths.overwrite) fs::remove_all(run.ckpt);
  if (obs.on_message)
    obs.on_message("model: " + std::to_string(run.model->num_params()) + " parameters, " +
                   std::to_string(run.model_config.n_layer) + " layers, " + std::to_string(run.model_config.n_embd) +
                   " wide; data: " + std::to_string(run.train_file->size()) + " train / " +
                   std::to_string(run.val_file->size()) + " val tokens");
}

}  // namespace

StepResult train_step(GPT& model, AdamW& optimizer, const TrainConfig& c, float lr, long step,
                      const MicroBatchFn& next_batch) {
  const int accum = c.gradient_accumulation_steps;
  const int block = model.config().block_size;
  std::vector<int32_t> x, y;
  model.zero_grad();
  double loss_sum = 0;
  for (int micro = 0; micro < accum; micro++) {
    next_batch(micro, x, y);
    require(x.size() == (size_t)c.batch_size * block && y.size() == x.size(),
            "train_step: a micro-batch must hold batch_size * block_size ids");
    ForwardOptions opt;
    opt.training = true;
    opt.dropout_seed = splitmix64(((uint64_t)c.seed << 32) ^ ((uint64_t)step * accum + micro));
    loss_sum += model.forward(x.data(), y.data(), c.batch_size, block, opt);
    model.backward();
  }
  // Each micro-batch's gradient is of its own mean loss; average them.
  if (accum > 1) kernels::scale_inplace(model.grads(), model.num_grads(), 1.0f / accum);
  StepResult r;
  r.loss = (float)(loss_sum / accum);
  if (!std::isfinite(r.loss)) {  // never update from a step whose loss is already lost
    r.grad_norm = (float)kernels::l2_norm(model.grads(), model.num_grads());
    return r;
  }
  r.grad_norm =
      optimizer.step(model.params(), model.grads(), lr, c.beta1, c.beta2, c.weight_decay, c.grad_clip, step + 1);
  r.applied = std::isfinite(r.grad_norm);  // AdamW applies nothing for a non-finite norm
  return r;
}

TrainSummary train_run(const GPTConfig& model_config, const TrainConfig& train_config, const TrainPaths& paths,
                       const TrainObserver& obs) {
  train_config.validate();
  Run run;
  run.model_config = model_config;
  run.config = train_config;
  run.paths = paths;
  run.ckpt = (fs::path(paths.out_dir) / "ckpt").string();
  prepare_run(run, obs);
  const TrainConfig& c = run.config;
  MetricsLog log((fs::path(paths.out_dir) / "metrics.jsonl").string(), paths.resume);

  TrainSummary summary;
  const auto start = Clock::now();
  std::vector<double> step_ms;
  while (run.state.step < c.max_iters && !summary.interrupted) {
    if (run.state.step % c.eval_interval == 0) evaluate_and_save(run, log, obs);
    run_step(run, log, obs, step_ms);
    summary.steps_run++;
    summary.interrupted = obs.stop_requested && obs.stop_requested();
  }
  if (!summary.interrupted) {
    // Final evaluation and checkpoint at max_iters (always saved, so a finished run can be sampled).
    const EvalInfo final_eval = evaluate(run, log, obs);
    run.state.best_val_loss = std::min(run.state.best_val_loss, final_eval.val_loss);
    summary.final_train_loss = final_eval.train_loss;
    summary.final_val_loss = final_eval.val_loss;
  }
  if (run.saved_step != run.state.step) save(run, obs);
  summary.final_iter = run.state.step;
  if (!step_ms.empty()) {
    std::nth_element(step_ms.begin(), step_ms.begin() + step_ms.size() / 2, step_ms.end());
    summary.median_ms_per_iter = step_ms[step_ms.size() / 2];
  }
  summary.wall_s = std::chrono::duration<double>(Clock::now() - start).count();
  summary.max_rss_mb = max_rss_mb();
  return summary;
}

}  // namespace nexus
