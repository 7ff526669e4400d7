// The gpt4o split pattern (tiktoken's o200k_base, GPT-4o) and its place as the default:
// hand-checked splits (the exhaustive comparison with the `regex` module is in
// test_bpe_gpt2.cpp), training determinism, the tokenizer.json form, and the bytes per token
// it reaches on tinyshakespeare.
#include <gtest/gtest.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "shared_data.h"
#include "core/error.h"
#include "core/parallel.h"
#include "io/atomic_file.h"
#include "tokenizer/bpe.h"
#include "tokenizer/bpe_train.h"
#include "tokenizer/hf_json.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/tokenizer.h"
#include "train/data.h"

namespace fs = std::filesystem;
using namespace nexus;
using json = nlohmann::json;

namespace {

using V = std::vector<std::string>;

V split(std::string_view text) {
  V out;
  for (std::string_view s : pretokenize(text, SplitPattern::kGpt4o)) out.emplace_back(s);
  return out;
}

// tinyshakespeare, or "" when NEXUS_SHARED_DATA does not have it.
const std::string& shakespeare() {
  static const std::string text = [] {
    const std::string path = nexus_test::shared_data_file("tinyshakespeare.txt");
    return path.empty() ? std::string() : read_file(path);
  }();
  return text;
}

// Some English-like text with contractions, capitals and punctuation at line ends.
std::string small_corpus() {
  std::string t;
  for (int i = 0; i < 300; ++i)
    t += "KING HENRY:\nI'll tell thee, Kate; they're here. DON'T go!\nHelloWorld it's " + std::to_string(i) + "/7\n";
  return t;
}

}  // namespace

TEST(Gpt4oPattern, CaseAwareWordsAndGluedContractions) {
  EXPECT_EQ(split("HelloWorld"), (V{"Hello", "World"}));
  EXPECT_EQ(split("CamelCaseHTTPServer"), (V{"Camel", "Case", "HTTPServer"}));
  EXPECT_EQ(split("iPhone"), (V{"i", "Phone"}));
  EXPECT_EQ(split("\xC3\x89" "COLE"), (V{"\xC3\x89" "COLE"}));  // ÉCOLE: one upper-case word
  EXPECT_EQ(split("I'll don't"), (V{"I'll", " don't"}));        // gpt4: "I", "'ll", " don", "'t"
  EXPECT_EQ(split("CAN'T stop"), (V{"CAN'T", " stop"}));
  EXPECT_EQ(split("He'S"), (V{"He'S"}));
  EXPECT_EQ(split("rock'n'roll"), (V{"rock", "'n", "'roll"}));
  EXPECT_EQ(split("x'\xC5\xBF"), (V{"x'\xC5\xBF"}));  // (?i) folds U+017F 'ſ' to 's'
  EXPECT_EQ(split("\tHello"), (V{"\tHello"}));
  EXPECT_EQ(split("(hello) world"), (V{"(hello", ")", " world"}));
}

TEST(Gpt4oPattern, MarksModifiersNumbersAndSlashes) {
  // A combining mark is in both letter sets but is not \p{L}: as the first character it is
  // tried as the prefix, then as a word of its own, before "[U]+[W]*" would take "\u0301ABC".
  EXPECT_EQ(split("\xCC\x81" "ABC"), (V{"\xCC\x81", "ABC"}));
  // U+02B0 'ʰ' (Lm) is in both sets: "ĀʰĀ" backtracks [U]* to end the word after it.
  EXPECT_EQ(split("\xC4\x80\xCA\xB0\xC4\x80"), (V{"\xC4\x80\xCA\xB0", "\xC4\x80"}));
  EXPECT_EQ(split("1234567"), (V{"123", "456", "7"}));
  EXPECT_EQ(split("x 12"), (V{"x", " ", "12"}));
  EXPECT_EQ(split("x.\n/y"), (V{"x", ".\n/", "y"}));  // punctuation takes [\r\n/]*
  EXPECT_EQ(split("a/b/c"), (V{"a", "/b", "/c"}));
  EXPECT_EQ(split("end:\n\nNext"), (V{"end", ":\n\n", "Next"}));
  EXPECT_EQ(split("a \n  b"), (V{"a", " \n", " ", " b"}));
  EXPECT_EQ(split("a\xff\xfe b"), (V{"a", "\xff\xfe", " b"}));  // invalid bytes: "other" symbols
  EXPECT_EQ(split(""), V{});
}

TEST(Gpt4oTrain, DeterministicAcrossThreadsAndSavedAsO200k) {
  const std::string text = small_corpus();
  BpeTrainOptions o;
  o.vocab_size = 400;
  o.special_tokens = {"<|endoftext|>"};
  const int saved = num_threads();
  set_num_threads(1);
  const BpeTokenizer a(train_bpe({text}, o), "a");
  set_num_threads(2);
  const BpeTokenizer b(train_bpe({text}, o), "b");
  set_num_threads(saved);
  EXPECT_EQ(a.data().pattern, SplitPattern::kGpt4o);  // the default
  EXPECT_EQ(a.data().merges, b.data().merges);
  EXPECT_EQ(a.serialize(), b.serialize());
  // Contractions are part of their word, so merges may join a letter and the apostrophe after
  // it (never possible with gpt2 or gpt4, where "'" starts a pre-token).
  bool glued = false;
  for (const std::string& t : a.data().tokens)
    for (size_t i = 1; i < t.size(); ++i) glued |= t[i] == '\'' && std::isalpha(static_cast<unsigned char>(t[i - 1]));
  EXPECT_TRUE(glued);

  // tokenizer.json: a Split with tiktoken's o200k regex, read back as gpt4o.
  const json j = json::parse(a.serialize());
  const json& pre = j.at("pre_tokenizer");
  EXPECT_EQ(pre.at("type"), "Sequence");
  const json& split_json = pre.at("pretokenizers").at(0);
  EXPECT_EQ(split_json.at("type"), "Split");
  EXPECT_EQ(split_json.at("behavior"), "Isolated");
  EXPECT_EQ(split_json.at("pattern").at("Regex"), split_pattern_regex(SplitPattern::kGpt4o));
  const auto back = bpe_from_hf_json(j, "saved");
  EXPECT_EQ(back->data().pattern, SplitPattern::kGpt4o);
  EXPECT_EQ(back->serialize(), a.serialize());
  EXPECT_EQ(back->encode(text, true), a.encode(text, true));
  EXPECT_EQ(a.decode(a.encode(text)), text);
}

TEST(Gpt4oTrain, SplitBehaviorsThatKeepTheMatches) {
  BpeTrainOptions o;
  o.vocab_size = 300;
  const BpeTokenizer tok(train_bpe({small_corpus()}, o), "tok");
  const json saved = json::parse(tok.serialize());
  auto with = [&](const char* behavior, bool invert) {
    json j = saved;
    j["pre_tokenizer"]["pretokenizers"][0]["behavior"] = behavior;
    j["pre_tokenizer"]["pretokenizers"][0]["invert"] = invert;
    return j;
  };
  // Removed + invert (drop what lies between matches: nothing) is the same split.
  const auto removed = bpe_from_hf_json(with("Removed", true), "removed");
  EXPECT_EQ(removed->data().pattern, SplitPattern::kGpt4o);
  EXPECT_EQ(removed->encode(small_corpus()), tok.encode(small_corpus()));
  const std::vector<std::pair<const char*, bool>> odd = {{"Removed", false}, {"Isolated", true}, {"MergedWithPrevious", false}};
  for (const auto& [behavior, invert] : odd)
    EXPECT_THROW(bpe_from_hf_json(with(behavior, invert), "odd"), FormatError) << behavior << " " << invert;
  json changed = saved;
  changed["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] =
      std::string(split_pattern_regex(SplitPattern::kGpt4o)) + "|x";
  EXPECT_THROW(bpe_from_hf_json(changed, "changed"), FormatError);
}

// Issue 3: bpe:2000 (gpt4o by default) on tinyshakespeare's training split must reach 2.8
// validation bytes per token. 2.80098 comes from tools/bpe_train_reference.py, an independent
// Python twin of the trainer, the cut and the encoder with the `regex` module and o200k's
// pattern (cl100k's gets 2.79579); its merges and vocabulary are the same as the C++'s.
TEST(Gpt4oTrain, TinyshakespeareBytesPerToken) {
  NEXUS_NEED_SHARED_FILE(corpus_path, "tinyshakespeare.txt");
  const size_t cut = text_split_point(shakespeare(), 0.1);
  const std::string_view train = std::string_view(shakespeare()).substr(0, cut);
  const std::string_view val = std::string_view(shakespeare()).substr(cut);
  const auto tok = make_tokenizer("bpe:2000", train);
  EXPECT_EQ(dynamic_cast<const BpeTokenizer&>(*tok).data().pattern, SplitPattern::kGpt4o);
  const std::vector<int32_t> ids = tok->encode(val);
  const double bytes_per_token = static_cast<double>(val.size()) / static_cast<double>(ids.size());
  EXPECT_GE(bytes_per_token, 2.8);
  EXPECT_NEAR(bytes_per_token, 2.80098, 1e-5);
  EXPECT_EQ(tok->decode(ids), val);
}
