// GGUF vocabularies (infer/gguf_model.h: gguf_vocab, gguf_tokenizer): the GPT-2 byte-level
// strings of char, byte and BPE tokenizers, merges equal to a BPE's own, padding ids and the
// end-of-text id, and a transcription of llama.cpp's BPE loop (llm_tokenizer_bpe_session:
// one byte-level symbol per byte, merge the adjacent pair of lowest rank by text, look the
// final symbols up by text) that must tokenize exactly like Nexus; then vocabularies read back
// from tokenizer.ggml.* (what llama.cpp's converter writes), and their errors.
#include <gtest/gtest.h>

#include <climits>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "shared_data.h"
#include "core/error.h"
#include "gguf_test_util.h"
#include "infer/gguf_model.h"
#include "io/gguf.h"
#include "tokenizer/bpe.h"
#include "tokenizer/bpe_train.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/byte_tokenizer.h"
#include "tokenizer/char_tokenizer.h"
#include "tokenizer/hf_json.h"
#include "tokenizer/pretokenize.h"

namespace nexus {
namespace {

// llama.cpp's BPE over a GGUF vocabulary, transcribed (pre-tokens from Nexus's splitter, which
// implements the same regular expressions). ignore_merges: a piece that is a token is taken
// whole, as llama.cpp does for "llama-bpe".
std::vector<int32_t> llama_bpe(const GgufVocab& v, std::string_view text, SplitPattern pattern,
                               bool ignore_merges = false) {
  std::map<std::string, int32_t> ids;
  for (size_t i = 0; i < v.tokens.size(); i++)
    if (v.token_type[i] == 1) ids[v.tokens[i]] = (int32_t)i;
  std::map<std::pair<std::string, std::string>, int> ranks;
  for (size_t r = 0; r < v.merges.size(); r++) {
    const size_t sp = v.merges[r].find(' ', 1);
    ranks.emplace(std::make_pair(v.merges[r].substr(0, sp), v.merges[r].substr(sp + 1)), (int)r);
  }
  std::vector<int32_t> out;
  for (std::string_view piece : pretokenize(text, pattern)) {
    if (ignore_merges && ids.count(bytes_to_byte_level(piece))) {
      out.push_back(ids[bytes_to_byte_level(piece)]);
      continue;
    }
    std::vector<std::string> sym;
    for (char b : piece) sym.push_back(bytes_to_byte_level(std::string(1, b)));
    for (;;) {
      int best = INT_MAX;
      size_t at = 0;
      for (size_t i = 0; i + 1 < sym.size(); i++) {
        const auto it = ranks.find({sym[i], sym[i + 1]});
        if (it != ranks.end() && it->second < best) best = it->second, at = i;
      }
      if (best == INT_MAX) break;
      sym[at] += sym[at + 1];
      sym.erase(sym.begin() + (long)at + 1);
    }
    for (const std::string& s : sym) {
      if (!ids.count(s)) {
        ADD_FAILURE() << "symbol '" << s << "' is no token";
        return {};
      }
      out.push_back(ids[s]);
    }
  }
  return out;
}

const std::string kMixed =
    "Hello, World!\n\n  It's 2024 \xE2\x80\x94 caf\xC3\xA9 cr\xC3\xA8me \xF0\x9F\x98\x80\ttabs\r\n";

std::string shakespeare(size_t bytes) {
  // Without the shared data a repeated line stands in (round trips need text, not that text);
  // under CI=true the data must be there.
  const std::string path = nexus_test::shared_data_file("tinyshakespeare.txt");
  if (path.empty() && nexus_test::running_in_ci()) ADD_FAILURE() << "CI=true and tinyshakespeare.txt not found";
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  if (text.empty())
    for (int i = 0; i < 200; i++) text += "First Citizen:\nWe are accounted poor citizens, the patricians good.\n";
  return text.substr(0, bytes);
}

TEST(GgufVocab, ByteTokensAreTheByteLevelAlphabet) {
  const GgufVocab v = gguf_vocab(ByteTokenizer(), 256);
  ASSERT_EQ(v.tokens.size(), 256u);
  EXPECT_EQ(v.tokens[32], "\xC4\xA0");  // Ġ
  EXPECT_EQ(v.tokens[10], "\xC4\x8A");  // Ċ
  EXPECT_EQ(v.tokens[0], "\xC4\x80");   // Ā
  EXPECT_EQ(v.tokens['A'], "A");
  EXPECT_EQ(v.tokens[255], "\xC3\xBF");  // ÿ
  EXPECT_EQ(v.token_type, std::vector<int32_t>(256, 1));
  EXPECT_TRUE(v.merges.empty());
  EXPECT_EQ(v.pre, "gpt-2");
  EXPECT_FALSE(v.eos.has_value());
  EXPECT_EQ(llama_bpe(v, kMixed, SplitPattern::kGpt2), ByteTokenizer().encode(kMixed));
  // Model rows past the tokenizer: unused placeholders, the first one the end-of-text id.
  const GgufVocab padded = gguf_vocab(ByteTokenizer(), 300);
  ASSERT_EQ(padded.tokens.size(), 300u);
  EXPECT_EQ(padded.tokens[256], "[PAD256]");
  EXPECT_EQ(padded.token_type[299], 5);
  EXPECT_EQ(padded.eos, 256u);
  EXPECT_THROW(gguf_vocab(ByteTokenizer(), 255), InvalidArgument);
}

TEST(GgufVocab, CharTokensSpellTheirBytesAndMergeChainsBuildThem) {
  const CharTokenizer tok = CharTokenizer::from_corpus(kMixed + "abcdefghijklmnopqrstuvwxyz0123456789");
  const GgufVocab v = gguf_vocab(tok, tok.vocab_size());
  auto id = [&](const std::string& ch) { return tok.encode(ch).at(0); };
  EXPECT_EQ(v.tokens[id("\n")], "\xC4\x8A");
  EXPECT_EQ(v.tokens[id(" ")], "\xC4\xA0");
  EXPECT_EQ(v.tokens[id("\xC3\xA9")], "\xC3\x83\xC2\xA9");  // é = bytes C3 A9 = "Ã©"
  EXPECT_EQ(v.tokens[id("e")], "e");
  // é and è: one merge each; — (3 bytes): two; the emoji (4 bytes): three.
  EXPECT_EQ(v.merges.size(), 7u);
  EXPECT_EQ(v.merges[0], "\xC3\x83 \xC2\xA8");  // "Ã ¨": è comes first in code point order
  EXPECT_EQ(v.merges[1], "\xC3\x83 \xC2\xA9");  // "Ã ©"
  EXPECT_EQ(llama_bpe(v, kMixed, SplitPattern::kGpt2), tok.encode(kMixed));
  EXPECT_EQ(llama_bpe(v, "\xC3\xA8\xC3\xA9\xC3\xA9 \xF0\x9F\x98\x80\xF0\x9F\x98\x80", SplitPattern::kGpt2),
            tok.encode("\xC3\xA8\xC3\xA9\xC3\xA9 \xF0\x9F\x98\x80\xF0\x9F\x98\x80"));
}

TEST(GgufVocab, BpeTokensAndMergesAreTheTokenizersOwn) {
  const std::string corpus = shakespeare(60000);
  const std::map<SplitPattern, std::string> pre = {
      {SplitPattern::kGpt2, "gpt-2"}, {SplitPattern::kGpt4, "llama-bpe"}, {SplitPattern::kGpt4o, "gpt-4o"}};
  for (SplitPattern pattern : kSplitPatterns) {
    SCOPED_TRACE(split_pattern_name(pattern));
    const BpeTrainOptions options{.vocab_size = 600, .pattern = pattern, .special_tokens = {"<|endoftext|>"}};
    const BpeTokenizer tok(train_bpe({corpus}, options), "trained");
    const BpeData& d = tok.data();
    const GgufVocab v = gguf_vocab(tok, 640);
    EXPECT_EQ(v.pre, pre.at(pattern));
    ASSERT_EQ(v.merges.size(), d.merges.size());
    for (size_t r = 0; r < d.merges.size(); r++)
      ASSERT_EQ(v.merges[r], bytes_to_byte_level(d.tokens[d.merges[r].first]) + " " +
                                 bytes_to_byte_level(d.tokens[d.merges[r].second]));
    const int32_t eot = tok.added_token_id("<|endoftext|>");
    EXPECT_EQ(v.tokens[eot], "<|endoftext|>");
    EXPECT_EQ(v.token_type[eot], 3);
    EXPECT_EQ(v.eos, (uint32_t)eot);  // the real end-of-text token, not a padding id
    EXPECT_EQ(v.token_type[600], 5);
    const std::string text = shakespeare(3000) + kMixed;
    EXPECT_EQ(llama_bpe(v, text, pattern, pattern == SplitPattern::kGpt4), tok.encode(text));
    // Read back from the keys alone (a foreign conversion): the pre name gives the pattern.
    const std::vector<GgufKV> keys = {{"tokenizer.ggml.model", "gpt2"},
                                      {"tokenizer.ggml.pre", v.pre},
                                      {"tokenizer.ggml.tokens", v.tokens},
                                      {"tokenizer.ggml.token_type", v.token_type},
                                      {"tokenizer.ggml.merges", v.merges}};
    const auto back = gguf_tokenizer(GgufFile::from_bytes(gguf_to_bytes(keys, {})), 640);
    ASSERT_NE(back, nullptr);
    EXPECT_EQ(dynamic_cast<const BpeTokenizer&>(*back).data().pattern, pattern);
    EXPECT_EQ(back->encode(text), tok.encode(text));
  }
  // llama.cpp's other names for the same regular expressions.
  for (const auto& [name, pattern] : std::vector<std::pair<std::string, SplitPattern>>{
           {"llama3", SplitPattern::kGpt4}, {"llama-v3", SplitPattern::kGpt4}, {"llama4", SplitPattern::kGpt4o}}) {
    const GgufVocab v = gguf_vocab(ByteTokenizer(), 256);
    const auto back = gguf_tokenizer(
        GgufFile::from_bytes(gguf_to_bytes({{"tokenizer.ggml.model", "gpt2"}, {"tokenizer.ggml.pre", name},
                                            {"tokenizer.ggml.tokens", v.tokens}, {"tokenizer.ggml.merges", v.merges}},
                                           {})),
        256);
    EXPECT_EQ(dynamic_cast<const BpeTokenizer&>(*back).data().pattern, pattern) << name;
  }
}

TEST(GgufVocab, Gpt2VocabularyRoundTripsThroughGgufKeys) {
  NEXUS_NEED_SHARED_FILE(encoder, "gpt2/encoder.json");
  const auto gpt2 = load_gpt2_dir(nexus_test::shared_data_dir() + "/gpt2");
  const GgufVocab v = gguf_vocab(*gpt2, 50257);
  EXPECT_EQ(v.tokens[220], "\xC4\xA0");
  EXPECT_EQ(v.tokens[50256], "<|endoftext|>");
  EXPECT_EQ(v.token_type[50256], 3);
  EXPECT_EQ(v.eos, 50256u);
  EXPECT_EQ(v.merges[0], "\xC4\xA0 t");  // vocab.bpe's first merge, "Ġ t"
  const std::string text = shakespeare(4000) + kMixed;
  EXPECT_EQ(llama_bpe(v, text, SplitPattern::kGpt2), gpt2->encode(text));
  // Read back from the keys alone, as from a llama.cpp conversion of GPT-2.
  const GgufFile f = GgufFile::from_bytes(gguf_to_bytes(
      {{"tokenizer.ggml.model", "gpt2"}, {"tokenizer.ggml.pre", "gpt-2"}, {"tokenizer.ggml.tokens", v.tokens},
       {"tokenizer.ggml.token_type", v.token_type}, {"tokenizer.ggml.merges", v.merges}},
      {}));
  const auto back = gguf_tokenizer(f, 50257);
  ASSERT_NE(back, nullptr);
  EXPECT_EQ(back->encode(text), gpt2->encode(text));
  EXPECT_EQ(dynamic_cast<const BpeTokenizer&>(*back).added_token_id("<|endoftext|>"), 50256);
}

TEST(GgufVocab, BadVocabulariesAreErrors) {
  // Two ids with one spelling: llama.cpp would fail its token_to_id check.
  BpeData d;
  for (int b = 0; b < 256; b++) d.tokens.emplace_back(1, (char)b);
  d.tokens.push_back("a");
  d.added.push_back({256, "a", true});
  EXPECT_THROW(gguf_vocab(BpeTokenizer(d, "test"), 257), InvalidArgument);
  // Files: each one FormatError naming it.
  const GgufVocab v = gguf_vocab(ByteTokenizer(), 256);
  auto load = [&](std::vector<GgufKV> kv, int vocab_size = 256) {
    return gguf_tokenizer(GgufFile::from_bytes(gguf_to_bytes(kv, {}), "vocab.gguf"), vocab_size);
  };
  const std::vector<GgufKV> good = {{"tokenizer.ggml.model", "gpt2"},
                                    {"tokenizer.ggml.pre", "gpt-2"},
                                    {"tokenizer.ggml.tokens", v.tokens},
                                    {"tokenizer.ggml.merges", std::vector<std::string>{}}};
  EXPECT_EQ(load(good)->encode("hi"), (std::vector<int32_t>{'h', 'i'}));
  EXPECT_EQ(load({}), nullptr);  // no tokenizer at all
  auto expect_error = [&](std::vector<GgufKV> kv, const std::string& what, int vocab_size = 256) {
    try {
      load(std::move(kv), vocab_size);
      ADD_FAILURE() << "no error for " << what;
    } catch (const FormatError& e) {
      EXPECT_NE(std::string(e.what()).find("vocab.gguf"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  auto with = [&](const std::string& key, GgufValue value) {
    std::vector<GgufKV> kv = good;
    testutil::set_kv(kv, key, std::move(value));
    return kv;
  };
  expect_error(with("tokenizer.ggml.model", "llama"), "llama");
  expect_error(with("tokenizer.ggml.pre", "deepseek-llm"), "deepseek-llm");
  expect_error(with("tokenizer.ggml.merges", std::vector<std::string>{"xy z"}), "xy z");
  expect_error(with("tokenizer.ggml.merges", std::vector<std::string>{"x y"}), "result");  // xy is no token
  expect_error(with("tokenizer.ggml.token_type", std::vector<int32_t>{1, 1}), "token_type");
  expect_error(with("tokenizer.ggml.tokens", uint32_t{3}), "tokenizer.ggml.tokens");
  std::vector<std::string> odd = v.tokens;
  odd[7] = "\xE2\x82\xAC";  // € is not in the byte-level alphabet
  expect_error(with("tokenizer.ggml.tokens", odd), "token 7");
  expect_error(good, "256 ids, more than the model's 200", 200);
  expect_error(with("nexus.tokenizer", std::string("{\"nexus_tokenizer\": \"word\", \"version\": 1}")), "word");
}

}  // namespace
}  // namespace nexus
