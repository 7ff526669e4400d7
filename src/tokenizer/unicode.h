#pragma once
// Unicode character classes for the BPE pre-tokenizer: letter (\p{L}), number (\p{N}),
// white space (\s = the White_Space property) and everything else, plus the two case-aware
// letter sets of the gpt4o pattern. The tables come from tools/gen_unicode_tables.py
// (Python's unicodedata); see unicode_ranges.inc.
//
// Invalid UTF-8: a byte that does not start a valid UTF-8 sequence (bad lead or continuation
// byte, truncated or overlong sequence, encoded surrogate, code point above U+10FFFF) is read
// as a one-byte character of class Other. This is what Python gives when the bytes are
// decoded with errors="surrogateescape" (each such byte becomes a lone surrogate, category
// Cs), so the GPT-2 reference (tools/gpt2_reference.py) splits such text the same way.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace nexus {

/// The pre-tokenizer's view of a character.
enum class CharClass : uint8_t { kOther = 0, kLetter = 1, kNumber = 2, kSpace = 3 };

/// Bit of CharInfo::sets: the character is in [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}] (gpt4o's upper set).
constexpr uint8_t kUpperSet = 1;
/// Bit of CharInfo::sets: the character is in [\p{Ll}\p{Lm}\p{Lo}\p{M}] (gpt4o's lower set).
constexpr uint8_t kLowerSet = 2;

/// Class of a code point (anything above U+10FFFF is kOther).
CharClass char_class(uint32_t code_point);

/// kUpperSet / kLowerSet bits of a code point: Lu Lt upper, Ll lower, Lm Lo and marks
/// (M, which are kOther, not letters) both, anything else neither.
uint8_t case_sets(uint32_t code_point);

/// One character read from UTF-8 text.
struct CharInfo {
  CharClass cls;     ///< its class (kOther for an invalid byte)
  uint8_t sets;      ///< its kUpperSet / kLowerSet bits (0 for an invalid byte)
  uint32_t len;      ///< bytes it occupies (1 for an invalid byte)
  uint32_t cp;       ///< its code point (the byte value for an invalid byte)
};

namespace detail {
/// Class (bits 0-1) and case sets (shifted left by 2) of each ASCII byte.
extern const uint8_t kAsciiBits[128];
/// Slow path of char_at for a byte >= 0x80.
CharInfo char_at_multibyte(std::string_view text, size_t pos);
}  // namespace detail

/// The character starting at text[pos] (pos < text.size()).
inline CharInfo char_at(std::string_view text, size_t pos) {
  const uint8_t b = static_cast<uint8_t>(text[pos]);
  if (b < 0x80) {
    const uint8_t bits = detail::kAsciiBits[b];
    return {static_cast<CharClass>(bits & 3), static_cast<uint8_t>(bits >> 2), 1, b};
  }
  return detail::char_at_multibyte(text, pos);
}

}  // namespace nexus
