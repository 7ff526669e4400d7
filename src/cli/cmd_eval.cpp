// nexus eval perplexity: sliding-window perplexity and bits per byte of a text file
// (infer/perplexity.h), e.g. to compare checkpoints or weight precisions on the same text.
#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <unistd.h>

#include "cli/commands.h"
#include "core/error.h"
#include "infer/perplexity.h"
#include "io/atomic_file.h"
#include "tokenizer/tokenizer.h"

namespace nexus::cli {

namespace {
struct EvalCommand {
  std::string model, file, weights = "auto";
  int context = 0, stride = 0, threads = 0;
  long max_tokens = 0;
  bool json_only = false, no_mmap = false;
};

void run_perplexity(const EvalCommand& cmd) {
  apply_threads(cmd.threads);
  auto model = InferenceModel::load(cmd.model, {.mmap = !cmd.no_mmap, .weights = parse_weight_option(cmd.weights)});
  const Tokenizer* tok = model->tokenizer();
  if (!tok)
    throw IoError("the model '" + cmd.model + "' has no tokenizer (tokenizer.json, or a .gguf's vocabulary)");
  std::vector<int32_t> tokens = tok->encode(read_file(cmd.file));
  if (cmd.max_tokens > 0 && (long)tokens.size() > cmd.max_tokens) tokens.resize(cmd.max_tokens);
  std::vector<int> token_bytes(model->config().vocab_size, 0);
  for (int id = 0; id < std::min(tok->vocab_size(), model->config().vocab_size); id++)
    token_bytes[id] = (int)tok->decode_token(id).size();
  const auto t0 = std::chrono::steady_clock::now();
  const bool show = !cmd.json_only && isatty(fileno(stderr));
  auto last = t0;
  auto progress = [&](long done, long total) {
    const auto now = std::chrono::steady_clock::now();
    if (!show || (now - last < std::chrono::milliseconds(500) && done < total)) return;
    last = now;
    std::fprintf(stderr, "\rwindow %ld / %ld%s", done, total, done == total ? "\n" : "");
  };
  const PerplexityResult r = perplexity(model, tokens, cmd.context, cmd.stride, token_bytes, progress);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const int context = cmd.context ? cmd.context : model->config().block_size;
  const int stride = cmd.stride ? cmd.stride : std::max(1, context / 2);
  if (!cmd.json_only)
    std::printf("%s: %ld tokens scored in %ld windows (context %d, stride %d), %.1f s; weights %s\n"
                "perplexity %.4f   nll/token %.4f   bits/byte %.4f\n",
                cmd.file.c_str(), r.tokens, r.windows, context, stride, s, describe_weight_memory(*model).c_str(),
                r.perplexity(), r.nll / r.tokens, r.bits_per_byte());
  const nlohmann::json j = {{"eval", "perplexity"},
                            {"file", cmd.file},
                            {"weights", to_string(model->weight_type())},
                            {"weights_mb", model->weight_bytes() / 1e6},
                            {"tokens", r.tokens},
                            {"bytes", r.bytes},
                            {"windows", r.windows},
                            {"context", context},
                            {"stride", stride},
                            {"nll", r.nll},
                            {"perplexity", r.perplexity()},
                            {"bits_per_byte", r.bits_per_byte()},
                            {"seconds", s},
                            {"tok_per_s", s > 0 ? r.tokens / s : 0.0}};
  std::printf("%s\n", j.dump().c_str());
}
}  // namespace

void register_eval(CLI::App& app) {
  auto cmd = std::make_shared<EvalCommand>();
  CLI::App* eval = app.add_subcommand("eval", "Evaluate a model");
  eval->require_subcommand(1);
  CLI::App* ppl = eval->add_subcommand("perplexity", "Sliding-window perplexity and bits per byte of a text file");
  ppl->add_option("--model", cmd->model, "model directory (a checkpoint, or a training --out directory) or .gguf file")
      ->required();
  ppl->add_option("--file", cmd->file, "UTF-8 text to score")->required();
  ppl->add_option("--context", cmd->context, "window length in tokens (0 = the model's block size)")
      ->capture_default_str();
  ppl->add_option("--stride", cmd->stride, "tokens between window starts (0 = context / 2; = context: disjoint)")
      ->capture_default_str();
  ppl->add_option("--max-tokens", cmd->max_tokens, "score only the first N tokens (0 = all)")->capture_default_str();
  ppl->add_flag("--json", cmd->json_only, "print only the JSON line");
  ppl->add_flag("--no-mmap", cmd->no_mmap, "read the weights into (huge-page) memory instead of mapping the file");
  add_weights_option(*ppl, cmd->weights);
  add_threads_option(*ppl, cmd->threads);
  ppl->callback([cmd] { run_perplexity(*cmd); });
}

}  // namespace nexus::cli
