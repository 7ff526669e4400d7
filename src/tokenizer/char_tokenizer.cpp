#include "tokenizer/char_tokenizer.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"

namespace nexus {
namespace {

bool is_continuation(uint8_t b) { return (b & 0xC0) == 0x80; }

std::string code_point_label(uint32_t cp) {
  char hex[16];
  std::snprintf(hex, sizeof hex, "U+%04X", cp);
  if (cp < 0x20 || cp == 0x7F) return hex;
  std::string s = "'";
  utf8_append(s, cp);
  return s + "' (" + hex + ")";
}

[[noreturn]] void throw_invalid_utf8(std::string_view text, size_t pos, const std::string& context) {
  char hex[8];
  std::snprintf(hex, sizeof hex, "0x%02X", static_cast<uint8_t>(text[pos]));
  throw InvalidArgument(context + ": invalid UTF-8 at byte offset " + std::to_string(pos) + " (byte " + hex +
                        "); the char tokenizer needs UTF-8 text (use the byte tokenizer for arbitrary bytes)");
}

}  // namespace

bool utf8_next(std::string_view text, size_t& pos, uint32_t& code_point) {
  if (pos >= text.size()) return false;
  const uint8_t b0 = static_cast<uint8_t>(text[pos]);
  if (b0 < 0x80) {
    code_point = b0;
    ++pos;
    return true;
  }
  size_t len;
  uint32_t cp, min;
  if (b0 >= 0xC2 && b0 <= 0xDF) len = 2, cp = b0 & 0x1F, min = 0x80;
  else if (b0 >= 0xE0 && b0 <= 0xEF) len = 3, cp = b0 & 0x0F, min = 0x800;
  else if (b0 >= 0xF0 && b0 <= 0xF4) len = 4, cp = b0 & 0x07, min = 0x10000;
  else return false;
  if (text.size() - pos < len) return false;
  for (size_t i = 1; i < len; ++i) {
    const uint8_t b = static_cast<uint8_t>(text[pos + i]);
    if (!is_continuation(b)) return false;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
  code_point = cp;
  pos += len;
  return true;
}

void utf8_append(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

CharTokenizer CharTokenizer::from_corpus(std::string_view corpus) {
  if (corpus.empty()) throw InvalidArgument("cannot build a char tokenizer from an empty corpus");
  bool ascii_seen[128] = {};
  std::set<uint32_t> others;
  size_t pos = 0;
  while (pos < corpus.size()) {
    const uint8_t b = static_cast<uint8_t>(corpus[pos]);
    if (b < 0x80) {
      ascii_seen[b] = true;
      ++pos;
      continue;
    }
    uint32_t cp;
    if (!utf8_next(corpus, pos, cp)) throw_invalid_utf8(corpus, pos, "char tokenizer corpus");
    others.insert(cp);
  }
  std::vector<uint32_t> vocab;
  for (uint32_t c = 0; c < 128; ++c)
    if (ascii_seen[c]) vocab.push_back(c);
  vocab.insert(vocab.end(), others.begin(), others.end());
  return CharTokenizer(std::move(vocab));
}

CharTokenizer::CharTokenizer(std::vector<uint32_t> code_points) : code_points_(std::move(code_points)) {
  require(!code_points_.empty(), "char tokenizer: empty vocabulary");
  ascii_ids_.fill(-1);
  for (size_t i = 0; i < code_points_.size(); ++i) {
    const uint32_t cp = code_points_[i];
    require(cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF),
            "char tokenizer: vocabulary entry " + std::to_string(i) + " is not a valid code point");
    require(i == 0 || code_points_[i - 1] < cp,
            "char tokenizer: vocabulary is not strictly increasing at entry " + std::to_string(i));
    if (cp < 128) ascii_ids_[cp] = static_cast<int32_t>(i);
    else other_ids_.emplace(cp, static_cast<int32_t>(i));
  }
}

std::vector<int32_t> CharTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t start = pos;
    uint32_t cp;
    if (!utf8_next(text, pos, cp)) throw_invalid_utf8(text, pos, "char tokenizer encode");
    int32_t id = -1;
    if (cp < 128) {
      id = ascii_ids_[cp];
    } else if (auto it = other_ids_.find(cp); it != other_ids_.end()) {
      id = it->second;
    }
    if (id < 0)
      throw InvalidArgument("char tokenizer: character " + code_point_label(cp) + " at character index " +
                            std::to_string(ids.size()) + " (byte offset " + std::to_string(start) +
                            ") is not in the vocabulary of " + std::to_string(code_points_.size()) +
                            " characters");
    ids.push_back(id);
  }
  return ids;
}

std::string CharTokenizer::decode_token(int32_t id) const {
  if (id < 0 || id >= vocab_size())
    throw InvalidArgument("char tokenizer: token id " + std::to_string(id) + " is outside [0, " +
                          std::to_string(vocab_size()) + ")");
  std::string s;
  utf8_append(s, code_points_[static_cast<size_t>(id)]);
  return s;
}

nlohmann::json CharTokenizer::to_json() const {
  nlohmann::json vocab = nlohmann::json::array();
  for (uint32_t cp : code_points_) {
    std::string s;
    utf8_append(s, cp);
    vocab.push_back(std::move(s));
  }
  return {{"nexus_tokenizer", "char"}, {"version", 1}, {"vocab", std::move(vocab)}};
}

}  // namespace nexus
