#include "tokenizer/pretokenize.h"

#include <algorithm>

#include "core/error.h"
#include "tokenizer/unicode.h"

namespace nexus {
namespace {

using C = CharClass;

// Bytes from `pos` to the end of the run of characters of class `cls` starting there.
size_t run_end(std::string_view t, size_t pos, CharClass cls) {
  while (pos < t.size()) {
    const CharInfo c = char_at(t, pos);
    if (c.cls != cls) break;
    pos += c.len;
  }
  return pos;
}

bool is_lower(char c, char lower) { return c == lower || c == lower - 32; }

// 's 't 're 've 'm 'll 'd (t[0] == '\''); case-sensitive for gpt2, any case for gpt4 and gpt4o.
size_t contraction_length(std::string_view t, bool any_case) {
  if (t.size() < 2) return 0;
  auto is = [&](size_t i, char lower) {
    return i < t.size() && (any_case ? is_lower(t[i], lower) : t[i] == lower);
  };
  if (is(1, 's') || is(1, 't') || is(1, 'm') || is(1, 'd')) return 2;
  if ((is(1, 'r') && is(2, 'e')) || (is(1, 'v') && is(2, 'e')) || (is(1, 'l') && is(2, 'l'))) return 3;
  // U+017F LATIN SMALL LETTER LONG S case-folds to 's'.
  if (any_case && t.size() >= 3 && static_cast<uint8_t>(t[1]) == 0xC5 && static_cast<uint8_t>(t[2]) == 0xBF) return 3;
  return 0;
}

// t starts with white space. `\s+(?!\S)|\s+`: the whole run if it reaches the end of the
// text, else the run minus its last character (left to prefix the next word), but at least
// one character. With `newline_rule` (gpt4, gpt4o) `\s*[\r\n]+` comes first: up to and including
// the run's last \r or \n.
size_t space_length(std::string_view t, bool newline_rule) {
  size_t pos = 0, last = 0, newline_end = 0;
  while (pos < t.size()) {
    const CharInfo c = char_at(t, pos);
    if (c.cls != C::kSpace) break;
    if (c.cp == '\n' || c.cp == '\r') newline_end = pos + 1;
    last = pos;
    pos += c.len;
  }
  if (newline_rule && newline_end > 0) return newline_end;
  if (pos == t.size()) return pos;
  return last > 0 ? last : pos;
}

size_t gpt2_length(std::string_view t) {
  if (t[0] == '\'')
    if (size_t n = contraction_length(t, false)) return n;
  if (t[0] == ' ' && t.size() > 1) {
    const CharInfo next = char_at(t, 1);
    if (next.cls != C::kSpace) return run_end(t, 1, next.cls);
  }
  const CharInfo c = char_at(t, 0);
  if (c.cls != C::kSpace) return run_end(t, 0, c.cls);
  return space_length(t, false);
}

// Extends an end position over following \r and \n bytes ([\r\n]*), and '/' with `slash`
// ([\r\n/]*).
size_t skip_newlines(std::string_view t, size_t pos, bool slash = false) {
  while (pos < t.size() && (t[pos] == '\n' || t[pos] == '\r' || (slash && t[pos] == '/'))) ++pos;
  return pos;
}

// \p{N}{1,3} (t starts with a number).
size_t digits_length(std::string_view t) {
  size_t pos = char_at(t, 0).len;
  for (int k = 1; k < 3 && pos < t.size(); ++k) {
    const CharInfo d = char_at(t, pos);
    if (d.cls != C::kNumber) break;
    pos += d.len;
  }
  return pos;
}

size_t gpt4_length(std::string_view t) {
  if (t[0] == '\'')
    if (size_t n = contraction_length(t, true)) return n;
  const CharInfo c = char_at(t, 0);
  if (c.cls == C::kLetter) return run_end(t, 0, C::kLetter);
  // [^\r\n\p{L}\p{N}]?\p{L}+ : one non-letter, non-number character glued to a word.
  if (c.cls != C::kNumber && c.cp != '\r' && c.cp != '\n' && c.len < t.size()) {
    if (char_at(t, c.len).cls == C::kLetter) return run_end(t, c.len, C::kLetter);
  }
  if (c.cls == C::kNumber) return digits_length(t);
  if (t[0] == ' ' && t.size() > 1 && char_at(t, 1).cls == C::kOther)
    return skip_newlines(t, run_end(t, 1, C::kOther));
  if (c.cls == C::kOther) return skip_newlines(t, run_end(t, 0, C::kOther));
  return space_length(t, true);
}

// Bytes from `pos` to the end of the run of characters in letter set `set` starting there.
size_t set_run_end(std::string_view t, size_t pos, uint8_t set) {
  while (pos < t.size()) {
    const CharInfo c = char_at(t, pos);
    if (!(c.sets & set)) break;
    pos += c.len;
  }
  return pos;
}

// gpt4o's first word form [U]*[W]+ from `pos` (U = kUpperSet, W = kLowerSet): its end, or 0
// when it does not match there. U* takes the whole U run [pos, k); W+ then starts at k when
// t[k] is in W (a lowercase letter, as it is not in U) and runs through W. Otherwise U*
// backtracks to the last character before k that is in both sets (Lm Lo M), and W+ is that
// one character: all characters after it up to k are U only.
size_t lower_word_end(std::string_view t, size_t pos) {
  size_t last_both_end = 0;
  while (pos < t.size()) {
    const CharInfo c = char_at(t, pos);
    if (!(c.sets & kUpperSet)) {
      if (c.sets & kLowerSet) return set_run_end(t, pos, kLowerSet);
      break;
    }
    pos += c.len;
    if (c.sets & kLowerSet) last_both_end = pos;
  }
  return last_both_end;
}

// gpt4o's second word form [U]+[W]* from `pos`: its end, or 0 when t[pos] is not in U.
size_t upper_word_end(std::string_view t, size_t pos) {
  const size_t k = set_run_end(t, pos, kUpperSet);
  return k == pos ? 0 : set_run_end(t, k, kLowerSet);
}

// A word's end extended over an optional (?i:'s|'t|'re|'ve|'m|'ll|'d).
size_t with_contraction(std::string_view t, size_t end) {
  if (end < t.size() && t[end] == '\'') end += contraction_length(t.substr(end), true);
  return end;
}

// Alternatives in order, each word form first with its one-character prefix
// [^\r\n\p{L}\p{N}] and then without it (a mark can be both the prefix and a word:
// "\u0301ABC" is "\u0301" then "ABC", as the first form without prefix matches the mark).
size_t gpt4o_length(std::string_view t) {
  const CharInfo c = char_at(t, 0);
  const bool prefix = c.cls != C::kLetter && c.cls != C::kNumber && c.cp != '\r' && c.cp != '\n' && c.len < t.size();
  // A word form can only match from a character in one of the letter sets.
  const bool after_prefix = prefix && char_at(t, c.len).sets != 0;
  if (after_prefix || c.sets != 0) {
    for (size_t (*word_end)(std::string_view, size_t) : {lower_word_end, upper_word_end}) {
      if (after_prefix)
        if (const size_t end = word_end(t, c.len)) return with_contraction(t, end);
      if (c.sets != 0)
        if (const size_t end = word_end(t, 0)) return with_contraction(t, end);
    }
  }
  if (c.cls == C::kNumber) return digits_length(t);
  if (t[0] == ' ' && t.size() > 1 && char_at(t, 1).cls == C::kOther)
    return skip_newlines(t, run_end(t, 1, C::kOther), true);
  if (c.cls == C::kOther) return skip_newlines(t, run_end(t, 0, C::kOther), true);
  return space_length(t, true);
}

bool printable_ascii(char c) { return c > 0x20 && c < 0x7F; }

}  // namespace

const char* split_pattern_regex(SplitPattern pattern) {
  switch (pattern) {
    case SplitPattern::kGpt2:
      return "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
    case SplitPattern::kGpt4:
      return "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
             "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    case SplitPattern::kGpt4o:
      return "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
             "(?i:'s|'t|'re|'ve|'m|'ll|'d)?|"
             "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*"
             "(?i:'s|'t|'re|'ve|'m|'ll|'d)?|"
             "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  }
  throw InvalidArgument("unknown split pattern");
}

const char* split_pattern_name(SplitPattern pattern) {
  switch (pattern) {
    case SplitPattern::kGpt2: return "gpt2";
    case SplitPattern::kGpt4: return "gpt4";
    case SplitPattern::kGpt4o: return "gpt4o";
  }
  throw InvalidArgument("unknown split pattern");
}

SplitPattern parse_split_pattern(const std::string& name) {
  for (SplitPattern p : kSplitPatterns)
    if (name == split_pattern_name(p)) return p;
  throw InvalidArgument("unknown split pattern '" + name + "' (expected gpt2, gpt4 or gpt4o)");
}

size_t pretoken_length(std::string_view text, SplitPattern pattern) {
  if (text.empty()) return 0;
  switch (pattern) {
    case SplitPattern::kGpt2: return gpt2_length(text);
    case SplitPattern::kGpt4: return gpt4_length(text);
    case SplitPattern::kGpt4o: return gpt4o_length(text);
  }
  throw InvalidArgument("unknown split pattern");
}

std::vector<std::string_view> pretokenize(std::string_view text, SplitPattern pattern) {
  std::vector<std::string_view> out;
  for (size_t pos = 0; pos < text.size();) {
    const size_t n = pretoken_length(text.substr(pos), pattern);
    out.push_back(text.substr(pos, n));
    pos += n;
  }
  return out;
}

std::vector<size_t> split_for_threads(std::string_view text, size_t pieces) {
  std::vector<size_t> starts{0};
  const size_t n = text.size();
  for (size_t k = 1; k < pieces; ++k) {
    // Search forward from the ideal cut for the first safe one ("x\nY" with the cut before Y).
    size_t p = std::max(starts.back() + 1, n / pieces * k);
    while (p + 1 < n && !(text[p - 1] == '\n' && printable_ascii(text[p]) && text[p] != '/' && p >= 2 &&
                          printable_ascii(text[p - 2])))
      ++p;
    if (p + 1 >= n) break;
    starts.push_back(p);
  }
  starts.push_back(n);
  return starts;
}

}  // namespace nexus
