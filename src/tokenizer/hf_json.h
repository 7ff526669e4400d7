#pragma once
// Byte-level BPE files: Hugging Face tokenizer.json (read and written) and OpenAI GPT-2's
// encoder.json + vocab.bpe (read).
//
// tokenizer.json accepted (anything else is a FormatError naming the file and the field):
//   model:         {"type": "BPE" (or absent), "vocab": {token: id}, "merges": ["a b", ...]
//                   or [["a", "b"], ...]}; continuing_subword_prefix / end_of_word_suffix
//                   empty or null, byte_fallback false, dropout null; tokens spelled with
//                   GPT-2's byte-to-character map (tokenizer/byte_level.h)
//   pre_tokenizer: {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true} (the
//                   gpt2 pattern), or a Sequence of a Split with the gpt2, gpt4 or gpt4o
//                   regex (behavior Isolated, or Removed with invert true) and a ByteLevel
//                   with use_regex false
//   normalizer:    absent or null;  decoder: absent, null or ByteLevel
//   added_tokens:  [{"id": N, "content": "<|endoftext|>", "special": true}, ...]; an added
//                   token's id may also appear in model.vocab (as in GPT-2's file)
// Ids must be distinct and cover 0..N-1 exactly (model vocab and added tokens together).
// Written files use the classic "a b" merge strings (readable by every tokenizers version)
// and list the vocab in id order; added tokens appear only in added_tokens.
//
// GPT-2's files: encoder.json maps byte-level token -> id (0..50256); vocab.bpe is
// "#version: 0.2" then one merge "a b" per line, in rank order. "<|endoftext|>" in
// encoder.json becomes a special added token.
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

#include "tokenizer/bpe.h"

namespace nexus {

/// Builds a BPE tokenizer from a parsed tokenizer.json; FormatError naming `source`.
std::unique_ptr<BpeTokenizer> bpe_from_hf_json(const nlohmann::json& j, const std::string& source);

/// Builds GPT-2's tokenizer from the texts of encoder.json and vocab.bpe; FormatError naming
/// `source` if either is malformed.
std::unique_ptr<BpeTokenizer> bpe_from_gpt2_files(std::string_view encoder_json, std::string_view vocab_bpe,
                                                  const std::string& source);

/// Loads DIR/encoder.json and DIR/vocab.bpe. IoError if unreadable, FormatError if malformed.
std::unique_ptr<BpeTokenizer> load_gpt2_dir(const std::string& dir);

/// The tokenizer.json object for `tok`.
nlohmann::json bpe_to_hf_json(const BpeTokenizer& tok);

/// The tokenizer.json text for `tok` (pretty-printed, vocab in id order, trailing newline).
std::string bpe_to_hf_json_text(const BpeTokenizer& tok);

}  // namespace nexus
