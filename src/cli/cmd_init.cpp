// nexus init: writes a randomly initialised model directory of any shape (GPT-2 init), so
// inference speed can be measured at e.g. GPT-2-small scale without downloading weights.
//
// The directory is a normal model directory (model.safetensors, config.json,
// tokenizer.json). Its tokenizer: --tokenizer PATH copies an existing one (a tokenizer.json,
// or a folder with GPT-2's encoder.json + vocab.bpe) whose vocabulary must fit the model's
// (without --vocab-size the model gets exactly the tokenizer's ids); otherwise a byte tokenizer when --vocab-size >= 256 (ids >= 256 then decode to no text),
// else a character tokenizer over the first vocab-size characters of "\n" + printable ASCII.
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.h"
#include "cli/config_flags.h"
#include "core/error.h"
#include "io/atomic_file.h"
#include "model/gpt.h"
#include "model/model_io.h"
#include "tokenizer/tokenizer.h"

namespace nexus::cli {

namespace {
namespace fs = std::filesystem;

struct InitCommand {
  ConfigFlags<GPTConfig> model_flags;
  std::string out;
  std::string tokenizer;
  uint64_t seed = 1337;
  bool force = false;
};

// The tokenizer of a new model (see the file comment).
std::unique_ptr<Tokenizer> init_tokenizer(const std::string& path, int vocab_size) {
  if (!path.empty()) {
    auto tok = load_tokenizer(path);
    require(tok->vocab_size() <= vocab_size, "the tokenizer at '" + path + "' has " +
                                                 std::to_string(tok->vocab_size()) + " ids, more than --vocab-size " +
                                                 std::to_string(vocab_size));
    return tok;
  }
  if (vocab_size >= 256) return make_tokenizer("byte", "");
  std::string chars = "\n";
  for (char ch = ' '; ch <= '~'; ch++) chars += ch;
  require(vocab_size <= (int)chars.size(), "--vocab-size " + std::to_string(vocab_size) +
                                               " needs --tokenizer (the built-in ones have 1..96 or >= 256 ids)");
  return make_tokenizer("char", chars.substr(0, vocab_size));
}

void run_init(const InitCommand& cmd) {
  GPTConfig config;
  cmd.model_flags.apply(config);
  config.validate();
  require(!cmd.out.empty(), "--out is required");
  if (fs::exists(fs::path(cmd.out) / kModelFile) && !cmd.force)
    throw InvalidArgument("'" + cmd.out + "' already holds a model; pass --overwrite to replace it");
  std::unique_ptr<Tokenizer> tokenizer;
  if (!cmd.tokenizer.empty() && !cmd.model_flags.given("vocab_size")) {
    tokenizer = load_tokenizer(cmd.tokenizer);
    config.vocab_size = tokenizer->vocab_size();
  } else {
    tokenizer = init_tokenizer(cmd.tokenizer, config.vocab_size);
  }
  GPT model(config);
  model.init_weights(cmd.seed);
  fs::create_directories(cmd.out);
  save_model_weights(model, (fs::path(cmd.out) / kModelFile).string());
  const nlohmann::json meta = {{"model", to_json(config)}, {"init", {{"seed", cmd.seed}}}};
  write_file_atomic((fs::path(cmd.out) / kConfigFile).string(), meta.dump(2) + "\n");
  save_tokenizer(*tokenizer, (fs::path(cmd.out) / kTokenizerFile).string());
  std::printf("wrote %s: %zu parameters (%.1f MB as f32 on disk), %s tokenizer with %d ids\n", cmd.out.c_str(),
              model.num_params(), model.num_params() * 4.0 / 1e6, tokenizer->kind().c_str(), tokenizer->vocab_size());
}
}  // namespace

void register_init(CLI::App& app) {
  auto cmd = std::make_shared<InitCommand>();
  CLI::App* sub = app.add_subcommand("init", "Write a randomly initialised model of any shape (for benchmarks)");
  GPTConfig defaults;
  cmd->model_flags.add(*sub, defaults, "Model", {"dropout"});
  sub->add_option("--out", cmd->out, "model directory to write")->required();
  sub->add_option("--tokenizer", cmd->tokenizer,
                  "tokenizer to store: a tokenizer.json or a folder with encoder.json + vocab.bpe "
                  "(sets --vocab-size unless given; default: byte tokenizer if vocab >= 256, else characters)");
  sub->add_option("--seed", cmd->seed, "random seed of the weights")->capture_default_str();
  sub->add_flag("--overwrite,--force", cmd->force, "replace a model already in --out (as train --overwrite)");
  sub->callback([cmd] { run_init(*cmd); });
}

}  // namespace nexus::cli
