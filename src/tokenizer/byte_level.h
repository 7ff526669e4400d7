#pragma once
// GPT-2's byte-to-character map (bytes_to_unicode in OpenAI's encoder.py): every byte gets a
// printable character so that vocab files can be JSON text. Printable Latin-1 bytes
// ('!'..'~', U+00A1..U+00AC, U+00AE..U+00FF) map to themselves; the other 68 bytes map, in
// increasing order, to U+0100, U+0101, ... (so ' ' -> 'Ġ' U+0120, '\n' -> 'Ċ' U+010A).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace nexus {

/// The code point that stands for byte b in byte-level vocab files.
uint32_t byte_to_unicode(uint8_t b);

/// Byte-level spelling of raw bytes: UTF-8 of byte_to_unicode(b) for each byte.
std::string bytes_to_byte_level(std::string_view bytes);

/// Raw bytes of a byte-level spelling, or nullopt if it is not valid UTF-8 or holds a
/// character outside the 256-character alphabet.
std::optional<std::string> byte_level_to_bytes(std::string_view text);

}  // namespace nexus
