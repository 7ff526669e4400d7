// Tests of the char and byte tokenizers and their saved form.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "shared_data.h"
#include "core/error.h"
#include "core/rng.h"
#include "io/atomic_file.h"
#include "tokenizer/byte_tokenizer.h"
#include "tokenizer/char_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace fs = std::filesystem;
using namespace nexus;

namespace {

const char* kShakespeare =
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
    "First Citizen:\nYou are all resolved rather to die than to famish?\n\nAll:\nResolved. resolved.\n\n"
    "First Citizen:\nFirst, you know Caius Marcius is chief enemy to the people.\n";

class TokenizerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int counter = 0;
    dir_ = fs::temp_directory_path() /
           ("nexus_test_tokenizer_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

// Expects load_tokenizer(file with `text`) to throw FormatError mentioning `needle` and the path.
void expect_load_error(const std::string& path, const std::string& text, const std::string& needle) {
  write_file_atomic(path, text);
  try {
    load_tokenizer(path);
    ADD_FAILURE() << "no error for " << text;
  } catch (const FormatError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(needle), std::string::npos) << "missing '" << needle << "' in: " << msg;
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
  }
}

}  // namespace

TEST_F(TokenizerTest, CharRoundTripAndRanks) {
  auto tok = make_tokenizer("char", kShakespeare);
  EXPECT_EQ(tok->kind(), "char");
  std::set<char> distinct(kShakespeare, kShakespeare + std::strlen(kShakespeare));
  EXPECT_EQ(tok->vocab_size(), static_cast<int>(distinct.size()));
  const auto ids = tok->encode(kShakespeare);
  EXPECT_EQ(ids.size(), std::strlen(kShakespeare));
  EXPECT_EQ(tok->decode(ids), kShakespeare);
  // ids are ranks in the sorted set: '\n' is the smallest character, so id 0.
  EXPECT_EQ(tok->encode("\n"), std::vector<int32_t>{0});
  EXPECT_EQ(tok->encode(" "), std::vector<int32_t>{1});
  int rank = 0;
  for (char c : distinct) EXPECT_EQ(tok->decode_token(rank++), std::string(1, c));
  EXPECT_THROW(tok->decode_token(-1), InvalidArgument);
  EXPECT_THROW(tok->decode_token(tok->vocab_size()), InvalidArgument);
  EXPECT_THROW(tok->decode({0, 999}), InvalidArgument);
}

TEST_F(TokenizerTest, CharUnicodeSortedByCodePoint) {
  const std::string text = "h\u00e9llo w\u00f6rld \u2014 \u2603 \U0001D11E!";
  CharTokenizer tok = CharTokenizer::from_corpus(text);
  const auto& cps = tok.code_points();
  EXPECT_TRUE(std::is_sorted(cps.begin(), cps.end()));
  EXPECT_EQ(cps.back(), 0x1D11Eu);
  EXPECT_EQ(tok.decode(tok.encode(text)), text);
  EXPECT_EQ(tok.decode_token(tok.vocab_size() - 1), "\U0001D11E");
  EXPECT_EQ(tok.encode("\u2603").size(), 1u);
}

TEST_F(TokenizerTest, CharUnknownCharacterNamesItAndItsPosition) {
  auto tok = make_tokenizer("char", "abc \u00e9");
  try {
    tok->encode("ab \u00e9z");
    FAIL();
  } catch (const InvalidArgument& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("'z'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("U+007A"), std::string::npos) << msg;
    EXPECT_NE(msg.find("character index 4"), std::string::npos) << msg;
    EXPECT_NE(msg.find("byte offset 5"), std::string::npos) << msg;
  }
  try {
    tok->encode("a\n");
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("U+000A"), std::string::npos) << e.what();
  }
}

TEST_F(TokenizerTest, CharRejectsInvalidUtf8) {
  const std::string bad[] = {"ab\xff", "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "x\xe2\x82", "\x80"};
  for (const auto& s : bad) {
    EXPECT_THROW(CharTokenizer::from_corpus(s), InvalidArgument) << s;
    size_t pos = 0;
    uint32_t cp = 0;
    bool all_ok = true;
    while (pos < s.size() && all_ok) all_ok = utf8_next(s, pos, cp);
    EXPECT_FALSE(all_ok) << s;
  }
  auto tok = make_tokenizer("char", "abc");
  try {
    tok->encode("ab\xff");
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("byte offset 2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(make_tokenizer("char", ""), InvalidArgument);
}

TEST_F(TokenizerTest, Utf8EncodeDecodeAllBoundaries) {
  for (uint32_t cp : {0u, 0x7Fu, 0x80u, 0x7FFu, 0x800u, 0xD7FFu, 0xE000u, 0xFFFFu, 0x10000u, 0x10FFFFu}) {
    std::string s;
    utf8_append(s, cp);
    size_t pos = 0;
    uint32_t back = 1;
    ASSERT_TRUE(utf8_next(s, pos, back)) << cp;
    EXPECT_EQ(back, cp);
    EXPECT_EQ(pos, s.size());
  }
}

TEST_F(TokenizerTest, ByteRoundTripOnRandomBytes) {
  auto tok = make_tokenizer("byte", "ignored");
  EXPECT_EQ(tok->vocab_size(), 256);
  EXPECT_EQ(tok->kind(), "byte");
  Rng rng(7);
  std::string bytes(100000, '\0');
  for (auto& c : bytes) c = static_cast<char>(rng.below(256));
  const auto ids = tok->encode(bytes);
  ASSERT_EQ(ids.size(), bytes.size());
  for (size_t i = 0; i < ids.size(); ++i) ASSERT_EQ(ids[i], static_cast<uint8_t>(bytes[i]));
  EXPECT_EQ(tok->decode(ids), bytes);
  EXPECT_EQ(tok->decode_token(0), std::string(1, '\0'));
  EXPECT_THROW(tok->decode_token(256), InvalidArgument);
  EXPECT_THROW(tok->decode({-1}), InvalidArgument);
}

TEST_F(TokenizerTest, SaveLoadEquality) {
  const std::string text = std::string(kShakespeare) + "\u00e9\u2603\t\"\\";
  auto tok = make_tokenizer("char", text);
  save_tokenizer(*tok, path("char.json"));
  auto loaded = load_tokenizer(path("char.json"));
  EXPECT_EQ(loaded->kind(), "char");
  EXPECT_EQ(loaded->to_json(), tok->to_json());
  EXPECT_EQ(loaded->vocab_size(), tok->vocab_size());
  EXPECT_EQ(loaded->encode(text), tok->encode(text));
  const auto j = nlohmann::json::parse(read_file(path("char.json")));
  EXPECT_EQ(j.at("nexus_tokenizer"), "char");
  EXPECT_EQ(j.at("version"), 1);
  EXPECT_EQ(j.at("vocab").at(0), "\t");

  auto byte = make_tokenizer("byte", "");
  save_tokenizer(*byte, path("byte.json"));
  auto byte_loaded = load_tokenizer(path("byte.json"));
  EXPECT_EQ(byte_loaded->kind(), "byte");
  EXPECT_EQ(byte_loaded->to_json(), (nlohmann::json{{"nexus_tokenizer", "byte"}, {"version", 1}}));
}

TEST_F(TokenizerTest, TinyShakespeareCharVocab) {
  NEXUS_NEED_SHARED_FILE(file, "tinyshakespeare.txt");
  const std::string text = read_file(file);
  auto tok = make_tokenizer("char", text);
  EXPECT_EQ(tok->vocab_size(), 65);  // as in nanoGPT's shakespeare_char
  EXPECT_EQ(tok->decode(tok->encode(text)), text);
}

TEST_F(TokenizerTest, MalformedTokenizerFiles) {
  const std::string p = path("t.json");
  expect_load_error(p, "{not json", "not valid JSON");
  expect_load_error(p, "", "not valid JSON");
  expect_load_error(p, "[1,2]", "not a JSON object");
  expect_load_error(p, "{}", "no 'nexus_tokenizer'");
  expect_load_error(p, R"({"model": {"type": "BPE"}})", "no pre_tokenizer");  // a Hugging Face file, incomplete
  expect_load_error(p, R"({"nexus_tokenizer": 3, "version": 1})", "not a string");
  expect_load_error(p, R"({"nexus_tokenizer": "wordpiece", "version": 1})", "unknown tokenizer kind 'wordpiece'");
  expect_load_error(p, R"({"nexus_tokenizer": "byte"})", "version");
  expect_load_error(p, R"({"nexus_tokenizer": "byte", "version": "1"})", "version");
  expect_load_error(p, R"({"nexus_tokenizer": "byte", "version": 2})", "unsupported tokenizer version 2");
  expect_load_error(p, R"({"nexus_tokenizer": "char", "version": 1})", "'vocab'");
  expect_load_error(p, R"({"nexus_tokenizer": "char", "version": 1, "vocab": "abc"})", "'vocab'");
  expect_load_error(p, R"({"nexus_tokenizer": "char", "version": 1, "vocab": []})", "empty");
  expect_load_error(p, R"({"nexus_tokenizer": "char", "version": 1, "vocab": ["a", 5]})", "vocab entry 1 is not a string");
  expect_load_error(p, R"({"nexus_tokenizer": "char", "version": 1, "vocab": ["a", "bc"]})", "vocab entry 1");
  expect_load_error(p, R"({"nexus_tokenizer": "char", "version": 1, "vocab": ["a", ""]})", "vocab entry 1");
  expect_load_error(p, R"({"nexus_tokenizer": "char", "version": 1, "vocab": ["b", "a"]})", "out of order");
  expect_load_error(p, R"({"nexus_tokenizer": "char", "version": 1, "vocab": ["a", "a"]})", "repeated");
  EXPECT_THROW(load_tokenizer(path("missing.json")), IoError);
}

TEST_F(TokenizerTest, UnknownSpec) {
  try {
    make_tokenizer("bpe50k", "text");
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("bpe50k"), std::string::npos);
  }
}
