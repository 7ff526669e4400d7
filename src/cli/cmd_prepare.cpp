// nexus prepare: text file -> train.bin / val.bin / tokenizer.json / meta.json.
#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "train/data.h"

namespace nexus::cli {

namespace {
struct PrepareOptions {
  std::string input;
  std::string out;
  std::string tokenizer = "char";
  double val_fraction = 0.1;
};

void run_prepare(const PrepareOptions& o) {
  DatasetMeta meta = prepare_dataset(o.input, o.out, o.tokenizer, o.val_fraction);
  std::printf("prepared %s -> %s: %s tokenizer, vocab %d, %lld train / %lld val tokens (%s)\n", o.input.c_str(),
              o.out.c_str(), meta.tokenizer.c_str(), meta.vocab_size, (long long)meta.train_tokens,
              (long long)meta.val_tokens, meta.dtype.c_str());
  std::printf("bytes per token: train %.3f, val %.3f\n", double(meta.train_bytes) / double(meta.train_tokens),
              double(meta.val_bytes) / double(meta.val_tokens));
}
}  // namespace

void register_prepare(CLI::App& app) {
  auto opts = std::make_shared<PrepareOptions>();
  CLI::App* cmd = app.add_subcommand("prepare", "Tokenize a text file into a training dataset directory");
  cmd->add_option("--input", opts->input, "UTF-8 text file to tokenize")->required();
  cmd->add_option("--out", opts->out, "dataset directory to write (train.bin, val.bin, tokenizer.json, meta.json)")
      ->required();
  cmd->add_option("--tokenizer", opts->tokenizer,
                  "char (distinct characters of the text), byte (256 ids), bpe:N[:gpt2|gpt4|gpt4o] (train a "
                  "byte-level BPE of N ids on the training split; default pattern gpt4o), or PATH (a tokenizer.json, or a "
                  "directory with GPT-2's encoder.json + vocab.bpe)")
      ->capture_default_str();
  cmd->add_option("--val-fraction", opts->val_fraction, "fraction of tokens for validation (the end of the text)")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 0.999));
  cmd->callback([opts] { run_prepare(*opts); });
}

}  // namespace nexus::cli
