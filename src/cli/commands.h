#pragma once
// Each subcommand registers its flags and its action on the top-level app.
#include <CLI/CLI.hpp>
#include <string>

namespace nexus::cli {

void register_prepare(CLI::App& app);
void register_train(CLI::App& app);
void register_sample(CLI::App& app);
void register_bench(CLI::App& app);
void register_init(CLI::App& app);
void register_generate(CLI::App& app);
void register_eval(CLI::App& app);
void register_tokenizer(CLI::App& app);
void register_export(CLI::App& app);
void register_quantize(CLI::App& app);

/// Thrown by a command that has already printed its outcome and must end with this exit
/// status but no error line (an interrupted training run: 130, as a shell reports SIGINT).
struct ExitStatus {
  int code;
};

/// Adds --threads N bound to `threads`, defaulting to the cores available.
void add_threads_option(CLI::App& cmd, int& threads);

/// Applies a --threads value (<= 0 means all available cores).
void apply_threads(int threads);

/// Adds --weights auto|f32|bf16|q8 (storage of the Linear weights, see infer/model.h LoadOptions).
inline void add_weights_option(CLI::App& cmd, std::string& weights) {
  cmd.add_option("--weights", weights,
                 "weight precision: auto (as stored: f32 for a model directory, the file's own for a .gguf), "
                 "or f32, bf16, q8 (converted at load time)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "f32", "bf16", "q8"}));
}

}  // namespace nexus::cli
