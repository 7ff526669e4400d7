#pragma once
// Character tokenizer, like nanoGPT's shakespeare_char: the vocabulary is the sorted set of
// distinct Unicode code points of a corpus and a character's id is its rank.
//
// Text must be valid UTF-8: invalid bytes (bad lead/continuation bytes, truncated or
// overlong sequences, surrogates, code points above U+10FFFF) are rejected with an
// InvalidArgument naming the byte offset, never silently replaced, so decode(encode(t))
// == t always holds. Use the byte tokenizer for arbitrary bytes.
#include <array>
#include <unordered_map>

#include "tokenizer/tokenizer.h"

namespace nexus {

/// Decodes the code point starting at text[pos] and advances pos past it. Returns false
/// (leaving pos unchanged) if the bytes there are not valid UTF-8.
bool utf8_next(std::string_view text, size_t& pos, uint32_t& code_point);

/// Appends the UTF-8 encoding of a valid code point to out.
void utf8_append(std::string& out, uint32_t code_point);

/// Tokenizer whose ids are the ranks of the code points in a fixed sorted vocabulary.
class CharTokenizer : public Tokenizer {
 public:
  /// Vocabulary = sorted distinct code points of `corpus`. InvalidArgument if the corpus is
  /// empty or not valid UTF-8.
  static CharTokenizer from_corpus(std::string_view corpus);
  /// Vocabulary given explicitly; must be non-empty, strictly increasing valid code points
  /// (InvalidArgument otherwise).
  explicit CharTokenizer(std::vector<uint32_t> code_points);

  /// Ids of the characters; InvalidArgument naming the character and its position if one is
  /// not in the vocabulary, or if the text is not valid UTF-8.
  std::vector<int32_t> encode(std::string_view text) const override;
  /// UTF-8 of the character `id`; InvalidArgument outside [0, vocab_size()).
  std::string decode_token(int32_t id) const override;
  /// Number of distinct characters.
  int vocab_size() const override { return static_cast<int>(code_points_.size()); }
  /// "char".
  std::string kind() const override { return "char"; }
  /// {"nexus_tokenizer": "char", "version": 1, "vocab": [...]}.
  nlohmann::json to_json() const override;
  /// The vocabulary, sorted by code point.
  const std::vector<uint32_t>& code_points() const { return code_points_; }

 private:
  std::vector<uint32_t> code_points_;
  std::array<int32_t, 128> ascii_ids_{};           // id of each ASCII char, -1 if absent
  std::unordered_map<uint32_t, int32_t> other_ids_;  // ids of non-ASCII code points
};

}  // namespace nexus
