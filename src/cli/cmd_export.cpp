// nexus export / nexus quantize: a model (directory or .gguf) written as a GGUF file that
// llama.cpp's GPT-2 loader reads and every Nexus command loads back (infer/gguf_model.h).
// quantize is export with a low-precision type (bf16, or q8 = GGUF Q8_0), so that generation
// can load the small file without the f32 source.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "core/error.h"
#include "infer/gguf_model.h"
#include "tokenizer/tokenizer.h"

namespace nexus::cli {

namespace {

struct ExportCommand {
  std::string model, out, format = "gguf", type = "f32", name;
};

// general.name when --name is not given: the model's file or directory name.
std::string default_name(const std::string& model) {
  std::filesystem::path p = std::filesystem::absolute(model).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();  // "dir/"
  const std::string stem = p.stem().string();
  return stem.empty() ? "nexus" : stem;
}

void run_export(const ExportCommand& cmd) {
  if (cmd.format != "gguf") throw InvalidArgument("unknown export format '" + cmd.format + "' (expected gguf)");
  const GgufExportType type = parse_gguf_export_type(cmd.type);
  const auto t0 = std::chrono::steady_clock::now();
  // Loaded in the type written, so the matrices are converted (and their f32 pages given
  // back) one at a time and written as held.
  auto model = InferenceModel::load(cmd.model, {.mmap = true, .weights = export_load_type(type)});
  const std::string name = cmd.name.empty() ? default_name(cmd.model) : cmd.name;
  const GgufExportStats stats = export_gguf(*model, type, cmd.out, name);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("wrote %s: %zu tensors, %.2f MB, %s matrices, %s tokenizer (%d ids), %.2f s\n", cmd.out.c_str(),
              stats.tensors, stats.bytes / 1e6, to_string(type), model->tokenizer()->kind().c_str(),
              model->tokenizer()->vocab_size(), s);
}

// The flags export and quantize share.
CLI::App* add_common(CLI::App& app, const char* name, const char* help, ExportCommand& cmd) {
  CLI::App* sub = app.add_subcommand(name, help);
  sub->add_option("--model", cmd.model, "model directory (a checkpoint, or a training --out directory) or .gguf file")
      ->required();
  sub->add_option("--out", cmd.out, "GGUF file to write")->required();
  sub->add_option("--name", cmd.name, "general.name stored in the file (default: the model's name)");
  return sub;
}

}  // namespace

void register_export(CLI::App& app) {
  auto cmd = std::make_shared<ExportCommand>();
  CLI::App* sub = add_common(app, "export", "Write a model as a GGUF file (llama.cpp's GPT-2 layout)", *cmd);
  sub->add_option("--format", cmd->format, "file format")->capture_default_str();
  sub->add_option("--type", cmd->type, "storage of the matrices: f32, f16, bf16 or q8_0")->capture_default_str();
  sub->callback([cmd] { run_export(*cmd); });
}

void register_quantize(CLI::App& app) {
  auto cmd = std::make_shared<ExportCommand>();
  CLI::App* sub = add_common(app, "quantize", "Write a bf16 or 8-bit (Q8_0) GGUF file of a model", *cmd);
  sub->add_option("--type", cmd->type, "bf16 or q8")->required();
  sub->callback([cmd] {
    if (cmd->type != "bf16" && cmd->type != "q8" && cmd->type != "q8_0")
      throw InvalidArgument("quantize --type must be bf16 or q8, got '" + cmd->type + "' (export writes f32 and f16)");
    run_export(*cmd);
  });
}

}  // namespace nexus::cli
