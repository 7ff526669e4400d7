// GGUF reader/writer and the fp16/bf16/Q8_0 conversions: round trips of metadata and every
// tensor type, hand-built hostile files (each one FormatError naming the problem), and a
// bounded fuzz test (random mutations and truncations only ever throw FormatError/IoError).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>

#include "core/error.h"
#include "core/half.h"
#include "core/kernels/qlinear.h"
#include "io/gguf.h"

#if defined(__F16C__)
#include <immintrin.h>
#endif

namespace nexus {
namespace {

// ---- half precision ----

TEST(Half, Fp16KnownValues) {
  EXPECT_EQ(float_to_fp16(1.0f), 0x3C00);
  EXPECT_EQ(float_to_fp16(-2.0f), 0xC000);
  EXPECT_EQ(float_to_fp16(65504.0f), 0x7BFF);               // largest finite
  EXPECT_EQ(float_to_fp16(65519.0f), 0x7BFF);               // below the halfway point to 65536
  EXPECT_EQ(float_to_fp16(65520.0f), 0x7C00);               // halfway, rounds to even = inf
  EXPECT_EQ(float_to_fp16(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(float_to_fp16(std::ldexp(1.0f, -25)), 0x0000);  // halfway to it: even = 0
  EXPECT_EQ(float_to_fp16(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(float_to_fp16(1.0f + std::ldexp(1.0f, -11)), 0x3C00);      // halfway: even
  EXPECT_EQ(float_to_fp16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);  // halfway: even (up)
  EXPECT_EQ(float_to_fp16(INFINITY), 0x7C00);
  EXPECT_EQ(float_to_fp16(-0.0f), 0x8000);
  EXPECT_EQ(fp16_to_float(0x3555), 0.333251953125f);
  EXPECT_EQ(fp16_to_float(0x0001), std::ldexp(1.0f, -24));
  EXPECT_TRUE(std::isnan(fp16_to_float(float_to_fp16(NAN))));
}

TEST(Half, Fp16AgreesWithHardwareConversion) {
#if defined(__F16C__)
  for (uint32_t h = 0; h < 65536; ++h) {
    const float hw = _cvtsh_ss(static_cast<uint16_t>(h)), sw = fp16_to_float(static_cast<uint16_t>(h));
    ASSERT_EQ(float_bits(hw), float_bits(sw)) << "fp16 " << h;
  }
  std::mt19937 gen(5);
  for (int i = 0; i < 300000; ++i) {
    // Random bit patterns, biased towards the fp16 range so rounding is exercised.
    uint32_t u = gen();
    if (i % 2) u = (u & 0x807FFFFFu) | ((100u + gen() % 45u) << 23);
    const float f = bits_float(u);
    ASSERT_EQ(float_to_fp16(f), _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT)) << std::hex << u;
  }
  std::vector<float> row(37);
  for (size_t i = 0; i < row.size(); ++i) row[i] = 0.37f * static_cast<float>(i) - 3.0f;
  std::vector<uint16_t> bits(row.size());
  std::vector<float> back(row.size());
  float_to_fp16_row(row.data(), bits.data(), 37);
  fp16_to_float_row(bits.data(), back.data(), 37);
  for (size_t i = 0; i < row.size(); ++i) EXPECT_EQ(back[i], fp16_to_float(float_to_fp16(row[i])));
#else
  GTEST_SKIP() << "built without F16C";
#endif
}

TEST(Half, Bf16RoundsToNearestEven) {
  EXPECT_EQ(float_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(float_to_bf16(bits_float(0x3F808000u)), 0x3F80);  // halfway, even stays
  EXPECT_EQ(float_to_bf16(bits_float(0x3F818000u)), 0x3F82);  // halfway, odd rounds up
  EXPECT_EQ(float_to_bf16(bits_float(0x3F808001u)), 0x3F81);
  EXPECT_EQ(float_to_bf16(-INFINITY), 0xFF80);
  EXPECT_EQ(float_to_bf16(bits_float(0x7F800001u)), 0x7FC0);  // signalling NaN -> quiet NaN
  EXPECT_EQ(bf16_to_float(0x4049), 3.140625f);
  for (uint32_t b = 0; b < 65536; ++b) {
    const float f = bf16_to_float(static_cast<uint16_t>(b));
    if (!std::isnan(f)) {
      ASSERT_EQ(float_to_bf16(f), b);
    }
  }
}

// ---- Q8_0 ----

TEST(Q8_0, DequantizeIsScaleTimesValue) {
  // Blocks are made with Nexus's one 8-bit rule (kernels::quantize_block_q8: the scale is
  // max|w|/127 rounded up to fp16); dequantizing must give exactly d * q.
  std::vector<float> x(64);
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j - 16);  // amax 16; block 1 all zero
  std::vector<BlockQ8_0> blocks(2);
  for (int b = 0; b < 2; ++b) kernels::quantize_block_q8(x.data() + 32 * b, &blocks[b].d, blocks[b].qs);
  const float d = fp16_to_float(blocks[0].d);
  EXPECT_GE(d, 16.0f / 127.0f);
  EXPECT_EQ(blocks[0].qs[0], -127);
  EXPECT_EQ(blocks[1].d, 0);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(blocks[1].qs[j], 0);
  std::vector<float> back(64);
  dequantize_q8_0(blocks.data(), back.data(), 64);
  for (int j = 0; j < 64; ++j) {
    EXPECT_EQ(back[j], fp16_to_float(blocks[j / 32].d) * static_cast<float>(blocks[j / 32].qs[j % 32])) << j;
    EXPECT_NEAR(back[j], x[j], d * 0.51f) << j;
  }
  EXPECT_THROW(dequantize_q8_0(blocks.data(), back.data(), 33), InvalidArgument);
}

// ---- round trip ----

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("nexus_test_gguf_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

struct Sample {
  std::vector<GgufKV> metadata;
  std::vector<float> f32, f16_src, bf16_src, q8_src;
  std::vector<uint16_t> f16, bf16;
  std::vector<BlockQ8_0> q8;
  std::vector<GgufTensorRef> tensors;
};

// A small file with every metadata type and every tensor type.
Sample make_sample() {
  Sample s;
  s.metadata = {
      {"general.architecture", "gpt2"},
      {"general.name", std::string("tiny \xC3\xA9")},
      {"u8", uint8_t{200}},
      {"i8", int8_t{-5}},
      {"u16", uint16_t{60000}},
      {"i16", int16_t{-30000}},
      {"gpt2.block_count", uint32_t{12}},
      {"i32", int32_t{-7}},
      {"f32", 0.25f},
      {"flag", true},
      {"u64", uint64_t{1} << 40},
      {"i64", int64_t{-1} << 40},
      {"f64", 3.5},
      {"tokenizer.ggml.tokens", std::vector<std::string>{"a", "", "\xC4\xA0the"}},
      {"tokenizer.ggml.token_type", std::vector<int32_t>{1, 3, 1}},
      {"scores", std::vector<float>{0.5f, -1.0f}},
      {"bools", std::vector<bool>{true, false, true}},
      {"empty", std::vector<uint64_t>{}},
  };
  std::mt19937 gen(1);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  auto fill = [&](std::vector<float>& v, size_t n) {
    v.resize(n);
    for (auto& x : v) x = nd(gen);
  };
  fill(s.f32, 6);
  fill(s.f16_src, 10);
  fill(s.bf16_src, 7);
  fill(s.q8_src, 96);
  s.f16.resize(10);
  s.bf16.resize(7);
  s.q8.resize(3);
  float_to_fp16_row(s.f16_src.data(), s.f16.data(), 10);
  float_to_bf16_row(s.bf16_src.data(), s.bf16.data(), 7);
  for (int b = 0; b < 3; ++b) kernels::quantize_block_q8(s.q8_src.data() + 32 * b, &s.q8[b].d, s.q8[b].qs);
  s.tensors = {{"token_embd.weight", {3, 2}, GgmlType::F32, s.f32.data()},
               {"blk.0.attn_qkv.weight", {5, 2}, GgmlType::F16, s.f16.data()},
               {"blk.0.attn_qkv.bias", {7}, GgmlType::BF16, s.bf16.data()},
               {"output.weight", {32, 3}, GgmlType::Q8_0, s.q8.data()}};
  return s;
}

TEST(Gguf, RoundTripsMetadataAndEveryTensorType) {
  const Sample s = make_sample();
  const std::string path = temp_path("roundtrip.gguf");
  save_gguf(path, s.metadata, s.tensors);
  const GgufFile f(path);
  std::filesystem::remove(path);
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 32u);
  ASSERT_EQ(f.metadata().size(), s.metadata.size());
  for (size_t i = 0; i < s.metadata.size(); ++i) {
    EXPECT_EQ(f.metadata()[i].first, s.metadata[i].first);
    EXPECT_TRUE(f.metadata()[i].second == s.metadata[i].second) << s.metadata[i].first;
  }
  EXPECT_EQ(f.at("general.architecture").get<std::string>(), "gpt2");
  EXPECT_EQ(f.at("gpt2.block_count").get<uint32_t>(), 12u);
  EXPECT_EQ(f.at("flag").type(), GgufType::BOOL);
  EXPECT_EQ(f.at("tokenizer.ggml.tokens").get_array<std::string>()[2], "\xC4\xA0the");
  EXPECT_EQ(f.at("empty").element_type(), GgufType::UINT64);
  EXPECT_THROW(f.at("gpt2.block_count").get<int32_t>("gpt2.block_count"), FormatError);
  EXPECT_THROW(f.at("missing"), FormatError);

  ASSERT_EQ(f.tensors().size(), 4u);
  for (const auto& ref : s.tensors) {
    const GgufTensorInfo& t = f.tensor(ref.name);
    EXPECT_EQ(t.dims, ref.dims);
    EXPECT_EQ(t.type, ref.type);
    EXPECT_EQ(t.offset % 32, 0u);
    const auto bytes = f.raw(t);
    ASSERT_EQ(bytes.size(), *ggml_nbytes(ref.type, ref.dims));
    EXPECT_EQ(std::memcmp(bytes.data(), ref.data, bytes.size()), 0) << ref.name;
  }
  EXPECT_EQ(f.to_f32(f.tensor("token_embd.weight")), s.f32);
  const auto f16 = f.to_f32(f.tensor("blk.0.attn_qkv.weight"));
  for (size_t i = 0; i < f16.size(); ++i) EXPECT_EQ(f16[i], fp16_to_float(s.f16[i]));
  const auto bf16 = f.to_f32(f.tensor("blk.0.attn_qkv.bias"));
  for (size_t i = 0; i < bf16.size(); ++i) EXPECT_NEAR(bf16[i], s.bf16_src[i], std::fabs(s.bf16_src[i]) / 128);
  std::vector<float> q8(96);
  dequantize_q8_0(s.q8.data(), q8.data(), 96);
  EXPECT_EQ(f.to_f32(f.tensor("output.weight")), q8);
  EXPECT_EQ(f.tensor("output.weight").numel(), 96);
  EXPECT_THROW(f.tensor("nope"), FormatError);
}

TEST(Gguf, MagicDetectionReleaseAndConversionIntoABuffer) {
  const Sample s = make_sample();
  const std::string path = temp_path("magic.gguf"), text = temp_path("magic.txt");
  save_gguf(path, s.metadata, s.tensors);
  {
    std::FILE* f = std::fopen(text.c_str(), "wb");
    std::fputs("GGU", f);  // too short to be the magic
    std::fclose(f);
  }
  EXPECT_TRUE(is_gguf_file(path));
  EXPECT_FALSE(is_gguf_file(text));
  EXPECT_FALSE(is_gguf_file(std::filesystem::temp_directory_path().string()));
  EXPECT_FALSE(is_gguf_file(temp_path("missing.gguf")));
  {
    const GgufFile f(path);
    const GgufTensorInfo& q8 = f.tensor("output.weight");
    const std::vector<float> before = f.to_f32(q8);
    std::vector<float> into(96, -1.0f);
    f.to_f32(q8, into.data());
    EXPECT_EQ(into, before);
    for (const GgufTensorInfo& t : f.tensors()) f.release(t);  // pages given back, data still readable
    EXPECT_EQ(f.to_f32(q8), before);
    EXPECT_EQ(f.to_f32(f.tensor("token_embd.weight")), s.f32);
    GgufFile::from_bytes(gguf_to_bytes(s.metadata, s.tensors)).release(q8);  // in memory: no-op
  }
  const MappedFile map(path);
  EXPECT_NO_THROW(map.release(0, map.size()));
  EXPECT_EQ(map.view().substr(0, 4), "GGUF");
  EXPECT_THROW(map.release(map.size(), 1), InvalidArgument);
  EXPECT_THROW(map.release(1, map.size()), InvalidArgument);
  std::filesystem::remove(path);
  std::filesystem::remove(text);
}

TEST(Gguf, HeaderLayoutAndCustomAlignment) {
  Sample s = make_sample();
  std::string bytes = gguf_to_bytes(s.metadata, s.tensors);
  EXPECT_EQ(bytes.substr(0, 4), "GGUF");
  uint32_t version;
  uint64_t n_tensors, n_kv;
  std::memcpy(&version, bytes.data() + 4, 4);
  std::memcpy(&n_tensors, bytes.data() + 8, 8);
  std::memcpy(&n_kv, bytes.data() + 16, 8);
  EXPECT_EQ(version, 3u);
  EXPECT_EQ(n_tensors, 4u);
  EXPECT_EQ(n_kv, s.metadata.size());
  EXPECT_EQ(bytes.size() % 32, 0u);  // every tensor padded to the alignment

  s.metadata.push_back({"general.alignment", uint32_t{64}});
  const GgufFile f = GgufFile::from_bytes(gguf_to_bytes(s.metadata, s.tensors));
  EXPECT_EQ(f.alignment(), 64u);
  for (const auto& t : f.tensors()) EXPECT_EQ(t.offset % 64, 0u);
  EXPECT_EQ(f.to_f32(f.tensor("token_embd.weight")), s.f32);
}

TEST(Gguf, WriterRejectsBadInput) {
  const Sample s = make_sample();
  const float x[64] = {};
  auto bytes_with = [&](std::vector<GgufKV> md, std::vector<GgufTensorRef> ts) { return gguf_to_bytes(md, ts); };
  EXPECT_THROW(bytes_with({{"a", 1}, {"a", 2}}, {}), InvalidArgument);
  EXPECT_THROW(bytes_with({{"", 1}}, {}), InvalidArgument);
  EXPECT_THROW(bytes_with({{"general.alignment", uint32_t{24}}}, {}), InvalidArgument);
  EXPECT_THROW(bytes_with({{"general.alignment", int32_t{32}}}, {}), InvalidArgument);
  EXPECT_THROW(bytes_with({}, {{"t", {4}, GgmlType::F32, x}, {"t", {4}, GgmlType::F32, x}}), InvalidArgument);
  EXPECT_THROW(bytes_with({}, {{std::string(64, 'n'), {4}, GgmlType::F32, x}}), InvalidArgument);
  EXPECT_THROW(bytes_with({}, {{"t", {33}, GgmlType::Q8_0, x}}), InvalidArgument);
  EXPECT_THROW(bytes_with({}, {{"t", {1, 1, 1, 1, 1}, GgmlType::F32, x}}), InvalidArgument);
  EXPECT_THROW(bytes_with({}, {{"t", {-1}, GgmlType::F32, x}}), InvalidArgument);
  EXPECT_THROW(bytes_with({}, {{"t", {4}, GgmlType::F32, nullptr}}), InvalidArgument);
  EXPECT_THROW(save_gguf("/nonexistent_dir_nexus/x.gguf", s.metadata, s.tensors), IoError);
  EXPECT_THROW(GgufFile("/nonexistent_dir_nexus/x.gguf"), IoError);
}

// ---- hostile files, built byte by byte ----

struct Bytes {
  std::string s;
  Bytes& u32(uint32_t v) { return raw(&v, 4); }
  Bytes& u64(uint64_t v) { return raw(&v, 8); }
  Bytes& str(const std::string& v) {
    u64(v.size());
    s += v;
    return *this;
  }
  Bytes& raw(const void* p, size_t n) {
    s.append(static_cast<const char*>(p), n);
    return *this;
  }
  Bytes& pad(size_t a = 32) {
    s.resize((s.size() + a - 1) / a * a, '\0');
    return *this;
  }
  Bytes& zeros(size_t n) {
    s.append(n, '\0');
    return *this;
  }
};

Bytes header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
  Bytes b;
  b.s = "GGUF";
  return b.u32(version).u64(n_tensors).u64(n_kv);
}

// One tensor description: name, dims, type, offset.
Bytes& tensor(Bytes& b, const std::string& name, std::vector<uint64_t> dims, uint32_t type, uint64_t offset) {
  b.str(name).u32(static_cast<uint32_t>(dims.size()));
  for (uint64_t d : dims) b.u64(d);
  return b.u32(type).u64(offset);
}

void expect_format_error(const std::string& bytes, const std::string& needle) {
  try {
    GgufFile::from_bytes(bytes, "hostile.gguf");
    ADD_FAILURE() << "accepted a file that should fail with: " << needle;
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("hostile.gguf"), std::string::npos) << e.what();
  }
}

TEST(Gguf, HostileFilesGiveOneClearError) {
  Bytes good = header(1, 1);
  good.str("general.name").u32(8).str("x");
  tensor(good, "t", {4}, 0, 0).pad().zeros(32);
  EXPECT_NO_THROW(GgufFile::from_bytes(good.s));

  expect_format_error("", "too short");
  expect_format_error("GGUF\x03", "too short");
  std::string bad_magic = good.s;
  bad_magic[0] = 'X';
  expect_format_error(bad_magic, "bad magic");
  Bytes v2 = header(0, 0, 2);
  expect_format_error(v2.s, "unsupported GGUF version 2");
  expect_format_error(header(0, 1ull << 60).s, "metadata count");
  expect_format_error(header(1ull << 60, 0).s, "tensor count");
  Bytes long_key = header(0, 1);
  long_key.u64(1ull << 62).zeros(16);
  expect_format_error(long_key.s, "exceeds the");
  Bytes long_str = header(0, 1);
  long_str.str("k").u32(8).u64(1000).zeros(8);
  expect_format_error(long_str.s, "length 1000 of the value of 'k'");
  Bytes bad_type = header(0, 1);
  bad_type.str("k").u32(13).zeros(8);
  expect_format_error(bad_type.s, "unknown value type 13");
  Bytes nested = header(0, 1);
  nested.str("k").u32(9).u32(9).u64(1).zeros(8);
  expect_format_error(nested.s, "nested arrays");
  Bytes huge_array = header(0, 1);
  huge_array.str("k").u32(9).u32(4).u64(1ull << 61).zeros(8);
  expect_format_error(huge_array.s, "more than the file can hold");
  // Each string needs at least its 8-byte length: 12 of them cannot be in 64 bytes, and are
  // refused before anything is reserved for them.
  Bytes many_strings = header(0, 1);
  many_strings.str("k").u32(9).u32(8).u64(12).zeros(64);
  expect_format_error(many_strings.s, "claims 12 elements of type STRING, more than the file can hold");
  Bytes bad_bool = header(0, 1);
  bad_bool.str("k").u32(7).raw("\x02", 1).zeros(8);
  expect_format_error(bad_bool.s, "must be 0 or 1");
  Bytes dup_key = header(0, 2);
  dup_key.str("k").u32(4).u32(1).str("k").u32(4).u32(2);
  expect_format_error(dup_key.s, "appears twice");
  Bytes bad_align = header(0, 1);
  bad_align.str("general.alignment").u32(4).u32(48);
  expect_format_error(bad_align.s, "not a power of two");
}

TEST(Gguf, HostileTensorInfos) {
  auto one = [](const std::string& name, std::vector<uint64_t> dims, uint32_t type, uint64_t offset, size_t data) {
    Bytes b = header(1, 0);
    tensor(b, name, dims, type, offset).pad().zeros(data);
    return b.s;
  };
  expect_format_error(one("t", {4}, 2, 0, 32), "Q4_0");
  expect_format_error(one("t", {4}, 99, 0, 32), "ggml type 99");
  expect_format_error(one("t", {4}, 0, 8, 64), "not a multiple of the alignment");
  expect_format_error(one("t", {4}, 0, 64, 32), "data section has 32 bytes");
  expect_format_error(one("t", {16}, 0, 0, 32), "truncated");
  expect_format_error(one("t", {1, 1, 1, 1, 1}, 0, 0, 32), "5 dims");
  expect_format_error(one("t", {}, 0, 0, 32), "0 dims");
  expect_format_error(one("t", {33}, 8, 0, 64), "multiple of the block size");
  expect_format_error(one("t", {1ull << 62, 1ull << 62}, 0, 0, 32), "size overflows");
  expect_format_error(one("t", {1ull << 63}, 0, 0, 32), "too large");
  expect_format_error(one(std::string(64, 'n'), {4}, 0, 0, 32), "at most 63");
  expect_format_error(one("", {4}, 0, 0, 32), "empty name");
  Bytes overlap = header(2, 0);
  tensor(overlap, "a", {16}, 0, 0);
  tensor(overlap, "b", {4}, 0, 32).pad().zeros(96);
  expect_format_error(overlap.s, "overlaps tensor 'a'");
  Bytes twice = header(2, 0);
  tensor(twice, "a", {4}, 0, 0);
  tensor(twice, "a", {4}, 0, 32).pad().zeros(64);
  expect_format_error(twice.s, "'a' appears twice");
  Bytes cut = header(1, 0);
  tensor(cut, "a_long_tensor_name", {4}, 0, 0);
  expect_format_error(cut.s.substr(0, cut.s.size() - 3), "truncated");
}

// ---- fuzz ----

// Parses `bytes` and touches everything it describes; only FormatError may escape.
void parse_and_read(const std::string& bytes) {
  try {
    const GgufFile f = GgufFile::from_bytes(bytes, "fuzz");
    size_t total = 0;
    for (const auto& kv : f.metadata()) total += kv.second.size();
    for (const auto& t : f.tensors()) total += f.to_f32(t).size();
    (void)total;
  } catch (const FormatError&) {
  }
}

TEST(Gguf, FuzzedFilesOnlyThrowFormatErrors) {
  const Sample s = make_sample();
  const std::string valid = gguf_to_bytes(s.metadata, s.tensors);
  const size_t header_end = valid.size() - 4 * 32 - 32;  // most interesting bytes come first
  std::mt19937_64 gen(2024);
  auto pick = [&](size_t n) { return static_cast<size_t>(gen() % n); };
  for (int iter = 0; iter < 4000; ++iter) {
    std::string b = valid;
    const size_t where = (iter % 4 == 0) ? pick(b.size()) : pick(header_end);
    switch (iter % 5) {
      case 0:  // flip a few bits
        for (int k = 0; k < 1 + iter % 4; ++k) b[pick(b.size())] ^= static_cast<char>(1u << pick(8));
        break;
      case 1: {  // overwrite 8 bytes with an interesting number
        const uint64_t values[] = {0, 1, 31, 32, 33, 0xFFFFFFFFull, 1ull << 32, 1ull << 63, ~0ull, gen()};
        const uint64_t v = values[pick(std::size(values))];
        std::memcpy(b.data() + std::min(where, b.size() - 8), &v, 8);
        break;
      }
      case 2:  // truncate
        b.resize(pick(b.size()));
        break;
      case 3:  // delete a span
        b.erase(where, 1 + pick(16));
        break;
      default:  // insert random bytes
        for (int k = 0; k < 1 + iter % 8; ++k)
          b.insert(b.begin() + static_cast<std::ptrdiff_t>(where), static_cast<char>(gen()));
    }
    ASSERT_NO_FATAL_FAILURE(parse_and_read(b));
  }
  // The same through a real file, so the mmap path is covered too.
  const std::string path = temp_path("fuzz.gguf");
  for (int iter = 0; iter < 50; ++iter) {
    std::string b = valid.substr(0, pick(valid.size()));
    {
      std::FILE* f = std::fopen(path.c_str(), "wb");
      std::fwrite(b.data(), 1, b.size(), f);
      std::fclose(f);
    }
    try {
      GgufFile f(path);
    } catch (const FormatError&) {
    } catch (const IoError&) {
    }
  }
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace nexus
