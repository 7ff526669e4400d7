// GPT-2 exactness: Nexus's byte-level BPE with OpenAI's encoder.json + vocab.bpe must give
// the ids of OpenAI's encoder.py (tests/golden/gpt2_tokens.json, made by
// tools/gpt2_reference.py), and its pre-tokenizer must split like the `regex` module under
// each of the gpt2, gpt4 and gpt4o patterns, whose regular expressions the file records.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "shared_data.h"
#include "core/error.h"
#include "core/rng.h"
#include "io/atomic_file.h"
#include "tokenizer/bpe.h"
#include "tokenizer/char_tokenizer.h"
#include "tokenizer/hf_json.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"

namespace fs = std::filesystem;
using namespace nexus;
using json = nlohmann::json;

namespace {

std::string gpt2_dir() { return nexus_test::shared_data_dir() + "/gpt2"; }

// The GPT-2 tokenizer, loaded once for all tests (nullptr if the files are absent).
const BpeTokenizer* gpt2() {
  static std::unique_ptr<BpeTokenizer> tok = [] {
    const std::string dir = gpt2_dir();
    std::error_code ec;
    if (dir.empty() || !fs::exists(fs::path(dir) / "vocab.bpe", ec)) return std::unique_ptr<BpeTokenizer>();
    return load_gpt2_dir(dir);
  }();
  return tok.get();
}

#define NEED_GPT2()                                  \
  NEXUS_NEED_SHARED_FILE(gpt2_vocab_, "gpt2/vocab.bpe"); \
  const BpeTokenizer* tok = gpt2();                  \
  ASSERT_NE(tok, nullptr)

std::string from_hex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

struct GoldenCase {
  std::string kind, bytes;
  std::vector<int32_t> ids;
  std::vector<size_t> gpt2_split, gpt4_split, gpt4o_split;
};

const json& golden_doc() {
  static const json doc = json::parse(read_file(std::string(NEXUS_SOURCE_DIR) + "/tests/golden/gpt2_tokens.json"));
  return doc;
}

const std::vector<GoldenCase>& golden() {
  static const std::vector<GoldenCase> cases = [] {
    const json& doc = golden_doc();
    std::vector<GoldenCase> out;
    for (const json& c : doc.at("cases")) {
      GoldenCase g;
      g.kind = c.at("kind").get<std::string>();
      g.bytes = c.contains("text") ? c.at("text").get<std::string>() : from_hex(c.at("hex").get<std::string>());
      g.ids = c.at("ids").get<std::vector<int32_t>>();
      g.gpt2_split = c.at("gpt2_split").get<std::vector<size_t>>();
      g.gpt4_split = c.at("gpt4_split").get<std::vector<size_t>>();
      g.gpt4o_split = c.at("gpt4o_split").get<std::vector<size_t>>();
      out.push_back(std::move(g));
    }
    return out;
  }();
  return cases;
}

std::vector<size_t> split_lengths(std::string_view text, SplitPattern p) {
  std::vector<size_t> out;
  for (std::string_view piece : pretokenize(text, p)) out.push_back(piece.size());
  return out;
}

std::string show(const std::string& s) { return json(std::string(s)).dump(-1, ' ', true, json::error_handler_t::replace); }

// OpenAI's algorithm, naively: merge every occurrence of the lowest-rank pair, repeat.
// (rank and id_of are built once: the tests use one tokenizer.)
std::vector<int32_t> naive_bpe(const BpeTokenizer& tok, std::string_view piece) {
  const BpeData& d = tok.data();
  static std::map<std::pair<int32_t, int32_t>, int32_t> rank;
  static std::map<std::string, int32_t> id_of;
  if (rank.empty()) {
    for (size_t r = 0; r < d.merges.size(); ++r) rank.emplace(d.merges[r], static_cast<int32_t>(r));
    for (size_t i = 0; i < d.tokens.size(); ++i) id_of.emplace(d.tokens[i], static_cast<int32_t>(i));
  }
  std::vector<int32_t> w;
  for (char c : piece) w.push_back(id_of.at(std::string(1, c)));
  while (w.size() > 1) {
    std::pair<int32_t, int32_t> best{-1, -1};
    int32_t best_rank = INT32_MAX;
    for (size_t i = 0; i + 1 < w.size(); ++i)
      if (auto it = rank.find({w[i], w[i + 1]}); it != rank.end() && it->second < best_rank)
        best_rank = it->second, best = it->first;
    if (best_rank == INT32_MAX) break;
    std::vector<int32_t> next;
    for (size_t i = 0; i < w.size(); ++i) {
      if (i + 1 < w.size() && w[i] == best.first && w[i + 1] == best.second) {
        next.push_back(id_of.at(d.tokens[best.first] + d.tokens[best.second]));
        ++i;
      } else {
        next.push_back(w[i]);
      }
    }
    w = std::move(next);
  }
  return w;
}

}  // namespace

TEST(BpeGpt2, KnownIds) {
  NEED_GPT2();
  EXPECT_EQ(tok->vocab_size(), 50257);
  EXPECT_EQ(tok->encode("Hello world"), (std::vector<int32_t>{15496, 995}));
  EXPECT_EQ(tok->encode(" Hello world"), (std::vector<int32_t>{18435, 995}));
  EXPECT_EQ(tok->decode({15496, 995}), "Hello world");
  EXPECT_EQ(tok->added_token_id("<|endoftext|>"), 50256);
}

TEST(BpeGpt2, GoldenIdsMatchOpenAI) {
  NEED_GPT2();
  ASSERT_GT(golden().size(), 200u);
  for (int pass = 0; pass < 2; ++pass) {  // the second pass is served by the pre-token cache
    if (pass == 0) BpeTokenizer::clear_thread_cache();
    for (const GoldenCase& c : golden()) {
      EXPECT_EQ(tok->encode(c.bytes), c.ids) << c.kind << ": " << show(c.bytes);
      EXPECT_EQ(tok->decode(c.ids), c.bytes) << c.kind;
    }
  }
}

TEST(BpeGpt2, PretokenSplitsMatchRegexModule) {
  ASSERT_GT(golden().size(), 600u);
  const auto cased = std::count_if(golden().begin(), golden().end(),
                                   [](const GoldenCase& c) { return c.kind == "random cased unicode"; });
  EXPECT_GE(cased, 300);
  for (const GoldenCase& c : golden()) {
    EXPECT_EQ(split_lengths(c.bytes, SplitPattern::kGpt2), c.gpt2_split) << "gpt2 " << c.kind << ": " << show(c.bytes);
    EXPECT_EQ(split_lengths(c.bytes, SplitPattern::kGpt4), c.gpt4_split) << "gpt4 " << c.kind << ": " << show(c.bytes);
    EXPECT_EQ(split_lengths(c.bytes, SplitPattern::kGpt4o), c.gpt4o_split) << "gpt4o " << c.kind << ": " << show(c.bytes);
  }
}

// The regular expressions Nexus writes into tokenizer.json are the ones the splits above were
// made with (tiktoken's cl100k_base and o200k_base for gpt4 and gpt4o).
TEST(BpeGpt2, PatternRegexesAreTheReferences) {
  const json& patterns = golden_doc().at("patterns");
  ASSERT_EQ(patterns.size(), std::size(kSplitPatterns));
  for (SplitPattern p : kSplitPatterns)
    EXPECT_EQ(split_pattern_regex(p), patterns.at(split_pattern_name(p)).get<std::string>()) << split_pattern_name(p);
}

TEST(BpeGpt2, SpecialTokensOnlyWhenAllowed) {
  NEED_GPT2();
  EXPECT_EQ(tok->encode("<|endoftext|>", true), std::vector<int32_t>{50256});
  const std::vector<int32_t> plain = tok->encode("<|endoftext|>");
  EXPECT_GT(plain.size(), 1u);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), 50256), 0);
  EXPECT_EQ(tok->encode("<|endoftext|>", false), plain);
  const std::vector<int32_t> mixed = tok->encode("Hello<|endoftext|> world", true);
  EXPECT_EQ(mixed, (std::vector<int32_t>{15496, 50256, 995}));
  EXPECT_EQ(tok->decode(mixed), "Hello<|endoftext|> world");
}

TEST(BpeGpt2, HfJsonRoundTripEncodesIdentically) {
  NEED_GPT2();
  const std::string text = bpe_to_hf_json_text(*tok);
  auto again = bpe_from_hf_json(json::parse(text), "round trip");
  EXPECT_EQ(again->vocab_size(), tok->vocab_size());
  EXPECT_EQ(again->data().merges, tok->data().merges);
  EXPECT_EQ(bpe_to_hf_json_text(*again), text);
  for (const GoldenCase& c : golden()) EXPECT_EQ(again->encode(c.bytes), c.ids) << c.kind;
  EXPECT_EQ(again->encode("<|endoftext|>", true), std::vector<int32_t>{50256});
}

TEST(BpeGpt2, LongPiecesMatchNaiveAlgorithm) {
  NEED_GPT2();
  Rng rng(7);
  const std::string letters = "abcdefghijklmnopqrstuvwxyzeeeeettttaaaooiinnsshhrr";
  for (int trial = 0; trial < 12; ++trial) {
    std::string word(60 + rng.below(400), 'x');
    for (char& ch : word) ch = letters[rng.below(letters.size())];
    if (trial % 3 == 0) word = " " + word;
    ASSERT_EQ(pretokenize(word, SplitPattern::kGpt2).size(), 1u);
    EXPECT_EQ(tok->encode(word), naive_bpe(*tok, word)) << word;
  }
}

TEST(BpeGpt2, ParallelEncodeGivesTheSameIds) {
  NEED_GPT2();
  std::string text;
  for (const GoldenCase& c : golden()) text += c.bytes + "\nx\nY";
  while (text.size() < (3u << 20)) text += text;
  const std::vector<int32_t> serial = tok->encode_parallel(text, false, 1);
  for (int threads : {2, 3, 8}) EXPECT_EQ(tok->encode_parallel(text, false, threads), serial) << threads;
  EXPECT_EQ(tok->encode(text), serial);
  EXPECT_EQ(tok->decode(serial), text);
}

TEST(BpeGpt2, StreamDecoderNeverSplitsACharacter) {
  NEED_GPT2();
  for (const GoldenCase& c : golden()) {
    StreamDecoder dec(*tok);
    std::string all;
    for (int32_t id : c.ids) {
      const std::string piece = dec.push(id);
      all += piece;
      if (c.kind != "invalid utf-8" && c.kind != "random bytes") {  // valid UTF-8: whole characters only
        size_t pos = 0;
        uint32_t cp = 0;
        while (pos < piece.size() && utf8_next(piece, pos, cp)) {
        }
        EXPECT_EQ(pos, piece.size()) << c.kind << ": " << show(c.bytes);
      }
    }
    all += dec.finish();
    EXPECT_EQ(all, c.bytes) << c.kind;
  }
}

TEST(BpeGpt2, RoundTripRandomBytesAndUnicode) {
  NEED_GPT2();
  Rng rng(13);
  for (int i = 0; i < 500; ++i) {
    std::string bytes(rng.below(100), '\0');
    for (char& c : bytes) c = static_cast<char>(rng.below(2) ? rng.below(256) : " \n\t'aeZ1."[rng.below(10)]);
    ASSERT_EQ(tok->decode(tok->encode(bytes)), bytes);
    std::string text;
    for (uint64_t k = 0, n = rng.below(60); k < n; ++k) {
      uint32_t cp = static_cast<uint32_t>(rng.below(4) ? rng.below(0x3000) : rng.below(0x110000));
      if (cp >= 0xD800 && cp <= 0xDFFF) cp = ' ';
      utf8_append(text, cp);
    }
    ASSERT_EQ(tok->decode(tok->encode(text, true)), text);
  }
}
