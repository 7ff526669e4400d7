// Tokenizers to and from GGUF vocabularies (gguf_vocab, gguf_tokenizer; see infer/gguf_model.h).
// llama.cpp's BPE (llm_tokenizer_bpe) splits text with the pre-tokenizer, spells each piece's
// bytes with GPT-2's byte-to-character map, starts from one symbol per byte and merges the
// adjacent pair of lowest rank ("left right" strings looked up by text, so intermediate
// symbols need not be tokens), then maps each final symbol to a token by its text.
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_map>

#include "core/error.h"
#include "infer/gguf_model.h"
#include "io/gguf.h"
#include "io/json_input.h"
#include "tokenizer/bpe.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/char_tokenizer.h"
#include "tokenizer/pretokenize.h"

namespace nexus {
namespace {

// llama.cpp's token types (LLAMA_TOKEN_TYPE_*).
constexpr int32_t kNormal = 1, kControl = 3, kUserDefined = 4, kUnused = 5;

void byte_vocab(GgufVocab& v) {
  for (int b = 0; b < 256; b++) {
    v.tokens.push_back(bytes_to_byte_level(std::string(1, static_cast<char>(b))));
    v.token_type.push_back(kNormal);
  }
}

// Each character is the byte-level spelling of its UTF-8 bytes; a multi-byte character is
// built by merging its first k bytes with byte k+1. Merges only ever join a character's own
// bytes (a lead byte starts each chain and UTF-8 is prefix-free), so any rank order works.
void char_vocab(const CharTokenizer& tok, GgufVocab& v) {
  std::set<std::string> seen;
  for (uint32_t cp : tok.code_points()) {
    std::string utf8;
    utf8_append(utf8, cp);
    v.tokens.push_back(bytes_to_byte_level(utf8));
    v.token_type.push_back(kNormal);
    for (size_t k = 1; k < utf8.size(); k++) {
      std::string merge = bytes_to_byte_level(utf8.substr(0, k)) + " " + bytes_to_byte_level(utf8.substr(k, 1));
      if (seen.insert(merge).second) v.merges.push_back(std::move(merge));
    }
  }
}

// tokenizer.ggml.pre for a split pattern: a name llama.cpp maps to the same regular expression.
const char* gguf_pre_name(SplitPattern pattern) {
  switch (pattern) {
    case SplitPattern::kGpt2: return "gpt-2";
    case SplitPattern::kGpt4: return "llama-bpe";
    case SplitPattern::kGpt4o: return "gpt-4o";
  }
  throw InvalidArgument("unknown split pattern");
}

void bpe_vocab(const BpeTokenizer& tok, GgufVocab& v) {
  const BpeData& d = tok.data();
  std::vector<int32_t> added_type(d.tokens.size(), 0);
  for (const AddedToken& a : d.added) added_type[a.id] = a.special ? kControl : kUserDefined;
  for (size_t id = 0; id < d.tokens.size(); id++) {
    // Added tokens keep their raw text, as llama.cpp matches control tokens literally.
    v.tokens.push_back(added_type[id] ? d.tokens[id] : bytes_to_byte_level(d.tokens[id]));
    v.token_type.push_back(added_type[id] ? added_type[id] : kNormal);
  }
  for (const auto& [a, b] : d.merges) v.merges.push_back(v.tokens[a] + " " + v.tokens[b]);
  v.pre = gguf_pre_name(d.pattern);
  const int32_t eot = tok.added_token_id("<|endoftext|>");
  if (eot >= 0) v.eos = static_cast<uint32_t>(eot);
}

// A string-array metadata value; FormatError naming the file when it has another type.
const std::vector<std::string>& strings(const GgufFile& f, const std::string& key) {
  try {
    return f.at(key).get_array<std::string>(key);
  } catch (const FormatError& e) {
    throw FormatError("GGUF file " + f.path() + ": " + e.what());
  }
}

std::string string_key(const GgufFile& f, const std::string& key) {
  try {
    return f.at(key).get<std::string>(key);
  } catch (const FormatError& e) {
    throw FormatError("GGUF file " + f.path() + ": " + e.what());
  }
}

// Nexus's split pattern for llama.cpp's pre-tokenizer name (llama.cpp's llama-vocab.cpp maps
// "llama3", "llama-v3" and "llama-bpe" to its LLAMA3 regex, cl100k's; "gpt-4o" and "llama4"
// to GPT4O, o200k's).
SplitPattern pattern_of(const GgufFile& f, const std::string& where) {
  const std::string pre = f.find("tokenizer.ggml.pre") ? string_key(f, "tokenizer.ggml.pre") : "";
  if (pre == "gpt-2") return SplitPattern::kGpt2;
  if (pre == "llama-bpe" || pre == "llama3" || pre == "llama-v3") return SplitPattern::kGpt4;
  if (pre == "gpt-4o" || pre == "llama4") return SplitPattern::kGpt4o;
  throw FormatError(where + ": pre-tokenizer '" + pre + "' is not one Nexus implements (gpt-2, llama-bpe, gpt-4o)");
}

// A byte-level BPE from tokenizer.ggml.tokens / token_type / merges (a llama.cpp conversion).
std::unique_ptr<Tokenizer> bpe_from_ggml(const GgufFile& f, const std::string& where) {
  const std::string model = string_key(f, "tokenizer.ggml.model");
  if (model != "gpt2")
    throw FormatError(where + ": tokenizer.ggml.model is '" + model + "', not the byte-level BPE 'gpt2' Nexus reads");
  BpeData d;
  d.pattern = pattern_of(f, where);
  const std::vector<std::string>& tokens = strings(f, "tokenizer.ggml.tokens");
  const GgufValue* types = f.find("tokenizer.ggml.token_type");
  if (types && (!types->is_array() || types->element_type() != GgufType::INT32 || types->size() != tokens.size()))
    throw FormatError(where + ": tokenizer.ggml.token_type must be an INT32 array with one entry per token");
  std::unordered_map<std::string, int32_t> ids;  // byte-level spelling -> id of ordinary tokens
  for (size_t i = 0; i < tokens.size(); i++) {
    const int32_t type = types ? types->get_array<int32_t>()[i] : kNormal;
    if (type == kControl || type == kUserDefined || type == kUnused) {
      d.added.push_back({static_cast<int32_t>(i), tokens[i], type != kUserDefined});
      d.tokens.push_back(tokens[i]);
      continue;
    }
    const auto bytes = byte_level_to_bytes(tokens[i]);
    if (!bytes || bytes->empty())
      throw FormatError(where + ": token " + std::to_string(i) + " is not spelled in GPT-2's byte-level alphabet");
    d.tokens.push_back(*bytes);
    ids.emplace(tokens[i], static_cast<int32_t>(i));
  }
  for (const std::string& m : strings(f, "tokenizer.ggml.merges")) {
    const size_t sp = m.find(' ', 1);  // as llama.cpp splits it
    const auto a = ids.find(m.substr(0, sp)), b = sp == std::string::npos ? ids.end() : ids.find(m.substr(sp + 1));
    if (a == ids.end() || b == ids.end())
      throw FormatError(where + ": merge '" + m +
                        "' does not join two tokens (Nexus's BPE needs both sides in the vocabulary)");
    d.merges.emplace_back(a->second, b->second);
  }
  return std::make_unique<BpeTokenizer>(std::move(d), where);
}

}  // namespace

GgufVocab gguf_vocab(const Tokenizer& tok, int vocab_size) {
  require(tok.vocab_size() <= vocab_size, "the tokenizer has " + std::to_string(tok.vocab_size()) +
                                              " ids, more than the model's vocab_size " + std::to_string(vocab_size));
  GgufVocab v;
  v.pre = "gpt-2";
  if (const auto* bpe = dynamic_cast<const BpeTokenizer*>(&tok))
    bpe_vocab(*bpe, v);
  else if (const auto* chars = dynamic_cast<const CharTokenizer*>(&tok))
    char_vocab(*chars, v);
  else if (tok.kind() == "byte")
    byte_vocab(v);
  else
    throw InvalidArgument("cannot express a '" + tok.kind() + "' tokenizer as a GGUF vocabulary");
  // Model rows past the tokenizer: placeholders llama.cpp never produces from text.
  if (!v.eos && tok.vocab_size() < vocab_size) v.eos = static_cast<uint32_t>(tok.vocab_size());
  for (int id = tok.vocab_size(); id < vocab_size; id++) {
    v.tokens.push_back("[PAD" + std::to_string(id) + "]");
    v.token_type.push_back(kUnused);
  }
  std::unordered_map<std::string, size_t> first;
  for (size_t id = 0; id < v.tokens.size(); id++) {
    const auto [it, fresh] = first.emplace(v.tokens[id], id);
    require(fresh, "token ids " + std::to_string(it->second) + " and " + std::to_string(id) + " are both spelled '" +
                       v.tokens[id] + "' in the GGUF vocabulary (llama.cpp needs distinct tokens)");
  }
  return v;
}

std::unique_ptr<Tokenizer> gguf_tokenizer(const GgufFile& f, int vocab_size) {
  const std::string where = "GGUF file " + f.path();
  std::unique_ptr<Tokenizer> tok;
  if (f.find("nexus.tokenizer")) {
    const nlohmann::json j = parse_json(string_key(f, "nexus.tokenizer"), where + ": nexus.tokenizer");
    tok = tokenizer_from_json(j, where + " (nexus.tokenizer)");
  } else if (f.find("tokenizer.ggml.tokens")) {
    tok = bpe_from_ggml(f, where);
  } else {
    return nullptr;
  }
  if (tok->vocab_size() > vocab_size)
    throw FormatError(where + ": the tokenizer has " + std::to_string(tok->vocab_size()) +
                      " ids, more than the model's " + std::to_string(vocab_size) + " token embedding rows");
  return tok;
}

}  // namespace nexus
