// nexus sample: load a checkpoint and its tokenizer, print a continuation as it is produced.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "infer/generate.h"
#include "model/model_io.h"
#include "tokenizer/tokenizer.h"

namespace nexus::cli {

namespace {
struct SampleCommand {
  std::string model;
  std::string prompt = "\n";
  SampleOptions options;
  int threads = 0;
};

void run_sample(const SampleCommand& cmd) {
  apply_threads(cmd.threads);
  validate(cmd.options);
  const std::string dir = resolve_model_dir(cmd.model);
  auto tokenizer = load_tokenizer((std::filesystem::path(dir) / kTokenizerFile).string());
  auto model = load_model(dir);
  const std::vector<int32_t> prompt = tokenizer->encode(cmd.prompt);
  std::fputs(cmd.prompt.c_str(), stdout);
  generate(*model, prompt, cmd.options, [&](int32_t id) {
    const std::string piece = tokenizer->decode_token(id);
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
  });
  std::fputc('\n', stdout);
}
}  // namespace

void register_sample(CLI::App& app) {
  auto cmd = std::make_shared<SampleCommand>();
  CLI::App* sub = app.add_subcommand("sample", "Generate text from a trained model");
  sub->add_option("--model", cmd->model, "model directory (a checkpoint, or a training --out directory)")->required();
  sub->add_option("--prompt", cmd->prompt, "text to continue")->capture_default_str();
  sub->add_option("--max-tokens", cmd->options.max_tokens, "tokens to generate")->capture_default_str()->check(
      CLI::NonNegativeNumber);
  sub->add_option("--temperature", cmd->options.temperature, "softmax temperature; 0 = greedy")->capture_default_str();
  sub->add_option("--top-k", cmd->options.top_k, "sample among the k most likely tokens; 0 = all")
      ->capture_default_str();
  sub->add_option("--seed", cmd->options.seed, "random seed")->capture_default_str();
  add_threads_option(*sub, cmd->threads);
  sub->callback([cmd] { run_sample(*cmd); });
}

}  // namespace nexus::cli
