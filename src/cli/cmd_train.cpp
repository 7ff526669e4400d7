// nexus train: parse flags (nanoGPT's keys with dashes), merge them over a config file and
// the checkpoint being resumed, run the trainer, show progress.
#include <signal.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
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
  bool overwrite = false;
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

// Ctrl-C (or SIGTERM, as a batch scheduler sends before it kills a job): the first asks the
// trainer to stop after the current step with a checkpoint; a second ends the process at once
// (the checkpoint on disk stays whole: saves are atomic swaps). Exit status 128 + the signal.
// The handler only sets a flag, writes a fixed line and calls _exit: all async-signal-safe.
volatile std::sig_atomic_t g_interrupts = 0;
volatile std::sig_atomic_t g_signal = SIGINT;
const char* g_first_message = "";
const char* g_second_message = "";

extern "C" void on_interrupt(int signal) {
  const char* m = g_interrupts ? g_second_message : g_first_message;
  ssize_t ignored = ::write(STDERR_FILENO, m, std::strlen(m));
  (void)ignored;
  if (g_interrupts) ::_exit(128 + signal);
  g_signal = signal;
  g_interrupts = 1;
}

// Installs on_interrupt for SIGINT and SIGTERM for the lifetime of a run, except for a signal
// that is ignored (a background job of a script without job control must stay immune to the
// terminal's Ctrl-C, as usual).
class InterruptHandler {
 public:
  InterruptHandler() {
    // On a terminal the line starts after the progress line (and the echoed ^C).
    static const char first[] =
        "\nnexus: interrupt: finishing this step and saving a checkpoint (Ctrl-C again to stop at once)\n";
    g_first_message = isatty(STDERR_FILENO) ? first : first + 1;
    g_second_message = "nexus: interrupted again: stopping now without saving; the last checkpoint is kept\n";
    struct sigaction action {};
    action.sa_handler = on_interrupt;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    for (int i = 0; i < 2; i++)
      if (::sigaction(kSignals[i], nullptr, &previous_[i]) == 0 && previous_[i].sa_handler != SIG_IGN)
        installed_[i] = ::sigaction(kSignals[i], &action, nullptr) == 0;
  }
  ~InterruptHandler() {
    for (int i = 0; i < 2; i++)
      if (installed_[i]) ::sigaction(kSignals[i], &previous_[i], nullptr);
  }
  InterruptHandler(const InterruptHandler&) = delete;
  InterruptHandler& operator=(const InterruptHandler&) = delete;

 private:
  static constexpr int kSignals[2] = {SIGINT, SIGTERM};
  struct sigaction previous_[2] {};
  bool installed_[2] = {false, false};
};

void run_train(TrainCommand& cmd) {
  apply_threads(cmd.threads);
  GPTConfig model = default_model();
  TrainConfig train;
  TrainPaths paths{cmd.data, cmd.out, cmd.resume, cmd.overwrite};
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
  // A resumed run without --data uses the dataset its checkpoint records (the trainer says so).
  if (cmd.data.empty() && !cmd.resume)
    throw InvalidArgument("--data DIR is required (a directory made by `nexus prepare`)");
  TrainObserver observer = make_observer();
  observer.stop_requested = [] { return g_interrupts != 0; };
  InterruptHandler interrupt_handler;
  const TrainSummary s = train_run(model, train, paths, observer);
  if (s.interrupted) {
    std::fprintf(stderr, "interrupted at step %ld: checkpoint saved to %s; continue with --resume\n", s.final_iter,
                 (std::filesystem::path(cmd.out) / "ckpt").string().c_str());
    throw ExitStatus{128 + (int)g_signal};
  }
  std::printf("trained %ld steps to step %ld: train loss %.4f, val loss %.4f | median %.1f ms/iter | %s | max RSS %.0f MB\n",
              s.steps_run, s.final_iter, s.final_train_loss, s.final_val_loss, s.median_ms_per_iter,
              format_duration(s.wall_s).c_str(), s.max_rss_mb);
}

}  // namespace

void register_train(CLI::App& app) {
  auto cmd = std::make_shared<TrainCommand>();
  CLI::App* sub = app.add_subcommand("train", "Train a GPT on a prepared dataset (nanoGPT's options, with dashes)");
  sub->add_option("--data", cmd->data,
                  "dataset directory made by `nexus prepare` (with --resume, default: the one the checkpoint records)")
      ->group("Run");
  sub->add_option("--out", cmd->out, "output directory: ckpt/ and metrics.jsonl")->capture_default_str()->group("Run");
  sub->add_option("--config", cmd->config_file, "JSON file of nanoGPT-style keys; flags override it")->group("Run");
  CLI::Option* resume = sub->add_flag("--resume", cmd->resume,
                                      "continue from OUT/ckpt (its settings and dataset, overridden by flags)")
                            ->group("Run");
  sub->add_flag("--overwrite", cmd->overwrite, "start afresh even if OUT holds a run, replacing its ckpt and metrics")
      ->excludes(resume)
      ->group("Run");
  add_threads_option(*sub, cmd->threads);
  cmd->model_flags.add(*sub, default_model(), "Model", {"vocab_size"});
  cmd->train_flags.add(*sub, TrainConfig{}, "Training");
  sub->callback([cmd] { run_train(*cmd); });
}

}  // namespace nexus::cli
