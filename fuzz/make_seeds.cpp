// Writes the seed corpora of the fuzz targets: small valid inputs of each kind, made by
// Nexus's own writers so they follow the formats as the code does today (nothing binary is
// committed). Usage: make_fuzz_seeds OUT_DIR -> OUT_DIR/<target>/<seed> for every target
// in fuzz/. Deterministic: the same tree writes the same bytes.
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "../tests/gguf_test_util.h"
#include "../tests/infer_test_util.h"
#include "core/error.h"
#include "core/half.h"
#include "io/safetensors.h"
#include "tokenizer/byte_tokenizer.h"
#include "tokenizer/char_tokenizer.h"

namespace fs = std::filesystem;
using namespace nexus;

namespace {

fs::path g_out;

void seed(const std::string& target, const std::string& name, std::string_view bytes) {
  fs::create_directories(g_out / target);
  write_file_atomic((g_out / target / name).string(), bytes);
}

std::string corpus() {
  std::string text;
  for (int i = 0; i < 40; i++) text += "the king and the queen of the land, " + std::to_string(i * 37) + " times!\n";
  return text;
}

GPTConfig tiny(int vocab, int n_embd, bool bias = true) {
  return {.block_size = 8, .vocab_size = vocab, .n_layer = 1, .n_head = 2, .n_embd = n_embd, .bias = bias};
}

// Whole models: every export type, a byte and a BPE vocabulary, a bias-free model, and a file
// as another converter writes it (no nexus.* keys, tokenizer from tokenizer.ggml.*, tied head).
void model_seeds(const testutil::TempDir& tmp) {
  const CharTokenizer chars = CharTokenizer::from_corpus("abcdefgh \n");
  const auto bpe = make_tokenizer("bpe:280:gpt2", corpus());
  const std::string small = testutil::write_model_dir(tmp / "small", *testutil::random_gpt(tiny(10, 16), 1), chars);
  const std::string wide = testutil::write_model_dir(tmp / "wide", *testutil::random_gpt(tiny(10, 32), 2), chars);
  const std::string byte = testutil::write_model_dir(
      tmp / "byte", *testutil::random_gpt(tiny(256, 32, false), 3), ByteTokenizer());
  const std::string foreign = testutil::write_model_dir(tmp / "bpe", *testutil::random_gpt(tiny(280, 32), 4), *bpe);
  const std::pair<std::string, std::pair<std::string, GgufExportType>> exports[] = {
      {"f32.gguf", {small, GgufExportType::F32}},      {"f16.gguf", {wide, GgufExportType::F16}},
      {"bf16.gguf", {wide, GgufExportType::BF16}},     {"q8_0.gguf", {wide, GgufExportType::Q8_0}},
      {"byte_q8_0.gguf", {byte, GgufExportType::Q8_0}}, {"bpe_q8_0.gguf", {foreign, GgufExportType::Q8_0}}};
  for (const auto& [name, from] : exports) {
    const std::string path = testutil::export_to(from.first, from.second, tmp / name);
    if (name == "bpe_q8_0.gguf")
      testutil::rewrite_gguf(path, path, [](std::vector<GgufKV>& kv, std::vector<GgufTensorRef>& tensors) {
        testutil::erase_kv(kv, "nexus.");
        std::erase_if(tensors, [](const GgufTensorRef& t) { return t.name == "output.weight"; });
      });
    seed("fuzz_gguf_model", name, read_file(path));
  }
  seed("fuzz_gguf", "model_q8_0.gguf", read_file(tmp / "q8_0.gguf"));
  seed("fuzz_safetensors", "model.safetensors", read_file(small + "/" + kModelFile));
}

// GGUF files with every metadata type, scalar and array, and every tensor type at 1 to 4 dims,
// at the default alignment and at alignment 1 (unaligned tensor data).
void gguf_seeds() {
  std::vector<float> f32(64);
  for (size_t i = 0; i < f32.size(); i++) f32[i] = 0.25f * (float)i - 3.0f;
  std::vector<uint16_t> f16(64), bf16(64);
  float_to_fp16_row(f32.data(), f16.data(), 64);
  for (size_t i = 0; i < 64; i++) bf16[i] = float_to_bf16(f32[i]);
  std::vector<BlockQ8_0> q8(2);
  for (size_t b = 0; b < q8.size(); b++) {
    q8[b].d = f16[b + 5];
    for (int j = 0; j < 32; j++) q8[b].qs[j] = (int8_t)(j * 7 - 100 + (int)b);
  }
  const std::vector<GgufTensorRef> tensors = {{"a.f32", {4, 4}, GgmlType::F32, f32.data()},
                                              {"b.f16", {64}, GgmlType::F16, f16.data()},
                                              {"c.bf16", {2, 2, 2, 2}, GgmlType::BF16, bf16.data()},
                                              {"d.q8_0", {32, 2}, GgmlType::Q8_0, q8.data()},
                                              {"e.empty", {0, 3}, GgmlType::F32, nullptr}};
  std::vector<GgufKV> kv = {
      {"u8", uint8_t{200}},   {"i8", int8_t{-5}},          {"u16", uint16_t{60000}},
      {"i16", int16_t{-300}}, {"u32", uint32_t{1u << 31}}, {"i32", int32_t{-70000}},
      {"f32", 1.5f},          {"bool", true},              {"str", "caf\xC3\xA9"},
      {"u64", uint64_t{1} << 40}, {"i64", int64_t{-1}},    {"f64", 2.25},
      {"arr.str", std::vector<std::string>{"a", "", "bc"}}, {"arr.i32", std::vector<int32_t>{1, -2, 3}},
      {"arr.bool", std::vector<bool>{true, false}},         {"arr.f32", std::vector<float>{}}};
  seed("fuzz_gguf", "types.gguf", gguf_to_bytes(kv, tensors));
  kv.emplace_back("general.alignment", uint32_t{1});
  seed("fuzz_gguf", "align1.gguf", gguf_to_bytes(kv, tensors));
  seed("fuzz_gguf", "empty.gguf", gguf_to_bytes({}, {}));
}

// safetensors: every dtype, a scalar, an empty tensor, metadata, and F32 data at an odd offset.
void safetensors_seeds(const testutil::TempDir& tmp) {
  const std::vector<uint8_t> bytes(64, 0x3f);
  std::vector<TensorRef> refs = {{"odd", DType::U8, {1}, bytes.data()},
                                 {"f32", DType::F32, {2, 3}, bytes.data()},
                                 {"scalar", DType::F64, {}, bytes.data()},
                                 {"empty", DType::BF16, {0, 4}, nullptr}};
  for (DType t : {DType::F16, DType::BF16, DType::I8, DType::I16, DType::I32, DType::I64, DType::U16, DType::U32,
                  DType::U64, DType::BOOL})
    refs.push_back({"t." + dtype_name(t), t, {2}, bytes.data()});
  save_safetensors(tmp / "types.safetensors", refs, {{"format", "pt"}, {"note", "seed"}});
  seed("fuzz_safetensors", "types.safetensors", read_file(tmp / "types.safetensors"));
  save_safetensors(tmp / "empty.safetensors", {});
  seed("fuzz_safetensors", "empty.safetensors", read_file(tmp / "empty.safetensors"));
}

// Tokenizer files (each kind, each BPE split pattern), GPT-2's two files, and text to encode.
void tokenizer_seeds() {
  const std::string text = corpus();
  seed("fuzz_hf_json", "char.json", CharTokenizer::from_corpus("abc \n\xC3\xA9").serialize());
  seed("fuzz_hf_json", "byte.json", ByteTokenizer().serialize());
  for (const char* pattern : {"gpt2", "gpt4", "gpt4o"}) {
    const auto tok = make_tokenizer(std::string("bpe:270:") + pattern, text);
    seed("fuzz_hf_json", std::string("bpe_") + pattern + ".json", tok->serialize());
  }
  const nlohmann::json j = nlohmann::json::parse(make_tokenizer("bpe:270:gpt2", text)->serialize());
  std::string files = j["model"]["vocab"].dump() + '\0' + "#version: 0.2\n";
  for (const auto& m : j["model"]["merges"]) files += m.get<std::string>() + "\n";
  seed("fuzz_gpt2_files", "small.txt", files);
  const std::pair<const char*, std::string> texts[] = {
      {"english.txt", "Hello world, it's 2024: the king's 12345 men.\n\n  Indented\ttab"},
      {"unicode.txt", "caf\xC3\xA9 \xE2\x80\x94 \xF0\x9F\x98\x80 \xC5\xBF \xC3\x89" "COLE \xE4\xB8\xAD\xE6\x96\x87 x\xCC\x81"},
      {"special.txt", "a<|endoftext|>b <|endoftext|><|endoftext|>"},
      {"invalid.txt", std::string("\xff\xfe\xc3(\xe2\x82 ok\x00\x80", 11)},
      {"spaces.txt", "   \n\n\n \t \r\n x  y"}};
  for (const auto& [name, t] : texts) seed("fuzz_encode", name, t);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  try {
    g_out = argv[1];
    const testutil::TempDir tmp("fuzz_seeds");
    model_seeds(tmp);
    gguf_seeds();
    safetensors_seeds(tmp);
    tokenizer_seeds();
  } catch (const Error& e) {
    std::fprintf(stderr, "make_fuzz_seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}
