#pragma once
// Backslash escapes in text given on the command line (--prompt, --stop, ...), as llama.cpp's
// tools read them: a shell passes "\n" as a backslash and an 'n', so without this a stop
// string of two newlines could not be typed at all.
#include <string>
#include <string_view>

namespace nexus {

/// Returns `text` with these escapes replaced: \n \t \r \\ \" \' \0, \xHH (one byte),
/// \uXXXX (a code point, written as UTF-8; a UTF-16 surrogate pair \uD83D\uDE00 is one
/// character) and \UXXXXXXXX. A backslash before any other character, or at the end, is kept
/// as it is, so Windows paths and regex-like text survive. `\\` gives one literal backslash.
/// Throws InvalidArgument for a \x, \u or \U without enough hex digits, or a code point that
/// is not a Unicode scalar value (a lone surrogate, or above U+10FFFF).
std::string unescape_text(std::string_view text);

}  // namespace nexus
