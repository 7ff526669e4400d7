// unescape_text: the escapes --prompt and --stop accept (core/escapes.h).
#include <gtest/gtest.h>

#include "core/error.h"
#include "core/escapes.h"

using nexus::unescape_text;

TEST(Escapes, CommonEscapes) {
  EXPECT_EQ(unescape_text("\\n\\n"), "\n\n");
  EXPECT_EQ(unescape_text("a\\tb\\rc"), "a\tb\rc");
  EXPECT_EQ(unescape_text("say \\\"hi\\\" \\'x\\'"), "say \"hi\" 'x'");
  EXPECT_EQ(unescape_text("nul\\0!"), std::string("nul\0!", 5));
}

TEST(Escapes, LiteralBackslash) {
  EXPECT_EQ(unescape_text("\\\\n"), "\\n");         // \\n is a backslash and an n
  EXPECT_EQ(unescape_text("C:\\path\\q"), "C:\\path\\q");  // not escapes: kept
  EXPECT_EQ(unescape_text("end\\"), "end\\");       // a trailing backslash stays
  EXPECT_EQ(unescape_text("plain text"), "plain text");
  EXPECT_EQ(unescape_text(""), "");
}

TEST(Escapes, HexAndUnicode) {
  EXPECT_EQ(unescape_text("\\x41\\x7a"), "Az");
  EXPECT_EQ(unescape_text("\\u00e9"), "\xC3\xA9");                    // é
  EXPECT_EQ(unescape_text("\\u20AC"), "\xE2\x82\xAC");                // €
  EXPECT_EQ(unescape_text("\\uD83D\\uDE00"), "\xF0\x9F\x98\x80");     // 😀 as a surrogate pair
  EXPECT_EQ(unescape_text("\\U0001F600"), "\xF0\x9F\x98\x80");
}

TEST(Escapes, MalformedEscapesThrow) {
  EXPECT_THROW(unescape_text("\\x4"), nexus::InvalidArgument);
  EXPECT_THROW(unescape_text("\\u12G4"), nexus::InvalidArgument);
  EXPECT_THROW(unescape_text("\\uD83D"), nexus::InvalidArgument);      // lone surrogate
  EXPECT_THROW(unescape_text("\\U00110000"), nexus::InvalidArgument);  // above U+10FFFF
}
