// nexus tokenizer train | encode | decode: byte-level BPE from the command line.
#include <cctype>
#include <climits>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"
#include "io/atomic_file.h"
#include "tokenizer/bpe.h"
#include "tokenizer/bpe_train.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/tokenizer.h"

namespace nexus::cli {

namespace {

struct TokenizerCommand {
  std::vector<std::string> inputs;
  std::string out;
  int vocab_size = 0;
  std::string pattern = split_pattern_name(kDefaultSplitPattern);
  std::vector<std::string> special_tokens;
  std::string tokenizer;
  std::string text;
  bool no_escape = false;
  std::string file;
  bool allow_special = false;
  std::vector<std::string> ids;
  int threads = 0;
};

std::string read_stdin() {
  std::string data;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0) data.append(buf, n);
  if (std::ferror(stdin)) throw IoError("cannot read standard input");
  return data;
}

void run_train(const TokenizerCommand& c) {
  apply_threads(c.threads);
  std::vector<std::string> texts;
  std::vector<std::string_view> views;
  size_t bytes = 0;
  for (const std::string& path : c.inputs) {
    texts.push_back(read_file(path));
    bytes += texts.back().size();
  }
  for (const std::string& t : texts) views.emplace_back(t);
  require(bytes > 0, "the training input is empty");
  BpeTrainOptions o;
  o.vocab_size = c.vocab_size;
  o.pattern = parse_split_pattern(c.pattern);
  o.special_tokens = c.special_tokens;
  BpeTrainStats st;
  BpeTokenizer tok(train_bpe(views, o, &st), "trained BPE");
  save_tokenizer(tok, c.out);
  std::printf("trained %d ids (%lld merges) on %.2f MB: %lld pre-tokens, %lld distinct; count %.3f s, merges %.3f s\n",
              tok.vocab_size(), (long long)st.merges, bytes / 1e6, (long long)st.pretokens,
              (long long)st.unique_pretokens, st.count_seconds, st.merge_seconds);
  if (tok.vocab_size() < c.vocab_size)
    std::printf("note: the input has no pairs left to merge, so the vocabulary is smaller than %d\n", c.vocab_size);
  std::printf("wrote %s\n", c.out.c_str());
}

void run_encode(const TokenizerCommand& c, bool text_given) {
  apply_threads(c.threads);
  auto tok = load_tokenizer(c.tokenizer);
  const std::string input = text_given ? flag_text(c.text, c.no_escape) : !c.file.empty() ? read_file(c.file) : read_stdin();
  const auto* bpe = dynamic_cast<const BpeTokenizer*>(tok.get());
  const std::vector<int32_t> ids = bpe ? bpe->encode(input, c.allow_special) : tok->encode(input);
  std::string line;
  line.reserve(ids.size() * 6);
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) line += ' ';
    line += std::to_string(ids[i]);
  }
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stdout);
}

// Whitespace-separated decimal ids; InvalidArgument naming the first bad word.
void parse_ids(std::string_view text, std::vector<int32_t>& ids) {
  size_t pos = 0;
  while (pos < text.size()) {
    while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos]))) ++pos;
    size_t end = pos;
    while (end < text.size() && !std::isspace(static_cast<unsigned char>(text[end]))) ++end;
    if (end == pos) break;
    const std::string word(text.substr(pos, end - pos));
    size_t used = 0;
    long long v = -1;
    try {
      v = std::stoll(word, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != word.size() || v < 0 || v > INT32_MAX)
      throw InvalidArgument("'" + word.substr(0, 40) + "' is not a token id (expected a non-negative integer)");
    ids.push_back(static_cast<int32_t>(v));
    pos = end;
  }
}

void run_decode(const TokenizerCommand& c) {
  auto tok = load_tokenizer(c.tokenizer);
  std::vector<int32_t> ids;
  if (c.ids.empty()) {
    parse_ids(read_stdin(), ids);
  } else {
    for (const std::string& word : c.ids) parse_ids(word, ids);
  }
  const std::string text = tok->decode(ids);
  std::fwrite(text.data(), 1, text.size(), stdout);
}

}  // namespace

void register_tokenizer(CLI::App& app) {
  auto c = std::make_shared<TokenizerCommand>();
  CLI::App* cmd = app.add_subcommand("tokenizer", "Train a byte-level BPE tokenizer; encode and decode text");
  cmd->require_subcommand(1);

  CLI::App* train = cmd->add_subcommand("train", "Learn a byte-level BPE vocabulary from text files");
  train->add_option("--input", c->inputs, "text files to learn from")->required()->check(CLI::ExistingFile);
  train->add_option("--vocab-size", c->vocab_size, "total ids: 256 bytes + merges + special tokens")
      ->required()
      ->check(CLI::Range(256, 1 << 24));
  train->add_option("--out", c->out, "tokenizer.json to write (Hugging Face format)")->required();
  train->add_option("--pattern", c->pattern, "pre-tokenizer split pattern (GPT-2's, GPT-4's cl100k or GPT-4o's o200k)")
      ->capture_default_str()
      ->check(CLI::IsMember({"gpt2", "gpt4", "gpt4o"}));
  train->add_option("--special-token", c->special_tokens, "a special token such as <|endoftext|> (repeatable)");
  add_threads_option(*train, c->threads);
  train->callback([c] { run_train(*c); });

  CLI::App* enc = cmd->add_subcommand("encode", "Print the token ids of text, separated by spaces, on one line");
  enc->add_option("--tokenizer", c->tokenizer, "tokenizer.json, or a directory with encoder.json + vocab.bpe")
      ->required();
  CLI::Option* text_opt = enc->add_option("--text", c->text, std::string("text to encode") + kEscapesHelp);
  add_no_escape_flag(*enc, c->no_escape);
  enc->add_option("--file", c->file, "file to encode (default: standard input)")
      ->check(CLI::ExistingFile)
      ->excludes(text_opt);
  enc->add_flag("--allow-special", c->allow_special, "encode special tokens such as <|endoftext|> as their single id");
  add_threads_option(*enc, c->threads);
  enc->callback([c, text_opt] { run_encode(*c, text_opt->count() > 0); });

  CLI::App* dec = cmd->add_subcommand("decode", "Print the text of token ids (arguments or standard input)");
  dec->add_option("--tokenizer", c->tokenizer, "tokenizer.json, or a directory with encoder.json + vocab.bpe")
      ->required();
  dec->add_option("ids", c->ids, "token ids (default: read from standard input)");
  dec->callback([c] { run_decode(*c); });
}

}  // namespace nexus::cli
