// Byte-level BPE: Unicode classes, pre-tokenizer rules, byte-level map, training
// (determinism, tie rule, special tokens), save/load, round-trip properties, streaming
// decode and the dataset pipeline.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "io/atomic_file.h"
#include "tokenizer/bpe.h"
#include "tokenizer/bpe_train.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/char_tokenizer.h"
#include "tokenizer/hf_json.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/unicode.h"
#include "train/data.h"

namespace fs = std::filesystem;
using namespace nexus;
using json = nlohmann::json;

namespace {

std::vector<std::string> split(std::string_view text, SplitPattern p) {
  std::vector<std::string> out;
  for (std::string_view s : pretokenize(text, p)) out.emplace_back(s);
  return out;
}

// A few kB of English-like text with punctuation, digits, newlines and some Unicode.
std::string corpus() {
  static const std::string text = [] {
    const char* words[] = {"the", "king", "queen", "and", "of", "to", "love", "night", "thou", "art", "sweet",
                           "death", "I'll", "don't", "we're", "1599", "42", "naïve", "café", "日本", "Привет"};
    Rng rng(3);
    std::string t;
    while (t.size() < 20000) {
      t += words[rng.below(std::size(words))];
      const uint64_t r = rng.below(20);
      t += r < 12 ? " " : r < 15 ? ", " : r < 17 ? ".\n" : r < 18 ? ":\n\n" : r < 19 ? "!  " : "\t";
    }
    return t;
  }();
  return text;
}

BpeTokenizer trained(int vocab, SplitPattern p, std::vector<std::string> specials = {}) {
  BpeTrainOptions o;
  o.vocab_size = vocab;
  o.pattern = p;
  o.special_tokens = std::move(specials);
  return BpeTokenizer(train_bpe({corpus()}, o), "test");
}

std::string random_bytes(Rng& rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng.below(4) == 0 ? rng.below(256) : " \n\tabcde'.,0123"[rng.below(14)]);
  return s;
}

std::string random_unicode(Rng& rng, size_t n) {
  static const uint32_t ranges[][2] = {{0x20, 0x7E}, {0xA0, 0x24F}, {0x300, 0x36F}, {0x400, 0x4FF}, {0x3000, 0x30FF},
                                       {0x4E00, 0x4FFF}, {0x1F300, 0x1F64F}, {0x2000, 0x206F}, {0x9, 0xD}};
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    const auto& r = ranges[rng.below(std::size(ranges))];
    utf8_append(s, r[0] + static_cast<uint32_t>(rng.below(r[1] - r[0] + 1)));
  }
  return s;
}

class BpeDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("nexus_test_bpe_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

}  // namespace

TEST(Unicode, CharacterClasses) {
  EXPECT_EQ(char_class('a'), CharClass::kLetter);
  EXPECT_EQ(char_class('7'), CharClass::kNumber);
  EXPECT_EQ(char_class(' '), CharClass::kSpace);
  EXPECT_EQ(char_class('\x0b'), CharClass::kSpace);
  EXPECT_EQ(char_class(0x1C), CharClass::kOther);     // Python's isspace() says yes, White_Space no
  EXPECT_EQ(char_class(0xE9), CharClass::kLetter);    // é
  EXPECT_EQ(char_class(0x0301), CharClass::kOther);   // combining acute (Mn)
  EXPECT_EQ(char_class(0x0663), CharClass::kNumber);  // Arabic-Indic three
  EXPECT_EQ(char_class(0x216B), CharClass::kNumber);  // roman numeral twelve (Nl)
  EXPECT_EQ(char_class(0x00B2), CharClass::kNumber);  // superscript two (No)
  EXPECT_EQ(char_class(0x3000), CharClass::kSpace);
  EXPECT_EQ(char_class(0x0085), CharClass::kSpace);
  EXPECT_EQ(char_class(0x00A0), CharClass::kSpace);
  EXPECT_EQ(char_class(0x200B), CharClass::kOther);   // zero-width space is not White_Space
  EXPECT_EQ(char_class(0x4E00), CharClass::kLetter);
  EXPECT_EQ(char_class(0x1F600), CharClass::kOther);  // emoji
  EXPECT_EQ(char_class(0x110000), CharClass::kOther);
  const std::string bad = "\xff";
  const CharInfo c = char_at(bad, 0);
  EXPECT_EQ(c.cls, CharClass::kOther);
  EXPECT_EQ(c.len, 1u);
  EXPECT_EQ(c.sets, 0);
}

TEST(Unicode, CaseSetsOfGpt4o) {
  const uint8_t both = kUpperSet | kLowerSet;
  EXPECT_EQ(case_sets('A'), kUpperSet);
  EXPECT_EQ(case_sets('z'), kLowerSet);
  EXPECT_EQ(case_sets('5'), 0);
  EXPECT_EQ(case_sets('\''), 0);
  EXPECT_EQ(case_sets(0x00C9), kUpperSet);  // É (Lu)
  EXPECT_EQ(case_sets(0x00DF), kLowerSet);  // ß (Ll)
  EXPECT_EQ(case_sets(0x01C5), kUpperSet);  // ǅ (Lt)
  EXPECT_EQ(case_sets(0x1F88), kUpperSet);  // ᾈ (Lt)
  EXPECT_EQ(case_sets(0x02B0), both);       // ʰ (Lm)
  EXPECT_EQ(case_sets(0x00AA), both);       // ª (Lo)
  EXPECT_EQ(case_sets(0x4E00), both);       // CJK (Lo)
  EXPECT_EQ(case_sets(0x0301), both);       // combining acute (Mn): in both sets, yet not a letter
  EXPECT_EQ(char_class(0x0301), CharClass::kOther);
  EXPECT_EQ(case_sets(0x0903), both);       // Devanagari visarga (Mc)
  EXPECT_EQ(case_sets(0x20DD), both);       // combining enclosing circle (Me)
  EXPECT_EQ(case_sets(0x2160), 0);          // roman numeral one (Nl): a number, no case set
  EXPECT_EQ(case_sets(0x24B6), 0);          // circled A (So)
  EXPECT_EQ(case_sets(0x10400), kUpperSet); // Deseret capital long I
  EXPECT_EQ(case_sets(0x10428), kLowerSet);
  EXPECT_EQ(case_sets(0x017F), kLowerSet);  // ſ
  EXPECT_EQ(case_sets(0x110000), 0);
  EXPECT_EQ(char_at("\xC7\x85", 0).sets, kUpperSet);
  EXPECT_EQ(char_at("a", 0).sets, kLowerSet);
}

TEST(Pretokenize, Gpt2Rules) {
  using V = std::vector<std::string>;
  const auto g2 = SplitPattern::kGpt2;
  EXPECT_EQ(split("Hello world", g2), (V{"Hello", " world"}));
  EXPECT_EQ(split("a  b", g2), (V{"a", " ", " b"}));  // \s+(?!\S) leaves one space for the word
  EXPECT_EQ(split("a\t\tb", g2), (V{"a", "\t", "\t", "b"}));
  EXPECT_EQ(split("end   ", g2), (V{"end", "   "}));
  EXPECT_EQ(split("I'm don't", g2), (V{"I", "'m", " don", "'t"}));
  EXPECT_EQ(split("DON'T", g2), (V{"DON", "'", "T"}));  // gpt2 contractions are case-sensitive
  EXPECT_EQ(split("x 123abc", g2), (V{"x", " 123", "abc"}));
  EXPECT_EQ(split("hi!!! ?", g2), (V{"hi", "!!!", " ?"}));
  EXPECT_EQ(split("a\xff\xfe b", g2), (V{"a", "\xff\xfe", " b"}));  // invalid bytes: "other" symbols
  EXPECT_EQ(split("", g2), V{});
}

TEST(Pretokenize, Gpt4Rules) {
  using V = std::vector<std::string>;
  const auto g4 = SplitPattern::kGpt4;
  EXPECT_EQ(split("DON'T stop", g4), (V{"DON", "'T", " stop"}));
  EXPECT_EQ(split("1234567", g4), (V{"123", "456", "7"}));
  EXPECT_EQ(split("(hello) world", g4), (V{"(hello", ")", " world"}));
  EXPECT_EQ(split("end:\n\nNext", g4), (V{"end", ":\n\n", "Next"}));
  EXPECT_EQ(split("a \n  b", g4), (V{"a", " \n", " ", " b"}));
  EXPECT_EQ(split("x 12", g4), (V{"x", " ", "12"}));
  EXPECT_EQ(split("it\xC5\xBFs", g4), (V{"it\xC5\xBFs"}));     // 'ſ' alone is a letter...
  EXPECT_EQ(split("'\xC5\xBF!", g4), (V{"'\xC5\xBF", "!"}));         // ...and after ' it folds to 's'
}

TEST(Pretokenize, ThreadSplitsArePretokenBoundaries) {
  Rng rng(11);
  for (int trial = 0; trial < 30; ++trial) {
    std::string text;
    while (text.size() < 4000) {
      static const char* seps[] = {"x\nY", "x\nY", ".\n/", "\n\n ", "a\n'S"};
      text += random_unicode(rng, 5) + seps[rng.below(std::size(seps))] + random_bytes(rng, 4);
    }
    for (SplitPattern p : kSplitPatterns) {
      const auto whole = split(text, p);
      std::vector<std::string> joined;
      const std::vector<size_t> cuts = split_for_threads(text, 7);
      ASSERT_GE(cuts.size(), 2u);
      EXPECT_EQ(cuts.back(), text.size());
      for (size_t i = 0; i + 1 < cuts.size(); ++i)
        for (auto& s : split(std::string_view(text).substr(cuts[i], cuts[i + 1] - cuts[i]), p)) joined.push_back(s);
      EXPECT_EQ(joined, whole);
    }
  }
}

TEST(ByteLevel, Gpt2ByteMap) {
  EXPECT_EQ(byte_to_unicode(' '), 0x120u);   // 'Ġ'
  EXPECT_EQ(byte_to_unicode('\n'), 0x10Au);  // 'Ċ'
  EXPECT_EQ(byte_to_unicode('!'), uint32_t{'!'});
  EXPECT_EQ(byte_to_unicode(0xAD), 0x143u);  // soft hyphen is not printable
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  const std::string spelled = bytes_to_byte_level(all);
  EXPECT_EQ(byte_level_to_bytes(spelled), all);
  EXPECT_EQ(byte_level_to_bytes(" "), std::nullopt);  // a raw space is not in the alphabet
  EXPECT_EQ(byte_level_to_bytes("\xff"), std::nullopt);
  EXPECT_EQ(byte_level_to_bytes("\xC4\xA0hi"), " hi");
}

TEST(BpeTrain, DeterministicAcrossRunsAndThreads) {
  const int saved = num_threads();
  set_num_threads(1);
  const BpeTokenizer a = trained(330, SplitPattern::kGpt4);
  set_num_threads(2);
  const BpeTokenizer b = trained(330, SplitPattern::kGpt4);
  set_num_threads(saved);
  EXPECT_EQ(a.vocab_size(), 330);
  EXPECT_EQ(a.data().merges, b.data().merges);
  EXPECT_EQ(a.data().tokens, b.data().tokens);
  EXPECT_EQ(a.serialize(), b.serialize());
  for (int id = 0; id < 256; ++id) EXPECT_EQ(a.decode_token(id), std::string(1, static_cast<char>(id)));
}

TEST(BpeTrain, MostFrequentPairFirstAndTieRule) {
  // Each text is pre-tokenized on its own, so these are whole words: "cd" x6, "ab" x4, "xy" x4.
  std::vector<std::string_view> texts;
  for (int i = 0; i < 6; ++i) texts.push_back("cd");
  for (int i = 0; i < 4; ++i) texts.insert(texts.end(), {"xy", "ab"});
  BpeTrainOptions o;
  o.vocab_size = 259;
  const BpeData d = train_bpe(texts, o);
  ASSERT_EQ(d.merges.size(), 3u);
  EXPECT_EQ(d.tokens[256], "cd");  // the most frequent pair
  EXPECT_EQ(d.tokens[257], "ab");  // ties at 4: the smaller (left id, right id) wins
  EXPECT_EQ(d.tokens[258], "xy");
  EXPECT_EQ(d.merges[1], (std::pair<int32_t, int32_t>{'a', 'b'}));
  // Words of three symbols: "abc" x3 and "bcd" x2 -> (b,c) is counted 5 times and wins.
  const BpeData e = train_bpe({"abc", "abc", "abc", "bcd", "bcd"}, BpeTrainOptions{257, SplitPattern::kGpt2, {}});
  EXPECT_EQ(e.tokens[256], "bc");
}

TEST(BpeTrain, SpecialTokensAreNotLearned) {
  BpeTrainOptions o;
  o.vocab_size = 262;
  o.special_tokens = {"<|endoftext|>"};
  std::string text;
  for (int i = 0; i < 200; ++i) text += "some text<|endoftext|>";
  BpeTokenizer tok(train_bpe({text}, o), "special");
  EXPECT_EQ(tok.vocab_size(), 262);
  EXPECT_EQ(tok.added_token_id("<|endoftext|>"), 261);
  for (int id = 0; id < 261; ++id) EXPECT_EQ(tok.decode_token(id).find("endof"), std::string::npos) << id;
  EXPECT_EQ(tok.encode("text<|endoftext|>", true).back(), 261);
  EXPECT_NE(tok.encode("text<|endoftext|>", false).back(), 261);
  EXPECT_THROW(train_bpe({text}, BpeTrainOptions{256, SplitPattern::kGpt2, {"<s>"}}), InvalidArgument);
  EXPECT_THROW(train_bpe({text}, BpeTrainOptions{300, SplitPattern::kGpt2, {"<s>", "<s>"}}), InvalidArgument);
}

TEST(BpeTrain, StopsWhenNoPairIsLeft) {
  BpeTrainOptions o;
  o.vocab_size = 5000;
  const BpeData d = train_bpe({"abc abc"}, o);
  EXPECT_LT(d.tokens.size(), 270u);
  BpeTokenizer tok(d, "tiny");
  EXPECT_EQ(tok.encode("abc abc").size(), 2u);
}

TEST(BpeRoundTrip, RandomBytesAndUnicode) {
  Rng rng(5);
  for (SplitPattern p : kSplitPatterns) {
    const BpeTokenizer tok = trained(500, p, {"<|endoftext|>"});
    for (int i = 0; i < 300; ++i) {
      const std::string bytes = random_bytes(rng, rng.below(200));
      EXPECT_EQ(tok.decode(tok.encode(bytes)), bytes);
      const std::string text = random_unicode(rng, rng.below(80)) + "<|endoftext|>" + random_unicode(rng, 5);
      EXPECT_EQ(tok.decode(tok.encode(text)), text);
      EXPECT_EQ(tok.decode(tok.encode(text, true)), text);
    }
    EXPECT_TRUE(tok.encode("").empty());
    EXPECT_TRUE(tok.encode_parallel("", true, 4).empty());
    std::string long_piece(5000, 'e');  // one pre-token: the heap path
    EXPECT_EQ(tok.decode(tok.encode(long_piece)), long_piece);
  }
}

TEST(BpeFormat, SaveLoadEncodesIdentically) {
  Rng rng(9);
  for (SplitPattern p : kSplitPatterns) {
    const BpeTokenizer tok = trained(700, p, {"<|endoftext|>", "<pad>"});
    const std::string text = tok.serialize();
    auto loaded = bpe_from_hf_json(json::parse(text), "saved");
    EXPECT_EQ(loaded->data().pattern, p);
    EXPECT_EQ(loaded->serialize(), text);
    EXPECT_EQ(bpe_to_hf_json(*loaded), json::parse(text));
    // The ["a", "b"] merge form (tokenizers >= 0.20) loads to the same tokenizer.
    json j = json::parse(text);
    for (json& m : j["model"]["merges"]) {
      const std::string s = m.get<std::string>();
      m = json::array({s.substr(0, s.find(' ')), s.substr(s.find(' ') + 1)});
    }
    auto arrays = bpe_from_hf_json(j, "array merges");
    for (int i = 0; i < 100; ++i) {
      const std::string s = random_unicode(rng, 40) + "<pad>" + corpus().substr(rng.below(19000), 300);
      EXPECT_EQ(loaded->encode(s, true), tok.encode(s, true));
      EXPECT_EQ(arrays->encode(s), tok.encode(s));
    }
  }
}

TEST(StreamDecode, HoldsIncompleteCharacters) {
  EXPECT_EQ(utf8_incomplete_tail(""), 0u);
  EXPECT_EQ(utf8_incomplete_tail("abc"), 0u);
  EXPECT_EQ(utf8_incomplete_tail("a\xC3"), 1u);
  EXPECT_EQ(utf8_incomplete_tail("a\xE6\x97"), 2u);
  EXPECT_EQ(utf8_incomplete_tail("\xF0\x9F\x98"), 3u);
  EXPECT_EQ(utf8_incomplete_tail("\xF0\x9F\x98\x80"), 0u);
  EXPECT_EQ(utf8_incomplete_tail("\xFF"), 0u);      // can never complete: pass it through
  EXPECT_EQ(utf8_incomplete_tail("\xE0\x80"), 0u);  // overlong: already broken
  EXPECT_EQ(utf8_incomplete_tail("\xC3\xA9\x80"), 0u);
  // A byte tokenizer streams "é" as two tokens: nothing, then the whole character.
  const BpeTokenizer tok = trained(300, SplitPattern::kGpt2);
  StreamDecoder dec(tok);
  EXPECT_EQ(dec.push(0xC3), "");
  EXPECT_EQ(dec.push(0xA9), "\xC3\xA9");
  EXPECT_EQ(dec.push(0xE6), "");
  EXPECT_EQ(dec.push('x'), "\xE6x");  // broken sequence: passed through as is
  EXPECT_EQ(dec.push(0xF0), "");
  EXPECT_EQ(dec.finish(), "\xF0");
  EXPECT_THROW(dec.push(-1), InvalidArgument);
}

TEST(BpeSpec, MakeAndLoad) {
  auto tok = make_tokenizer("bpe:300", corpus());
  EXPECT_EQ(tok->kind(), "bpe");
  EXPECT_EQ(tok->vocab_size(), 300);
  EXPECT_EQ(dynamic_cast<BpeTokenizer&>(*tok).data().pattern, SplitPattern::kGpt4o);  // the default
  EXPECT_EQ(kDefaultSplitPattern, SplitPattern::kGpt4o);
  EXPECT_EQ(BpeTrainOptions().pattern, SplitPattern::kGpt4o);
  for (SplitPattern p : kSplitPatterns) {
    auto named = make_tokenizer(std::string("bpe:300:") + split_pattern_name(p), corpus());
    EXPECT_EQ(dynamic_cast<BpeTokenizer&>(*named).data().pattern, p);
  }
  EXPECT_EQ(parse_split_pattern("gpt4o"), SplitPattern::kGpt4o);
  EXPECT_THROW(parse_split_pattern("o200k"), InvalidArgument);
  EXPECT_THROW(make_tokenizer("bpe:abc", corpus()), InvalidArgument);
  EXPECT_THROW(make_tokenizer("bpe:100", corpus()), InvalidArgument);
  EXPECT_THROW(make_tokenizer("bpe:300:gpt3", corpus()), InvalidArgument);
  EXPECT_TRUE(is_bpe_spec("bpe:300"));
  EXPECT_FALSE(is_bpe_spec("char"));
}

TEST_F(BpeDirTest, LoadFromFileAndDirectory) {
  const BpeTokenizer tok = trained(400, SplitPattern::kGpt2);
  save_tokenizer(tok, path("tokenizer.json"));
  auto from_file = load_tokenizer(path("tokenizer.json"));
  auto from_dir = load_tokenizer(dir_.string());
  EXPECT_EQ(from_file->kind(), "bpe");
  EXPECT_EQ(from_file->encode(corpus()), tok.encode(corpus()));
  EXPECT_EQ(from_dir->encode(corpus()), tok.encode(corpus()));
  fs::create_directories(path("empty"));
  EXPECT_THROW(load_tokenizer(path("empty")), IoError);
}

TEST_F(BpeDirTest, PrepareTrainsOnTheTrainingSplitOnly) {
  std::string text = corpus();
  text += "\nZQZQ ZQZQ ZQZQ ZQZQ ZQZQ ZQZQ ZQZQ ZQZQ ZQZQ ZQZQ\n";  // only in the validation part
  write_file_atomic(path("in.txt"), text);
  const DatasetMeta meta = prepare_dataset(path("in.txt"), path("ds"), "bpe:330", 0.1);
  EXPECT_EQ(meta.tokenizer, "bpe:330");
  EXPECT_EQ(meta.vocab_size, 330);
  EXPECT_EQ(meta.train_bytes + meta.val_bytes, static_cast<int64_t>(text.size()));
  EXPECT_EQ(static_cast<size_t>(meta.train_bytes), text_split_point(text, 0.1));
  EXPECT_EQ(text[meta.train_bytes - 1], '\n');
  auto tok = load_tokenizer(path("ds/tokenizer.json"));
  for (int id = 0; id < tok->vocab_size(); ++id) EXPECT_EQ(tok->decode_token(id).find("ZQ"), std::string::npos);
  const DatasetMeta loaded = load_dataset_meta(path("ds"));
  EXPECT_EQ(loaded.train_bytes, meta.train_bytes);
  EXPECT_EQ(loaded.val_bytes, meta.val_bytes);
  std::vector<int32_t> ids;
  for (const char* split : {"train", "val"}) {
    const TokenFile f = open_split(path("ds"), loaded, split);
    for (int64_t i = 0; i < f.size(); ++i) ids.push_back(f[i]);
  }
  EXPECT_EQ(tok->decode(ids), text);
  EXPECT_GT(double(meta.val_bytes) / double(meta.val_tokens), 1.5);
  // An existing tokenizer by path gives the same ids.
  const DatasetMeta again = prepare_dataset(path("in.txt"), path("ds2"), path("ds/tokenizer.json"), 0.1);
  EXPECT_EQ(again.train_tokens, meta.train_tokens);
  EXPECT_EQ(again.val_tokens, meta.val_tokens);
  EXPECT_THROW(prepare_dataset(path("in.txt"), path("ds3"), path("missing.json")), InvalidArgument);
}
