#pragma once
// Tokenizers turn text into token ids and back.
//
// Saved form: a JSON file whose contents say which tokenizer it is (load_tokenizer
// dispatches on them, never on the file name):
//   char:  {"nexus_tokenizer": "char", "version": 1, "vocab": ["\n", " ", "!", ...]}
//          vocab[i] is the UTF-8 encoding of the single code point with id i; the entries
//          are distinct and sorted by code point.
//   byte:  {"nexus_tokenizer": "byte", "version": 1}
//   bpe:   a Hugging Face tokenizer.json (byte-level BPE), recognised by its "model" object;
//          the accepted form is described in tokenizer/hf_json.h
// load_tokenizer also accepts a directory: DIR/tokenizer.json if present, else GPT-2's
// original DIR/encoder.json + DIR/vocab.bpe.
// This header only forward-declares nlohmann::json; include <nlohmann/json.hpp> to use to_json().
#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace nexus {

/// Abstract tokenizer: a fixed vocabulary of vocab_size() ids.
class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  /// Encodes text into token ids; throws InvalidArgument if the text cannot be encoded.
  virtual std::vector<int32_t> encode(std::string_view text) const = 0;
  /// Decodes ids into text (concatenation of decode_token); InvalidArgument on a bad id.
  virtual std::string decode(const std::vector<int32_t>& ids) const;
  /// The bytes of one token; throws InvalidArgument if id is outside [0, vocab_size()).
  virtual std::string decode_token(int32_t id) const = 0;
  /// Number of distinct ids.
  virtual int vocab_size() const = 0;
  /// Short name of the tokenizer type ("char", "byte", "bpe").
  virtual std::string kind() const = 0;
  /// The saved form described at the top of this header.
  virtual nlohmann::json to_json() const = 0;
  /// The saved form as file text (default: to_json() pretty-printed, trailing newline).
  virtual std::string serialize() const;
};

/// Writes tok.to_json() to `path` atomically. Throws IoError on failure.
void save_tokenizer(const Tokenizer& tok, const std::string& path);

/// Reads a tokenizer file, or a directory holding tokenizer.json or GPT-2's encoder.json +
/// vocab.bpe. IoError if unreadable, FormatError naming the file if malformed.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path);

/// Builds a tokenizer from its saved JSON; `source` names the origin in FormatError messages.
std::unique_ptr<Tokenizer> tokenizer_from_json(const nlohmann::json& j, const std::string& source);

/// Builds a tokenizer for `spec` ("char": vocabulary from `corpus`; "byte": fixed 256 ids;
/// "bpe:N[:gpt2|gpt4|gpt4o]": a byte-level BPE of N ids trained on `corpus` with that split
/// pattern, gpt4o by default). Throws InvalidArgument for an unknown spec or a corpus the
/// tokenizer cannot use.
std::unique_ptr<Tokenizer> make_tokenizer(const std::string& spec, std::string_view corpus);

/// True for a "bpe:..." spec, i.e. one make_tokenizer answers by training a BPE.
bool is_bpe_spec(const std::string& spec);

}  // namespace nexus
