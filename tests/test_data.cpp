// Tests of dataset preparation, token files and the batch sampler.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "shared_data.h"
#include "core/error.h"
#include "core/rng.h"
#include "io/atomic_file.h"
#include "tokenizer/tokenizer.h"
#include "train/data.h"

namespace fs = std::filesystem;
using namespace nexus;

namespace {

class DataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int counter = 0;
    dir_ = fs::temp_directory_path() / ("nexus_test_data_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

// A deterministic pseudo-Shakespearean corpus of roughly `chars` characters.
std::string make_corpus(size_t chars, uint64_t seed = 1) {
  const char* words[] = {"thou", "art", "the", "king", "of", "Rome", "and", "I", "shall", "speak", "hear", "me"};
  Rng rng(seed);
  std::string text;
  while (text.size() < chars) {
    text += words[rng.below(12)];
    text += rng.below(8) == 0 ? ".\n" : " ";
  }
  return text;
}

std::vector<int32_t> iota_tokens(int n, int mod) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) t[static_cast<size_t>(i)] = i % mod;
  return t;
}

}  // namespace

TEST_F(DataTest, PrepareCharDataset) {
  const std::string text = make_corpus(20000);
  write_file_atomic(path("input.txt"), text);
  const DatasetMeta meta = prepare_dataset(path("input.txt"), path("ds"), "char");
  auto tok = make_tokenizer("char", text);
  const int64_t n = static_cast<int64_t>(text.size());  // one token per ASCII char
  EXPECT_EQ(meta.vocab_size, tok->vocab_size());
  EXPECT_EQ(meta.dtype, "uint16");
  EXPECT_EQ(meta.tokenizer, "char");
  EXPECT_EQ(meta.train_tokens, static_cast<int64_t>(n * 0.9));
  EXPECT_EQ(meta.train_tokens + meta.val_tokens, n);
  EXPECT_EQ(static_cast<int64_t>(fs::file_size(path("ds/train.bin"))), 2 * meta.train_tokens);
  EXPECT_EQ(static_cast<int64_t>(fs::file_size(path("ds/val.bin"))), 2 * meta.val_tokens);

  const DatasetMeta loaded = load_dataset_meta(path("ds"));
  EXPECT_EQ(loaded.vocab_size, meta.vocab_size);
  EXPECT_EQ(loaded.dtype, meta.dtype);
  EXPECT_EQ(loaded.train_tokens, meta.train_tokens);
  EXPECT_EQ(loaded.val_tokens, meta.val_tokens);
  EXPECT_EQ(loaded.tokenizer, meta.tokenizer);
  const auto j = nlohmann::json::parse(read_file(path("ds/meta.json")));
  EXPECT_EQ(j.at("vocab_size"), meta.vocab_size);
  EXPECT_EQ(j.at("dtype"), "uint16");
  EXPECT_EQ(j.at("version"), 1);

  // The splits decode back to the original text, first 90% then last 10%.
  auto loaded_tok = load_tokenizer(path("ds/tokenizer.json"));
  TokenFile train = open_split(path("ds"), loaded, "train");
  TokenFile val = open_split(path("ds"), loaded, "val");
  std::vector<int32_t> all;
  for (int64_t i = 0; i < train.size(); ++i) all.push_back(train.at(i));
  for (int64_t i = 0; i < val.size(); ++i) all.push_back(val.at(i));
  EXPECT_EQ(loaded_tok->decode(all), text);
  EXPECT_EQ(train.at(0), tok->encode(text.substr(0, 1))[0]);
  EXPECT_THROW(train.at(train.size()), InvalidArgument);
  EXPECT_THROW(train.at(-1), InvalidArgument);
  EXPECT_EQ(fs::directory_iterator(path("ds")) == fs::directory_iterator(), false);
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(path("ds"))) files += e.is_regular_file();
  EXPECT_EQ(files, 4u) << "no temporary files are left behind";
}

TEST_F(DataTest, PrepareByteDatasetAndValFraction) {
  const std::string text = make_corpus(10000) + std::string("\xff\x00\x80", 3);
  write_file_atomic(path("input.txt"), text);
  const DatasetMeta meta = prepare_dataset(path("input.txt"), path("ds"), "byte", 0.25);
  EXPECT_EQ(meta.vocab_size, 256);
  EXPECT_EQ(meta.dtype, "uint16");
  const int64_t n = static_cast<int64_t>(text.size());
  EXPECT_EQ(meta.train_tokens, static_cast<int64_t>(n * 0.75));
  EXPECT_EQ(meta.train_tokens + meta.val_tokens, n);
  TokenFile val = open_split(path("ds"), meta, "val");
  EXPECT_EQ(val.at(val.size() - 1), 0x80);
  // A failed re-prepare (not UTF-8, so no char tokenizer) leaves the old dataset intact...
  EXPECT_THROW(prepare_dataset(path("input.txt"), path("ds"), "char"), InvalidArgument);
  EXPECT_EQ(load_dataset_meta(path("ds")).tokenizer, "byte");
  // ...and a successful one replaces everything consistently.
  write_file_atomic(path("input2.txt"), make_corpus(10000, 2));
  const DatasetMeta again = prepare_dataset(path("input2.txt"), path("ds"), "char");
  EXPECT_EQ(load_dataset_meta(path("ds")).tokenizer, "char");
  EXPECT_NO_THROW(open_split(path("ds"), again, "train"));
}

TEST_F(DataTest, PrepareRejectsBadInput) {
  EXPECT_THROW(prepare_dataset(path("missing.txt"), path("ds"), "char"), IoError);
  write_file_atomic(path("empty.txt"), "");
  try {
    prepare_dataset(path("empty.txt"), path("ds"), "char");
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("empty"), std::string::npos) << e.what();
  }
  write_file_atomic(path("short.txt"), make_corpus(1000));
  try {
    prepare_dataset(path("short.txt"), path("ds"), "char");
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("too short"), std::string::npos) << e.what();
  }
  write_file_atomic(path("ok.txt"), make_corpus(10000));
  EXPECT_THROW(prepare_dataset(path("ok.txt"), path("ds"), "char", 0.0), InvalidArgument);
  EXPECT_THROW(prepare_dataset(path("ok.txt"), path("ds"), "char", 1.0), InvalidArgument);
  EXPECT_THROW(prepare_dataset(path("ok.txt"), path("ds"), "nope"), InvalidArgument);
  EXPECT_FALSE(fs::exists(path("ds/meta.json")));
}

TEST_F(DataTest, Uint32TokenFilesRoundTrip) {
  const std::vector<int32_t> tokens{0, 1, 65535, 65536, 70000, 1 << 24, INT32_MAX};
  write_token_file(path("t32.bin"), tokens, "uint32");
  EXPECT_EQ(fs::file_size(path("t32.bin")), tokens.size() * 4);
  const std::string raw = read_file(path("t32.bin"));
  EXPECT_EQ(static_cast<uint8_t>(raw[12]), 0x00);  // 65536 little-endian: 00 00 01 00
  EXPECT_EQ(static_cast<uint8_t>(raw[14]), 0x01);
  TokenFile f(path("t32.bin"), "uint32");
  ASSERT_EQ(f.size(), static_cast<int64_t>(tokens.size()));
  for (size_t i = 0; i < tokens.size(); ++i) EXPECT_EQ(f.at(static_cast<int64_t>(i)), tokens[i]);
  EXPECT_EQ(token_dtype_for_vocab(65536), "uint16");
  EXPECT_EQ(token_dtype_for_vocab(65537), "uint32");

  write_token_file(path("t16.bin"), std::vector<int32_t>{0, 258, 65535}, "uint16");
  TokenFile g(path("t16.bin"), "uint16");
  EXPECT_EQ(g.size(), 3);
  EXPECT_EQ(g.at(1), 258);
  EXPECT_EQ(g.at(2), 65535);
}

TEST_F(DataTest, TokenFileErrors) {
  EXPECT_THROW(write_token_file(path("x.bin"), std::vector<int32_t>{70000}, "uint16"), InvalidArgument);
  EXPECT_THROW(write_token_file(path("x.bin"), std::vector<int32_t>{-1}, "uint32"), InvalidArgument);
  EXPECT_THROW(write_token_file(path("x.bin"), std::vector<int32_t>{1}, "int8"), InvalidArgument);
  EXPECT_FALSE(fs::exists(path("x.bin")));
  write_file_atomic(path("odd.bin"), "abc");
  try {
    TokenFile f(path("odd.bin"), "uint16");
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(path("odd.bin")), std::string::npos);
  }
  write_file_atomic(path("six.bin"), "abcdef");
  EXPECT_THROW(TokenFile(path("six.bin"), "uint32"), FormatError);
  EXPECT_THROW(TokenFile(path("six.bin"), "float"), InvalidArgument);
  EXPECT_THROW(TokenFile(path("missing.bin"), "uint16"), IoError);
  write_file_atomic(path("empty.bin"), "");
  EXPECT_EQ(TokenFile(path("empty.bin"), "uint16").size(), 0);
}

TEST_F(DataTest, BatchSamplerIsDeterministicAndShifted) {
  const auto tokens = iota_tokens(5000, 97);
  write_token_file(path("t.bin"), tokens, "uint16");
  TokenFile file(path("t.bin"), "uint16");
  const int B = 4, T = 16;
  BatchSampler sampler(file, B, T, 97);
  Rng r1(42), r2(42), r3(43);
  std::vector<int32_t> x1, y1, x2, y2, x3, y3;
  sampler.sample(r1, x1, y1);
  sampler.sample(r2, x2, y2);
  sampler.sample(r3, x3, y3);
  ASSERT_EQ(x1.size(), static_cast<size_t>(B * T));
  EXPECT_EQ(x1, x2);
  EXPECT_EQ(y1, y2);
  EXPECT_NE(x1, x3);
  EXPECT_EQ(r1.state, r2.state);

  Rng r(5);
  std::vector<int32_t> x(B * T), y(B * T);
  std::vector<int64_t> offsets;
  for (int round = 0; round < 50; ++round) {
    sampler.sample(r, x, y, &offsets);
    ASSERT_EQ(offsets.size(), static_cast<size_t>(B));
    for (int b = 0; b < B; ++b) {
      const int64_t o = offsets[static_cast<size_t>(b)];
      ASSERT_GE(o, 0);
      ASSERT_LE(o, file.size() - T - 1);
      for (int t = 0; t < T; ++t) {
        ASSERT_EQ(x[static_cast<size_t>(b * T + t)], tokens[static_cast<size_t>(o + t)]);
        ASSERT_EQ(y[static_cast<size_t>(b * T + t)], tokens[static_cast<size_t>(o + t + 1)]);
      }
    }
  }
  std::vector<int32_t> wrong(3);
  EXPECT_THROW(sampler.sample(r, wrong, y, nullptr), InvalidArgument);
}

TEST_F(DataTest, BatchSamplerOffsetsCoverWholeRange) {
  const int T = 8;
  write_token_file(path("t.bin"), iota_tokens(T + 3, 50), "uint32");  // offsets 0, 1, 2
  TokenFile file(path("t.bin"), "uint32");
  BatchSampler sampler(file, 2, T, 50);
  Rng rng(1);
  std::vector<int32_t> x(2 * T), y(2 * T);
  std::vector<int64_t> offsets;
  std::set<int64_t> seen;
  for (int i = 0; i < 200; ++i) {
    sampler.sample(rng, x, y, &offsets);
    seen.insert(offsets.begin(), offsets.end());
  }
  EXPECT_EQ(seen, (std::set<int64_t>{0, 1, 2}));

  write_token_file(path("exact.bin"), iota_tokens(T + 1, 50), "uint16");  // exactly T+1: only offset 0
  TokenFile exact(path("exact.bin"), "uint16");
  BatchSampler s2(exact, 3, T, 50);
  x.resize(3 * T);
  y.resize(3 * T);
  s2.sample(rng, x, y, &offsets);
  EXPECT_EQ(offsets, (std::vector<int64_t>{0, 0, 0}));
}

TEST_F(DataTest, BatchSamplerDetectsOutOfRangeTokens) {
  auto tokens = iota_tokens(1000, 50);
  tokens[737] = 100;
  write_token_file(path("bad.bin"), tokens, "uint16");
  TokenFile file(path("bad.bin"), "uint16");
  try {
    BatchSampler sampler(file, 2, 8, 50);
    FAIL();
  } catch (const FormatError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path("bad.bin")), std::string::npos) << msg;
    EXPECT_NE(msg.find("position 737"), std::string::npos) << msg;
    EXPECT_NE(msg.find("value 100"), std::string::npos) << msg;
  }
  BatchSampler ok(file, 2, 8, 101);  // a larger vocabulary accepts it

  write_token_file(path("big.bin"), std::vector<int32_t>(20, 0), "uint32");
  std::string raw = read_file(path("big.bin"));
  raw[4 * 5 + 3] = '\xff';  // token 5 becomes >= 2^31 as uint32
  write_file_atomic(path("big.bin"), raw);
  TokenFile big(path("big.bin"), "uint32");
  EXPECT_THROW(BatchSampler(big, 1, 4, 1000), FormatError);
}

TEST_F(DataTest, BatchSamplerRejectsTooShortSplit) {
  write_token_file(path("short.bin"), iota_tokens(16, 10), "uint16");
  TokenFile file(path("short.bin"), "uint16");
  try {
    BatchSampler sampler(file, 1, 16, 10);
    FAIL();
  } catch (const InvalidArgument& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("too short for block size 16"), std::string::npos) << msg;
    EXPECT_NE(msg.find(path("short.bin")), std::string::npos) << msg;
  }
  BatchSampler ok(file, 1, 15, 10);
  EXPECT_THROW(BatchSampler(file, 0, 4, 10), InvalidArgument);
  EXPECT_THROW(BatchSampler(file, 1, 0, 10), InvalidArgument);
}

TEST_F(DataTest, DatasetMetaErrors) {
  fs::create_directories(path("ds"));
  try {
    load_dataset_meta(path("ds"));
    FAIL();
  } catch (const IoError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("no meta.json in " + path("ds")), std::string::npos) << msg;
    EXPECT_NE(msg.find("nexus prepare"), std::string::npos) << msg;
  }
  EXPECT_THROW(load_dataset_meta(path("nonexistent")), IoError);
  const std::string good =
      R"({"version": 1, "vocab_size": 65, "dtype": "uint16", "train_tokens": 900, "val_tokens": 100, "tokenizer": "char"})";
  write_file_atomic(path("ds/meta.json"), good);
  EXPECT_EQ(load_dataset_meta(path("ds")).vocab_size, 65);
  const std::string bad[] = {
      "{",
      "[]",
      R"({"vocab_size": 65, "dtype": "uint16", "train_tokens": 900, "val_tokens": 100, "tokenizer": "char"})",
      R"({"version": 1, "dtype": "uint16", "train_tokens": 900, "val_tokens": 100, "tokenizer": "char"})",
      R"({"version": 1, "vocab_size": "65", "dtype": "uint16", "train_tokens": 900, "val_tokens": 100, "tokenizer": "char"})",
      R"({"version": 1, "vocab_size": 0, "dtype": "uint16", "train_tokens": 900, "val_tokens": 100, "tokenizer": "char"})",
      R"({"version": 1, "vocab_size": 65, "dtype": "int8", "train_tokens": 900, "val_tokens": 100, "tokenizer": "char"})",
      R"({"version": 1, "vocab_size": 70000, "dtype": "uint16", "train_tokens": 900, "val_tokens": 100, "tokenizer": "c"})",
      R"({"version": 1, "vocab_size": 65, "dtype": "uint16", "train_tokens": -1, "val_tokens": 100, "tokenizer": "char"})",
      R"({"version": 1, "vocab_size": 65, "dtype": "uint16", "train_tokens": 900, "val_tokens": 100})",
  };
  for (const auto& text : bad) {
    write_file_atomic(path("ds/meta.json"), text);
    try {
      load_dataset_meta(path("ds"));
      ADD_FAILURE() << text;
    } catch (const FormatError& e) {
      EXPECT_NE(std::string(e.what()).find("meta.json"), std::string::npos) << e.what();
    }
  }
}

TEST_F(DataTest, OpenSplitChecksCounts) {
  write_file_atomic(path("in.txt"), make_corpus(8000));
  DatasetMeta meta = prepare_dataset(path("in.txt"), path("ds"), "char");
  meta.train_tokens += 1;
  EXPECT_THROW(open_split(path("ds"), meta, "train"), FormatError);
  EXPECT_THROW(open_split(path("ds"), meta, "test"), InvalidArgument);
  EXPECT_NO_THROW(open_split(path("ds"), meta, "val"));
}

TEST_F(DataTest, PrepareTinyShakespeare) {
  NEXUS_NEED_SHARED_FILE(file, "tinyshakespeare.txt");
  const DatasetMeta meta = prepare_dataset(file, path("ds"), "char");
  // nanoGPT's shakespeare_char: 65 characters, 1,003,854 train and 111,540 val tokens.
  EXPECT_EQ(meta.vocab_size, 65);
  EXPECT_EQ(meta.train_tokens, 1003854);
  EXPECT_EQ(meta.val_tokens, 111540);
}
