// Loaders reject malformed tokenizer files with a FormatError that says what is wrong, and
// a bounded random-input fuzz over the loaders and the encoder never sees another exception
// type, a crash, or a round-trip failure. (fuzz/ holds libFuzzer targets for longer runs.)
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/rng.h"
#include "io/atomic_file.h"
#include "tokenizer/bpe.h"
#include "tokenizer/bpe_train.h"
#include "tokenizer/hf_json.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/tokenizer.h"

namespace fs = std::filesystem;
using namespace nexus;
using json = nlohmann::json;

namespace {

// A small trained tokenizer's tokenizer.json (300 ids, one special token).
const std::string& base_text() {
  static const std::string text = [] {
    std::string corpus;
    for (int i = 0; i < 60; ++i) corpus += "The quick brown fox's 123 jumps, over the lazy dog!\n";
    BpeTrainOptions o;
    o.vocab_size = 300;
    o.special_tokens = {"<|endoftext|>"};
    return BpeTokenizer(train_bpe({corpus}, o), "base").serialize();
  }();
  return text;
}

// Expects bpe_from_hf_json(edit(base)) to throw FormatError containing `needle`.
void expect_rejected(const std::function<void(json&)>& edit, const std::string& needle) {
  json j = json::parse(base_text());
  edit(j);
  try {
    tokenizer_from_json(j, "file.json");
    ADD_FAILURE() << "accepted; expected an error with '" << needle << "'";
  } catch (const FormatError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(needle), std::string::npos) << "missing '" << needle << "' in: " << msg;
    EXPECT_NE(msg.find("file.json"), std::string::npos) << msg;
  }
}

void expect_gpt2_rejected(const std::string& encoder, const std::string& merges, const std::string& needle) {
  try {
    bpe_from_gpt2_files(encoder, merges, "gpt2 files");
    ADD_FAILURE() << "accepted; expected an error with '" << needle << "'";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

// Loads `j`; true if it loaded. Any exception but FormatError fails the test.
bool try_load(const json& j, std::unique_ptr<Tokenizer>& out) {
  try {
    out = tokenizer_from_json(j, "fuzz");
    return true;
  } catch (const FormatError&) {
    return false;
  }
}

// A loaded tokenizer must round-trip random bytes and reload from its own saved form.
void check_loaded(const Tokenizer& tok, Rng& rng) {
  std::string s(rng.below(64), '\0');
  for (char& c : s) c = static_cast<char>(rng.below(256));
  ASSERT_EQ(tok.decode(tok.encode(s)), s);
  auto again = tokenizer_from_json(json::parse(tok.serialize()), "reload");
  ASSERT_EQ(again->encode(s), tok.encode(s));
}

json random_value(Rng& rng) {
  switch (rng.below(12)) {
    case 0: return nullptr;
    case 1: return -1;
    case 2: return 0;
    case 3: return int64_t{1} << 40;
    case 4: return static_cast<int>(rng.below(310));
    case 5: return "x";
    case 6: return "\u0120";
    case 7: return json::array();
    case 8: return json::object();
    case 9: return json::array({"T", "h"});
    case 10: return true;
    default: return 1.5;
  }
}

// Replaces, removes or renames one random entry somewhere in the file.
void mutate_json(json& j, Rng& rng) {
  json* node = &j;
  for (int depth = 0; depth < 4 && (node->is_object() || node->is_array()) && !node->empty(); ++depth) {
    if (depth > 0 && rng.below(3) == 0) break;
    auto it = node->begin();
    std::advance(it, static_cast<std::ptrdiff_t>(rng.below(node->size())));
    node = &*it;
  }
  *node = random_value(rng);
}

}  // namespace

TEST(BpeLoaderErrors, MalformedTokenizerJson) {
  expect_rejected([](json& j) { j["model"]["vocab"]["T"] = "x"; }, "id is not an integer");
  expect_rejected([](json& j) { j["model"].erase("vocab"); }, "model.vocab must be an object");
  expect_rejected([](json& j) { j["model"]["vocab"] = json::array(); }, "model.vocab must be an object");
  expect_rejected([](json& j) { j["model"]["merges"][0] = "T zzzz"; }, "merge 0 names unknown token 'zzzz'");
  expect_rejected([](json& j) { j["model"]["merges"][1] = 5; }, "merge 1 must be a string");
  expect_rejected([](json& j) { j["model"]["merges"][1] = "Th"; }, "two tokens separated by one space");
  expect_rejected([](json& j) { j["model"]["merges"][2] = json::array({"T", 3}); }, "merge 2 must be");
  expect_rejected([](json& j) { j["model"].erase("merges"); }, "model.merges is missing");
  expect_rejected([](json& j) { j["model"]["vocab"]["T"] = j["model"]["vocab"]["h"]; }, "duplicate id");
  expect_rejected([](json& j) { j["model"]["vocab"]["T"] = 99999; }, "out of range");
  expect_rejected([](json& j) { j["model"]["vocab"]["T"] = -1; }, "out of range");
  expect_rejected([](json& j) { j["model"]["vocab"].erase("T"); }, "out of range");  // the special's id
  expect_rejected(
      [](json& j) {  // an added token may share a vocab id (as in GPT-2's file); then a gap is possible
        j["added_tokens"][0]["id"] = j["model"]["vocab"]["T"];
        j["model"]["vocab"].erase("h");
      },
      "is missing (ids must cover");
  expect_rejected([](json& j) { j["added_tokens"][0]["content"] = 7; }, "content must be a non-empty string");
  expect_rejected([](json& j) { j["added_tokens"][0].erase("id"); }, "must be an object with 'id' and 'content'");
  expect_rejected([](json& j) { j["added_tokens"].push_back(j["added_tokens"][0]); }, "listed twice");
  expect_rejected([](json& j) { j["added_tokens"] = "x"; }, "added_tokens must be an array");
  expect_rejected([](json& j) { j["pre_tokenizer"] = {{"type", "Whitespace"}}; }, "unsupported pre_tokenizer");
  expect_rejected([](json& j) { j.erase("pre_tokenizer"); }, "no pre_tokenizer");
  expect_rejected([](json& j) { j["pre_tokenizer"]["pretokenizers"][1]["add_prefix_space"] = true; },
                  "add_prefix_space");
  expect_rejected([](json& j) { j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}}; },
                  "add_prefix_space");
  expect_rejected([](json& j) { j["normalizer"] = {{"type", "NFC"}}; }, "normalizer is not supported");
  expect_rejected([](json& j) { j["decoder"] = {{"type", "WordPiece"}}; }, "decoder");
  expect_rejected([](json& j) { j["model"]["type"] = "WordPiece"; }, "only BPE");
  expect_rejected([](json& j) { j["model"]["byte_fallback"] = true; }, "byte_fallback");
  expect_rejected([](json& j) { j.erase("model"); }, "not a tokenizer file");
  expect_rejected(
      [](json& j) {
        auto& v = j["model"]["vocab"];
        v["a b"] = v["\u0101"];  // a raw space is not byte-level text
        v.erase("\u0101");
      },
      "outside the byte-level alphabet");
  expect_rejected(
      [](json& j) {
        auto& v = j["model"]["vocab"];
        v["\u0100\u0100\u0100"] = v["\u0101"];  // no token left for byte 0x01
        v.erase("\u0101");
      },
      "no single-byte token for byte 0x01");
  expect_rejected([](json& j) { j["model"]["merges"].push_back("\u0101 \u0101"); }, "result is not in the vocabulary");
  expect_rejected(
      [](json& j) {
        j["pre_tokenizer"] = {{"type", "Sequence"},
                              {"pretokenizers",
                               {{{"type", "Split"}, {"pattern", {{"Regex", "\\w+"}}}, {"behavior", "Isolated"}},
                                {{"type", "ByteLevel"}, {"use_regex", false}}}}};
      },
      "is not the GPT-2, GPT-4 (cl100k) or GPT-4o (o200k) pattern");
  expect_rejected(  // a known regex whose matches Removed would drop
      [](json& j) {
        j["pre_tokenizer"] = {{"type", "Sequence"},
                              {"pretokenizers",
                               {{{"type", "Split"},
                                 {"pattern", {{"Regex", split_pattern_regex(SplitPattern::kGpt4o)}}},
                                 {"behavior", "Removed"}},
                                {{"type", "ByteLevel"}, {"use_regex", false}}}}};
      },
      "unsupported pre_tokenizer");
}

TEST(BpeLoaderErrors, FilesNameThemselves) {
  const fs::path dir = fs::temp_directory_path() / ("nexus_test_bpe_fuzz_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string p = (dir / "tokenizer.json").string();
  write_file_atomic(p, base_text().substr(0, 500));
  try {
    load_tokenizer(p);
    ADD_FAILURE();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("not valid JSON"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
  write_file_atomic((dir / "encoder.json").string(), "{\"a\": 0}");
  write_file_atomic((dir / "vocab.bpe").string(), "#version: 0.2\n");
  fs::remove(p);
  try {
    load_tokenizer(dir.string());  // a directory with GPT-2's files
    ADD_FAILURE();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("encoder.json"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

TEST(BpeLoaderErrors, MalformedGpt2Files) {
  // Build a valid pair of files from the base tokenizer, then break them one way at a time.
  const json j = json::parse(base_text());
  json encoder = j["model"]["vocab"];
  const int special = j["added_tokens"][0]["id"].get<int>();
  encoder["<|endoftext|>"] = special;
  std::string merges = "#version: 0.2\n";
  for (const json& m : j["model"]["merges"]) merges += m.get<std::string>() + "\n";
  auto ok = bpe_from_gpt2_files(encoder.dump(), merges, "gpt2 files");
  EXPECT_EQ(ok->vocab_size(), special + 1);
  EXPECT_EQ(ok->added_token_id("<|endoftext|>"), special);
  expect_gpt2_rejected("[1, 2]", merges, "not a JSON object");
  expect_gpt2_rejected("{\"a\": ", merges, "encoder.json is not valid JSON");
  expect_gpt2_rejected(encoder.dump(), merges + "T\n", "line");
  expect_gpt2_rejected(encoder.dump(), merges + "T zzzz\n", "unknown token 'zzzz'");
  json dup = encoder;
  dup["T"] = dup["h"];
  expect_gpt2_rejected(dup.dump(), merges, "duplicate id");
  json far = encoder;
  far["T"] = 1000;
  expect_gpt2_rejected(far.dump(), merges, "out of range");
}

TEST(BpeFuzz, TextMutationsOfTokenizerJson) {
  Rng rng(1);
  const std::string base = base_text();
  const std::string alphabet = "{}[]\",:0123456789-e \\n\u0120Tx";
  int loaded = 0;
  for (int iter = 0; iter < 1500; ++iter) {
    std::string s = base;
    for (uint64_t k = 0, edits = 1 + rng.below(4); k < edits; ++k) {
      const size_t at = rng.below(s.size());
      switch (rng.below(4)) {
        case 0: s[at] = alphabet[rng.below(alphabet.size())]; break;
        case 1: s[at] = static_cast<char>(rng.below(256)); break;
        case 2: s.erase(at, rng.below(12)); break;
        default: s.insert(at, s.substr(rng.below(s.size()), rng.below(16))); break;
      }
    }
    if (rng.below(10) == 0) s.resize(rng.below(s.size()));
    json j;
    try {
      j = json::parse(s);
    } catch (const json::exception&) {
      continue;  // load_tokenizer reports these as FormatError "not valid JSON"
    }
    std::unique_ptr<Tokenizer> tok;
    if (try_load(j, tok)) {
      ++loaded;
      check_loaded(*tok, rng);
    }
  }
  EXPECT_GT(loaded, 0);
}

TEST(BpeFuzz, StructuredMutationsOfTokenizerJson) {
  Rng rng(2);
  const json base = json::parse(base_text());
  int loaded = 0, rejected = 0;
  for (int iter = 0; iter < 1500; ++iter) {
    json j = base;
    for (uint64_t k = 0, edits = 1 + rng.below(3); k < edits; ++k) mutate_json(j, rng);
    std::unique_ptr<Tokenizer> tok;
    if (try_load(j, tok)) {
      ++loaded;
      check_loaded(*tok, rng);
    } else {
      ++rejected;
    }
  }
  EXPECT_GT(loaded, 0);
  EXPECT_GT(rejected, 0);
}

TEST(BpeFuzz, MutatedGpt2Files) {
  Rng rng(3);
  const json j = json::parse(base_text());
  const std::string encoder = j["model"]["vocab"].dump();
  std::string merges = "#version: 0.2\n";
  for (const json& m : j["model"]["merges"]) merges += m.get<std::string>() + "\n";
  for (int iter = 0; iter < 800; ++iter) {
    std::string e = encoder, m = merges;
    std::string& target = rng.below(2) ? e : m;
    for (uint64_t k = 0, edits = 1 + rng.below(3); k < edits; ++k) {
      const size_t at = rng.below(target.size());
      if (rng.below(2)) target[at] = " \n\"0Tx{"[rng.below(7)];
      else target.erase(at, rng.below(6));
    }
    try {
      auto tok = bpe_from_gpt2_files(e, m, "fuzz");
      check_loaded(*tok, rng);
    } catch (const FormatError&) {
    }
  }
}

TEST(BpeFuzz, EncoderOnRandomInput) {
  Rng rng(4);
  auto tok = tokenizer_from_json(json::parse(base_text()), "base");
  const auto& bpe = dynamic_cast<const BpeTokenizer&>(*tok);
  const std::string pieces[] = {" ", "\n", "x\nY", "'s", "\xC5\xBF", "\xF0\x9F\x98\x80", "\xE2\x82", "12345",
                                "<|endoftext|>", "\t\t", "\xC2\xA0", "The", " quick"};
  std::string big;
  for (int iter = 0; iter < 400; ++iter) {
    std::string s;
    for (uint64_t k = 0, n = rng.below(60); k < n; ++k) {
      if (rng.below(3) == 0) s += static_cast<char>(rng.below(256));
      else s += pieces[rng.below(std::size(pieces))];
    }
    const bool allow = rng.below(2);
    const std::vector<int32_t> ids = bpe.encode(s, allow);
    ASSERT_EQ(bpe.decode(ids), s);
    big += s + "x\nY";
  }
  while (big.size() < 400000) big += big;
  for (bool allow : {false, true}) EXPECT_EQ(bpe.encode_parallel(big, allow, 3), bpe.encode_parallel(big, allow, 1));
}
