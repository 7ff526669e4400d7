#pragma once
// Pre-tokenizer of byte-level BPE: splits text into the pieces BPE merges never cross,
// exactly like the regular expressions below (leftmost alternative first, greedy), but
// written by hand over the Unicode classes of tokenizer/unicode.h (no regex engine).
//
//   gpt2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   gpt4: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//         ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//   gpt4o: [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|
//          [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|
//          \p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// gpt4 is tiktoken's cl100k_base pattern (GPT-4), gpt4o its o200k_base pattern (GPT-4o:
// contractions glued to their word, "HelloWorld" split at the case change); under (?i) the
// `s` also matches U+017F 'ſ'. Invalid UTF-8 bytes are one-byte characters of class Other,
// in neither letter set (see unicode.h).
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace nexus {

/// Which split pattern a byte-level BPE uses.
enum class SplitPattern { kGpt2, kGpt4, kGpt4o };

/// Every pattern, in the order above.
constexpr SplitPattern kSplitPatterns[] = {SplitPattern::kGpt2, SplitPattern::kGpt4, SplitPattern::kGpt4o};

/// The pattern `bpe:N` and `nexus tokenizer train` use when none is named: gpt4o, which on
/// tinyshakespeare gives 2.801 validation bytes per token at 2,000 ids (gpt4 2.796, gpt2 2.55).
constexpr SplitPattern kDefaultSplitPattern = SplitPattern::kGpt4o;

/// The regular expression of a pattern, as a Hugging Face tokenizer.json spells it.
const char* split_pattern_regex(SplitPattern pattern);

/// "gpt2", "gpt4" or "gpt4o".
const char* split_pattern_name(SplitPattern pattern);

/// Parses "gpt2" / "gpt4" / "gpt4o"; InvalidArgument otherwise.
SplitPattern parse_split_pattern(const std::string& name);

/// Byte length of the pre-token that starts at text[0]; 0 only for empty text.
size_t pretoken_length(std::string_view text, SplitPattern pattern);

/// All pre-tokens of `text` in order (views into text; their concatenation is text).
std::vector<std::string_view> pretokenize(std::string_view text, SplitPattern pattern);

/// Cuts text into at most `pieces` consecutive chunks whose pre-tokens, taken one chunk at
/// a time, are exactly the pre-tokens of the whole text (for every pattern). Cuts are only
/// made after a lone "\n" between two printable ASCII characters (x\nY, Y not '/'), which is
/// always a pre-token boundary and whose tokens do not depend on what follows (Y = '/' is
/// excluded as gpt4o's "[\r\n/]*" makes ".\n/" one pre-token). Returns the chunk start
/// offsets plus text.size() at the end (so chunk i is [r[i], r[i+1])).
std::vector<size_t> split_for_threads(std::string_view text, size_t pieces);

}  // namespace nexus
