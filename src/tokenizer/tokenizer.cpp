#include "tokenizer/tokenizer.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/json_input.h"
#include "tokenizer/bpe_train.h"
#include "tokenizer/byte_tokenizer.h"
#include "tokenizer/char_tokenizer.h"
#include "tokenizer/hf_json.h"

namespace nexus {
namespace {

using json = nlohmann::json;

std::unique_ptr<Tokenizer> char_from_json(const json& j, const std::string& source) {
  if (!j.contains("vocab") || !j.at("vocab").is_array())
    throw FormatError(source + ": char tokenizer needs a 'vocab' array of strings");
  const json& vocab = j.at("vocab");
  if (vocab.empty()) throw FormatError(source + ": char tokenizer 'vocab' is empty");
  std::vector<uint32_t> code_points;
  code_points.reserve(vocab.size());
  for (size_t i = 0; i < vocab.size(); ++i) {
    const std::string where = source + ": vocab entry " + std::to_string(i);
    if (!vocab[i].is_string()) throw FormatError(where + " is not a string");
    const std::string& s = vocab[i].get_ref<const std::string&>();
    size_t pos = 0;
    uint32_t cp = 0;
    if (!utf8_next(s, pos, cp) || pos != s.size())
      throw FormatError(where + " is not exactly one UTF-8 character: \"" + s + "\"");
    if (!code_points.empty() && code_points.back() >= cp)
      throw FormatError(where + " is out of order or repeated (vocab must be sorted by code point, distinct)");
    code_points.push_back(cp);
  }
  return std::make_unique<CharTokenizer>(std::move(code_points));
}

// "bpe:N" or "bpe:N:gpt2|gpt4|gpt4o" -> training options; false if spec is not of that form.
bool parse_bpe_spec(const std::string& spec, BpeTrainOptions& o) {
  if (spec.rfind("bpe:", 0) != 0) return false;
  std::string rest = spec.substr(4);
  const size_t colon = rest.find(':');
  if (colon != std::string::npos) {
    o.pattern = parse_split_pattern(rest.substr(colon + 1));
    rest.resize(colon);
  }
  size_t used = 0;
  int n = 0;
  try {
    n = std::stoi(rest, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  require(used == rest.size() && used > 0, "bad tokenizer spec '" + spec + "': expected bpe:N or bpe:N:gpt2|gpt4|gpt4o");
  o.vocab_size = n;
  return true;
}

}  // namespace

bool is_bpe_spec(const std::string& spec) { return spec.rfind("bpe:", 0) == 0; }

std::string Tokenizer::serialize() const { return to_json().dump(2) + "\n"; }

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  out.reserve(ids.size());
  for (int32_t id : ids) out += decode_token(id);
  return out;
}

void save_tokenizer(const Tokenizer& tok, const std::string& path) {
  write_file_atomic(path, tok.serialize());
}

std::unique_ptr<Tokenizer> tokenizer_from_json(const json& j, const std::string& source) {
  if (!j.is_object()) throw FormatError(source + ": tokenizer file is not a JSON object");
  if (!j.contains("nexus_tokenizer")) {
    if (j.contains("model")) return bpe_from_hf_json(j, source);
    throw FormatError(source + ": not a tokenizer file (no 'nexus_tokenizer' key and no 'model' object)");
  }
  const json& kind = j.at("nexus_tokenizer");
  if (!kind.is_string()) throw FormatError(source + ": 'nexus_tokenizer' is not a string");
  if (!j.contains("version") || !j.at("version").is_number_integer())
    throw FormatError(source + ": missing integer 'version'");
  if (j.at("version").get<int64_t>() != 1)
    throw FormatError(source + ": unsupported tokenizer version " + j.at("version").dump() + " (expected 1)");
  const std::string& k = kind.get_ref<const std::string&>();
  if (k == "char") return char_from_json(j, source);
  if (k == "byte") return std::make_unique<ByteTokenizer>();
  throw FormatError(source + ": unknown tokenizer kind '" + k + "'");
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    const fs::path dir(path);
    if (fs::exists(dir / "tokenizer.json", ec)) return load_tokenizer((dir / "tokenizer.json").string());
    if (fs::exists(dir / "encoder.json", ec) && fs::exists(dir / "vocab.bpe", ec)) return load_gpt2_dir(path);
    throw IoError("tokenizer directory " + path + " holds neither tokenizer.json nor encoder.json + vocab.bpe");
  }
  const std::string where = "tokenizer file " + path;
  const JsonLimits limits;
  return tokenizer_from_json(parse_json(read_file(path, limits.max_bytes), where, limits), where);
}

std::unique_ptr<Tokenizer> make_tokenizer(const std::string& spec, std::string_view corpus) {
  if (spec == "char") return std::make_unique<CharTokenizer>(CharTokenizer::from_corpus(corpus));
  if (spec == "byte") return std::make_unique<ByteTokenizer>();
  BpeTrainOptions o;
  if (parse_bpe_spec(spec, o)) {
    require(!corpus.empty(), "cannot train a BPE tokenizer on an empty corpus");
    return std::make_unique<BpeTokenizer>(train_bpe({corpus}, o), "trained BPE");
  }
  throw InvalidArgument("unknown tokenizer '" + spec + "' (expected 'char', 'byte' or 'bpe:N')");
}

}  // namespace nexus
