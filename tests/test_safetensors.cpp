// Tests of the safetensors writer and the validating reader.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/rng.h"
#include "io/safetensors.h"

namespace fs = std::filesystem;
using namespace nexus;

namespace {

// A fresh directory under the system temp dir, removed afterwards.
class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int counter = 0;
    dir_ = fs::temp_directory_path() /
           ("nexus_test_safetensors_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

void write_raw(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string read_raw(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// 8-byte little-endian length + header + data, with an explicit length field.
std::string make_file(const std::string& header, const std::string& data, uint64_t length) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(length >> (8 * i));
  return out + header + data;
}

std::string make_file(const std::string& header, const std::string& data = std::string(64, '\x01')) {
  return make_file(header, data, header.size());
}

// Expects FormatError whose message contains every string in `needles`.
void expect_format_error(const std::string& path, std::initializer_list<std::string> needles) {
  try {
    SafetensorsFile f(path);
    ADD_FAILURE() << "no error for " << path;
  } catch (const FormatError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    for (const auto& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "missing '" << n << "' in: " << msg;
  }
}

struct Sample {
  std::vector<float> a{1, 2, 3, 4, 5, 6};
  std::vector<uint16_t> half{0x3C00, 0x4000, 0x4200, 0x4400, 0x4500};  // 10 bytes: misaligns what follows
  std::vector<float> b{-1.5f, 2.25f, 1e30f};
  std::vector<int32_t> i32{-7, 0, 7, INT32_MAX};
  std::vector<int64_t> i64{INT64_MIN, 42};
  std::vector<uint8_t> u8{1, 2, 3, 4, 5, 6, 7};
  std::vector<uint16_t> u16{65535, 1};
  std::vector<uint16_t> bf16{0x3F80, 0xC000, 0x0000};
  float scalar = 3.5f;

  std::vector<TensorRef> refs() const {
    return {{"a", DType::F32, {2, 3}, a.data()},         {"half", DType::F16, {5}, half.data()},
            {"b", DType::F32, {3}, b.data()},            {"ints", DType::I32, {2, 2}, i32.data()},
            {"longs", DType::I64, {2}, i64.data()},      {"bytes", DType::U8, {7, 1}, u8.data()},
            {"shorts", DType::U16, {1, 2}, u16.data()},  {"brain", DType::BF16, {3}, bf16.data()},
            {"scalar", DType::F32, {}, &scalar},         {"empty", DType::F32, {0, 4}, nullptr}};
  }
};

template <typename T>
std::vector<T> to_vec(std::span<const uint8_t> bytes) {
  std::vector<T> v(bytes.size() / sizeof(T));
  if (!v.empty()) std::memcpy(v.data(), bytes.data(), bytes.size());
  return v;
}

}  // namespace

TEST_F(SafetensorsTest, RoundTripSeveralDtypesAndShapes) {
  Sample s;
  const std::map<std::string, std::string> meta{{"format", "pt"}, {"step", "100"}, {"note", "h\u00e9llo \"q\""}};
  save_safetensors(path("m.safetensors"), s.refs(), meta);

  SafetensorsFile f(path("m.safetensors"));
  EXPECT_EQ(f.metadata(), meta);
  std::vector<std::string> expected_names;
  for (const auto& r : s.refs()) expected_names.push_back(r.name);
  // Names come back in data order, i.e. write order (empty tensors tie-break by name).
  std::vector<std::string> got = f.names();
  ASSERT_EQ(got.size(), expected_names.size());
  EXPECT_EQ(std::vector<std::string>(got.begin(), got.begin() + 8),
            std::vector<std::string>(expected_names.begin(), expected_names.begin() + 8));
  for (const auto& n : expected_names) EXPECT_TRUE(f.has(n)) << n;
  EXPECT_FALSE(f.has("nope"));

  EXPECT_EQ(f.info("a").shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(f.info("half").dtype, DType::F16);
  const float* a = f.f32("a", {2, 3});
  EXPECT_EQ(std::vector<float>(a, a + 6), s.a);
  const float* b = f.f32("b", {3});
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b) % alignof(float), 0u);
  EXPECT_EQ(std::vector<float>(b, b + 3), s.b);
  EXPECT_EQ(f.f32("b", {3}), b) << "the aligned copy is cached";
  EXPECT_EQ(*f.f32("scalar", {}), 3.5f);
  EXPECT_EQ(f.info("scalar").numel(), 1);
  EXPECT_EQ(f.info("empty").numel(), 0);
  EXPECT_EQ(f.raw("empty").size(), 0u);
  f.f32("empty", {0, 4});
  EXPECT_EQ(to_vec<uint16_t>(f.raw("half")), s.half);
  EXPECT_EQ(to_vec<int32_t>(f.raw("ints")), s.i32);
  EXPECT_EQ(to_vec<int64_t>(f.raw("longs")), s.i64);
  EXPECT_EQ(to_vec<uint8_t>(f.raw("bytes")), s.u8);
  EXPECT_EQ(to_vec<uint16_t>(f.raw("shorts")), s.u16);
  EXPECT_EQ(to_vec<uint16_t>(f.raw("brain")), s.bf16);

  // Moving keeps pointers valid.
  SafetensorsFile moved = std::move(f);
  EXPECT_EQ(moved.f32("b", {3}), b);
}

TEST_F(SafetensorsTest, HeaderIsPaddedToEightBytesAndDataIsPacked) {
  Sample s;
  save_safetensors(path("m.safetensors"), s.refs(), {{"k", "v"}});
  const std::string bytes = read_raw(path("m.safetensors"));
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(bytes[i]);
  EXPECT_EQ(n % 8, 0u);
  size_t total = 0;
  for (const auto& r : s.refs()) {
    size_t numel = 1;
    for (auto d : r.shape) numel *= static_cast<size_t>(d);
    total += numel * dtype_size(r.dtype);
  }
  EXPECT_EQ(bytes.size(), 8 + n + total);
  EXPECT_EQ(bytes[8], '{');
}

TEST_F(SafetensorsTest, EmptyFileAndNoMetadata) {
  save_safetensors(path("e.safetensors"), {}, {});
  SafetensorsFile f(path("e.safetensors"));
  EXPECT_TRUE(f.names().empty());
  EXPECT_TRUE(f.metadata().empty());
}

TEST_F(SafetensorsTest, F32AccessorChecksDtypeShapeAndName) {
  Sample s;
  save_safetensors(path("m.safetensors"), s.refs());
  SafetensorsFile f(path("m.safetensors"));
  try {
    f.f32("a", {3, 2});
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("[2, 3]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[3, 2]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'a'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(f.f32("half", {5}), FormatError);
  EXPECT_THROW(f.f32("ints", {2, 2}), FormatError);
  EXPECT_THROW(f.info("missing"), FormatError);
  EXPECT_THROW(f.raw("missing"), FormatError);
}

TEST_F(SafetensorsTest, WriterRejectsBadTensors) {
  float x[4] = {};
  const std::string p = path("w.safetensors");
  EXPECT_THROW(save_safetensors(p, {{"a", DType::F32, {2}, x}, {"a", DType::F32, {2}, x}}), InvalidArgument);
  EXPECT_THROW(save_safetensors(p, {{"", DType::F32, {2}, x}}), InvalidArgument);
  EXPECT_THROW(save_safetensors(p, {{"__metadata__", DType::F32, {2}, x}}), InvalidArgument);
  EXPECT_THROW(save_safetensors(p, {{"a", DType::F32, {-1}, x}}), InvalidArgument);
  EXPECT_THROW(save_safetensors(p, {{"a", DType::F32, {2}, nullptr}}), InvalidArgument);
  EXPECT_THROW(save_safetensors(p, {{"a\xff", DType::F32, {2}, x}}), InvalidArgument);
  EXPECT_FALSE(fs::exists(p));
}

TEST_F(SafetensorsTest, MissingFileIsIoError) {
  EXPECT_THROW(SafetensorsFile(path("nope.safetensors")), IoError);
}

TEST_F(SafetensorsTest, ShortFilesAndBadHeaderLengths) {
  for (size_t len = 0; len < 8; ++len) {
    write_raw(path("s"), std::string(len, '\0'));
    expect_format_error(path("s"), {"shorter"});
  }
  write_raw(path("s"), make_file("{}", "", 3));  // claims 3 header bytes, has 2
  expect_format_error(path("s"), {"exceeds the file size"});
  write_raw(path("s"), make_file("{}", "", 200ull * 1000 * 1000));
  expect_format_error(path("s"), {"absurd"});
  write_raw(path("s"), make_file("{}", "", ~0ull));
  expect_format_error(path("s"), {"absurd"});
  write_raw(path("s"), make_file("", ""));
  expect_format_error(path("s"), {"not valid JSON"});
}

TEST_F(SafetensorsTest, MalformedHeaderJson) {
  const std::string p = path("h");
  const std::pair<std::string, std::string> cases[] = {
      {"{\"a\": ", "not valid JSON"},
      {"not json", "not valid JSON"},
      {"[1, 2]", "not a JSON object"},
      {"\"str\"", "not a JSON object"},
      {"{} {}", "not valid JSON"},
      {"{\"a\":\"\xff\"}", "not valid JSON"},
      {std::string(40, '[') + std::string(40, ']'), "nested too deeply"},
      {"{\"__metadata__\": [1]}", "'__metadata__' is not a JSON object"},
      {"{\"__metadata__\": {\"k\": 1}}", "'__metadata__' value of 'k'"},
  };
  for (const auto& [header, needle] : cases) {
    write_raw(p, make_file(header));
    expect_format_error(p, {needle});
  }
}

TEST_F(SafetensorsTest, MalformedTensorEntries) {
  const std::string p = path("t");
  auto entry = [](const std::string& body) { return "{\"w\": " + body + "}"; };
  struct Case {
    std::string header, needle;
  };
  const Case cases[] = {
      {entry("[1]"), "not a JSON object"},
      {entry("{\"shape\": [1], \"data_offsets\": [0, 4]}"), "missing 'dtype'"},
      {entry("{\"dtype\": \"F32\", \"data_offsets\": [0, 4]}"), "missing 'shape'"},
      {entry("{\"dtype\": \"F32\", \"shape\": [1]}"), "missing 'data_offsets'"},
      {entry("{\"dtype\": 5, \"shape\": [1], \"data_offsets\": [0, 4]}"), "'dtype' is not a string"},
      {entry("{\"dtype\": \"F8\", \"shape\": [1], \"data_offsets\": [0, 4]}"), "unknown dtype 'F8'"},
      {entry("{\"dtype\": \"f32\", \"shape\": [1], \"data_offsets\": [0, 4]}"), "unknown dtype"},
      {entry("{\"dtype\": \"F32\", \"shape\": 1, \"data_offsets\": [0, 4]}"), "'shape' is not an array"},
      {entry("{\"dtype\": \"F32\", \"shape\": [1.0], \"data_offsets\": [0, 4]}"), "not an integer"},
      {entry("{\"dtype\": \"F32\", \"shape\": [\"1\"], \"data_offsets\": [0, 4]}"), "not an integer"},
      {entry("{\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}"), "negative"},
      {entry("{\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": 0}"), "'data_offsets' is not an array"},
      {entry("{\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]}"), "'data_offsets' is not an array"},
      {entry("{\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4, 8]}"), "'data_offsets'"},
      {entry("{\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [-4, 0]}"), "negative"},
      {entry("{\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4.5]}"), "not an integer"},
      {entry("{\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 4]}"), "needs 8 bytes"},
      {entry("{\"dtype\": \"F16\", \"shape\": [3], \"data_offsets\": [0, 4]}"), "needs 6 bytes"},
      {entry("{\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 4]}"), "> end"},
      {entry("{\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [62, 66]}"), "exceed the data section"},
      {entry("{\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 18446744073709551615]}"), "exceed"},
      {entry("{\"dtype\": \"U8\", \"shape\": [4294967296, 4294967296], \"data_offsets\": [0, 4]}"), "too large"},
      {entry("{\"dtype\": \"U8\", \"shape\": [18446744073709551615], \"data_offsets\": [0, 4]}"), "too large"},
      {"{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
       " \"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}",
       "duplicate key 'w'"},
      {"{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
       " \"v\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}",
       "overlaps"},
      {"{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]},"
       " \"v\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [12, 20]}}",
       "overlaps"},
      {"{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]},"
       " \"v\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [8, 8]}}",
       "overlaps"},
  };
  for (const auto& c : cases) {
    write_raw(p, make_file(c.header));
    SCOPED_TRACE(c.header);
    expect_format_error(p, {c.needle, "'w'"});  // every message names the tensor
  }
}

TEST_F(SafetensorsTest, EmptyTensorNameIsRejected) {
  write_raw(path("n"), make_file("{\"\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}"));
  expect_format_error(path("n"), {"empty name"});
}

TEST_F(SafetensorsTest, ValidHandWrittenFilesAreAccepted) {
  // Gaps, trailing bytes, unaligned offsets and padding spaces are all legal.
  const std::string header =
      "{\"x\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [1, 9]},"
      " \"y\": {\"dtype\": \"U8\", \"shape\": [], \"data_offsets\": [20, 21]}}   ";
  std::string data(32, '\0');
  const float xs[2] = {7.0f, -2.0f};
  std::memcpy(&data[1], xs, 8);
  data[20] = 9;
  write_raw(path("v"), make_file(header, data));
  SafetensorsFile f(path("v"));
  const float* x = f.f32("x", {2});
  EXPECT_EQ(reinterpret_cast<uintptr_t>(x) % alignof(float), 0u);
  EXPECT_EQ(x[0], 7.0f);
  EXPECT_EQ(x[1], -2.0f);
  EXPECT_EQ(f.raw("y")[0], 9);
  EXPECT_EQ(f.names(), (std::vector<std::string>{"x", "y"}));
}

TEST_F(SafetensorsTest, TruncatedFilesAtEveryLength) {
  Sample s;
  save_safetensors(path("full"), s.refs(), {{"k", "v"}});
  const std::string full = read_raw(path("full"));
  for (size_t len = 0; len < full.size(); ++len) {
    write_raw(path("cut"), full.substr(0, len));
    EXPECT_THROW(SafetensorsFile f(path("cut")), FormatError) << "length " << len;
  }
}

// Opens a possibly-corrupt file and touches every tensor; only nexus::Error may escape.
void open_and_touch(const std::string& p) {
  SafetensorsFile f(p);
  for (const auto& name : f.names()) {
    const TensorInfo& info = f.info(name);
    auto bytes = f.raw(name);
    volatile uint8_t sink = 0;
    for (uint8_t b : bytes) sink = sink ^ b;
    if (info.dtype == DType::F32) {
      const float* v = f.f32(name, info.shape);
      volatile float fs = 0;
      for (int64_t i = 0; i < info.numel(); ++i) fs = fs + v[i];
    }
  }
  (void)f.metadata().size();
}

TEST_F(SafetensorsTest, FuzzedFilesOnlyThrowNexusErrors) {
  Sample s;
  save_safetensors(path("base"), s.refs(), {{"format", "pt"}});
  const std::string base = read_raw(path("base"));
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<uint8_t>(base[i]);
  const char interesting[] = "0123456789-[]{}\",: .eE\\";
  Rng rng(1234);
  int opened = 0, rejected = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::string bytes = base;
    const int edits = 1 + static_cast<int>(rng.below(6));
    for (int e = 0; e < edits; ++e) {
      const uint64_t kind = rng.below(10);
      const size_t limit = rng.below(5) == 0 ? bytes.size() : std::min<size_t>(bytes.size(), 8 + header_len);
      if (limit == 0) break;
      const size_t pos = rng.below(limit);
      if (kind < 4) bytes[pos] = static_cast<char>(rng.below(256));
      else if (kind < 7) bytes[pos] = interesting[rng.below(sizeof(interesting) - 1)];
      else if (kind < 8) bytes.erase(pos, 1 + rng.below(4));
      else if (kind < 9) bytes.insert(pos, 1, interesting[rng.below(sizeof(interesting) - 1)]);
      else bytes.resize(pos);
    }
    write_raw(path("fuzz"), bytes);
    try {
      open_and_touch(path("fuzz"));
      ++opened;
    } catch (const Error&) {
      ++rejected;
    } catch (const std::exception& e) {
      FAIL() << "iteration " << iter << " threw a non-nexus exception: " << e.what();
    }
  }
  EXPECT_GT(rejected, 100);
  std::cout << "fuzz: " << opened << " opened, " << rejected << " rejected\n";
}
