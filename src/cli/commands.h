#pragma once
// Each subcommand registers its flags and its action on the top-level app.
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "core/escapes.h"

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

/// Help text of a flag whose value may hold escapes (core/escapes.h).
inline constexpr const char* kEscapesHelp = R"( (reads \n \t \\ \" \xHH \uXXXX; see --no-escape))";

/// Adds --no-escape: take --prompt / --stop / --text values literally, backslashes included.
inline void add_no_escape_flag(CLI::App& cmd, bool& no_escape) {
  cmd.add_flag("--no-escape", no_escape, "take --prompt, --stop and --text values literally (no \\n escapes)");
}

/// The value of a text flag as the user meant it: escapes read unless --no-escape.
inline std::string flag_text(const std::string& raw, bool no_escape) {
  return no_escape ? raw : unescape_text(raw);
}
inline std::vector<std::string> flag_texts(const std::vector<std::string>& raw, bool no_escape) {
  std::vector<std::string> out;
  for (const std::string& r : raw) out.push_back(flag_text(r, no_escape));
  return out;
}

}  // namespace nexus::cli
