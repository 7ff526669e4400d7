// nexus sample: load a checkpoint and its tokenizer, print a continuation as it is produced.
// A thin alias of `nexus generate` for one prompt, kept for its simple flags: temperature and
// top-k only (no top-p / min-p), and the context slides when it fills, so --max-tokens may
// exceed the model's block size.
#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "core/error.h"
#include "infer/generate.h"
#include "tokenizer/tokenizer.h"

namespace nexus::cli {

namespace {
struct SampleCommand {
  std::string model;
  std::string prompt = "\n";
  std::string weights = "auto";
  int max_tokens = 256;
  float temperature = 0.8f;
  int top_k = 200;
  uint64_t seed = 1337;
  int threads = 0;
  bool no_escape = false;
};

void run_sample(const SampleCommand& cmd) {
  apply_threads(cmd.threads);
  GenerationParams params;
  params.max_tokens = cmd.max_tokens;
  params.sampler.temperature = cmd.temperature;
  params.sampler.top_k = cmd.top_k;
  params.sampler.top_p = 1.0f;
  params.sampler.min_p = 0.0f;
  params.sampler.seed = cmd.seed;
  params.overflow = OverflowPolicy::Slide;
  params.validate(1 << 30);  // flag errors before the model is loaded
  const std::string prompt_text = flag_text(cmd.prompt, cmd.no_escape);
  auto model = InferenceModel::load(cmd.model, {.weights = parse_weight_option(cmd.weights)});
  if (!model->tokenizer())
    throw IoError("the model '" + cmd.model + "' has no tokenizer (tokenizer.json, or a .gguf's vocabulary)");
  std::vector<int32_t> prompt = model->tokenizer()->encode(prompt_text);
  std::fwrite(prompt_text.data(), 1, prompt_text.size(), stdout);
  std::fflush(stdout);
  generate(model, std::move(prompt), params, [](int32_t, std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  });
  std::fputc('\n', stdout);
}
}  // namespace

void register_sample(CLI::App& app) {
  auto cmd = std::make_shared<SampleCommand>();
  CLI::App* sub = app.add_subcommand("sample", "Generate text from a trained model (see also: generate)");
  sub->add_option("--model", cmd->model, "model directory (a checkpoint, or a training --out directory) or .gguf file")
      ->required();
  sub->add_option("--prompt", cmd->prompt, std::string("text to continue") + kEscapesHelp)->capture_default_str();
  add_no_escape_flag(*sub, cmd->no_escape);
  sub->add_option("--max-tokens", cmd->max_tokens, "tokens to generate")->capture_default_str()->check(
      CLI::Range(0, 1000000000));
  sub->add_option("--temperature", cmd->temperature, "softmax temperature; 0 = greedy")->capture_default_str();
  sub->add_option("--top-k", cmd->top_k, "sample among the k most likely tokens; 0 = all")->capture_default_str();
  sub->add_option("--seed", cmd->seed, "random seed")->capture_default_str();
  add_weights_option(*sub, cmd->weights);
  add_threads_option(*sub, cmd->threads);
  sub->callback([cmd] { run_sample(*cmd); });
}

}  // namespace nexus::cli
