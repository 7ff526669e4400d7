#include "core/escapes.h"

#include "core/error.h"

namespace nexus {

namespace {

// Reads `count` hex digits of `text` at `pos`; throws naming the escape when they are missing.
uint32_t read_hex(std::string_view text, size_t pos, int count, std::string_view escape) {
  uint32_t value = 0;
  for (int i = 0; i < count; i++) {
    const char c = pos + i < text.size() ? text[pos + i] : '\0';
    int digit;
    if (c >= '0' && c <= '9') digit = c - '0';
    else if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
    else
      throw InvalidArgument("escape \\" + std::string(escape) + " needs " + std::to_string(count) +
                            " hex digits in '" + std::string(text) + "'");
    value = value * 16 + (uint32_t)digit;
  }
  return value;
}

void append_utf8(std::string& out, uint32_t cp, std::string_view text) {
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    throw InvalidArgument("escape for U+" + std::to_string(cp) + " is not a Unicode character in '" +
                          std::string(text) + "'");
  if (cp < 0x80) {
    out += (char)cp;
  } else if (cp < 0x800) {
    out += (char)(0xC0 | (cp >> 6));
    out += (char)(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += (char)(0xE0 | (cp >> 12));
    out += (char)(0x80 | ((cp >> 6) & 0x3F));
    out += (char)(0x80 | (cp & 0x3F));
  } else {
    out += (char)(0xF0 | (cp >> 18));
    out += (char)(0x80 | ((cp >> 12) & 0x3F));
    out += (char)(0x80 | ((cp >> 6) & 0x3F));
    out += (char)(0x80 | (cp & 0x3F));
  }
}

// Decodes \uXXXX at text[i] == 'u' (the backslash is before it), joining a surrogate pair.
// Returns the index of the last character consumed.
size_t decode_u16(std::string_view text, size_t i, std::string& out) {
  uint32_t cp = read_hex(text, i + 1, 4, "u");
  size_t last = i + 4;
  if (cp >= 0xD800 && cp <= 0xDBFF && text.substr(last + 1, 2) == "\\u") {
    const uint32_t low = read_hex(text, last + 3, 4, "u");
    if (low >= 0xDC00 && low <= 0xDFFF) {
      cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
      last += 6;
    }
  }
  append_utf8(out, cp, text);
  return last;
}

}  // namespace

std::string unescape_text(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); i++) {
    if (text[i] != '\\' || i + 1 == text.size()) {
      out += text[i];
      continue;
    }
    const char c = text[++i];
    switch (c) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case '0': out += '\0'; break;
      case '\\': case '"': case '\'': out += c; break;
      case 'x':
        out += (char)read_hex(text, i + 1, 2, "x");
        i += 2;
        break;
      case 'u': i = decode_u16(text, i, out); break;
      case 'U':
        append_utf8(out, read_hex(text, i + 1, 8, "U"), text);
        i += 8;
        break;
      default:  // not an escape: keep the backslash and the character
        out += '\\';
        out += c;
    }
  }
  return out;
}

}  // namespace nexus
