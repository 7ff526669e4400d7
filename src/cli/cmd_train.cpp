// nexus train: parse flags (nanoGPT's keys with dashes), merge them over a config file and
// the checkpoint being resumed, run the trainer, show progress.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/config_flags.h"
#include "core/error.h"
#include "io/json_input.h"
#include "model/model_io.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

namespace nexus::cli {

namespace {

struct TrainCommand {
  std::string data;
  std::string out = "out";
  std::string config_file;
  bool resume = false;
  int threads = 0;
  ConfigFlags<GPTConfig> model_flags;
  ConfigFlags<TrainConfig> train_flags;
};

// nanoGPT's CPU recipe for shakespeare_char: the default model.
GPTConfig default_model() {
  GPTConfig c;
  c.n_layer = 4, c.n_head = 4, c.n_embd = 128, c.block_size = 64, c.dropout = 0.0f, c.bias = true;
  return c;
}

std::string format_duration(double seconds) {
  long s = (long)(seconds + 0.5);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

// Applies a flat nanoGPT-style JSON config file: model keys and training keys together.
void apply_config_file(const std::string& path, GPTConfig& model, TrainConfig& train) {
  const nlohmann::json j = read_json_file(path);
  if (!j.is_object()) throw FormatError(path + ": the config must be a JSON object");
  nlohmann::json model_part = nlohmann::json::object(), train_part = nlohmann::json::object();
  nlohmann::json model_keys = to_json(model), train_keys = to_json(train);
  for (auto& [key, value] : j.items()) {
    if (model_keys.contains(key)) model_part[key] = value;
    else if (train_keys.contains(key)) train_part[key] = value;
    else throw FormatError(path + ": unknown config key '" + key + "'");
  }
  try {
    for (auto& [key, value] : model_part.items()) model_keys[key] = value;
    model = gpt_config_from_json(model_keys);
    update_from_json(train, train_part);
  } catch (const Error& e) {
    throw FormatError(path + ": " + e.what());
  }
}

TrainObserver make_observer() {
  const bool tty = isatty(fileno(stderr));
  TrainObserver obs;
  obs.on_message = [](const std::string& m) { std::fprintf(stderr, "%s\n", m.c_str()); };
  obs.on_step = [tty](const StepInfo& s) {
    std::fprintf(stderr, "%siter %5ld/%ld | loss %.4f | lr %.2e | %7.1f ms/iter | %6.1fk tok/s | ETA %s%s",
                 tty ? "\r\033[K" : "", s.iter + 1, s.max_iters, s.loss, s.lr, s.ms, s.tok_per_s / 1000.0,
                 format_duration(s.eta_s).c_str(), tty ? "" : "\n");
    std::fflush(stderr);
  };
  obs.on_eval = [tty](const EvalInfo& e) {
    std::fprintf(stderr, "%sstep %ld: train loss %.4f, val loss %.4f\n", tty ? "\r\033[K" : "", e.iter, e.train_loss,
                 e.val_loss);
  };
  obs.on_checkpoint = [](const std::string& dir, long iter) {
    std::fprintf(stderr, "saved checkpoint %s (step %ld)\n", dir.c_str(), iter);
  };
  return obs;
}

void run_train(TrainCommand& cmd) {
  apply_threads(cmd.threads);
  GPTConfig model = default_model();
  TrainConfig train;
  TrainPaths paths{cmd.data, cmd.out, cmd.resume};
  if (cmd.resume) {
    // Start from the checkpoint's settings; flags that change its architecture are rejected by the trainer.
    const std::string ckpt = (std::filesystem::path(cmd.out) / "ckpt").string();
    require_checkpoint(ckpt);
    model = load_model_config(ckpt);
    train = load_checkpoint_train_config(ckpt);
  }
  if (!cmd.config_file.empty()) apply_config_file(cmd.config_file, model, train);
  cmd.model_flags.apply(model);
  cmd.train_flags.apply(train);
  model.validate();
  train.validate();
  if (cmd.data.empty()) throw InvalidArgument("--data DIR is required (a directory made by `nexus prepare`)");
  TrainSummary s = train_run(model, train, paths, make_observer());
  std::printf("trained %ld steps to step %ld: train loss %.4f, val loss %.4f | median %.1f ms/iter | %s | max RSS %.0f MB\n",
              s.steps_run, s.final_iter, s.final_train_loss, s.final_val_loss, s.median_ms_per_iter,
              format_duration(s.wall_s).c_str(), s.max_rss_mb);
}

}  // namespace

void register_train(CLI::App& app) {
  auto cmd = std::make_shared<TrainCommand>();
  CLI::App* sub = app.add_subcommand("train", "Train a GPT on a prepared dataset (nanoGPT's options, with dashes)");
  sub->add_option("--data", cmd->data, "dataset directory made by `nexus prepare`")->group("Run");
  sub->add_option("--out", cmd->out, "output directory: ckpt/ and metrics.jsonl")->capture_default_str()->group("Run");
  sub->add_option("--config", cmd->config_file, "JSON file of nanoGPT-style keys; flags override it")->group("Run");
  sub->add_flag("--resume", cmd->resume, "continue from OUT/ckpt (its settings, overridden by flags)")->group("Run");
  add_threads_option(*sub, cmd->threads);
  cmd->model_flags.add(*sub, default_model(), "Model", {"vocab_size"});
  cmd->train_flags.add(*sub, TrainConfig{}, "Training");
  sub->callback([cmd] { run_train(*cmd); });
}

}  // namespace nexus::cli
