// GGUF export and import of whole models (infer/gguf_model.h): round trips at every type
// (logits bit-identical to the model directory loaded with the same --weights, f16 within a
// tight tolerance of f32, greedy generations equal), the exact keys and tensors llama.cpp's
// gpt2 loader wants, conversions between stored and requested types, files written by another
// converter (no nexus.* keys), hostile files (FormatError naming the file), and resident memory
// after an 8-bit load (converted f32 pages are given back).
#include <gtest/gtest.h>
#include <malloc.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>

#include "core/error.h"
#include "core/half.h"
#include "core/kernels/qlinear.h"
#include "gguf_test_util.h"
#include "infer/generate.h"
#include "infer_test_util.h"
#include "tokenizer/bpe.h"
#include "tokenizer/byte_tokenizer.h"
#include "tokenizer/char_tokenizer.h"

namespace nexus {
namespace {

using namespace testutil;

// "\n", printable ASCII and four multi-byte characters: a 100-id char vocabulary.
const std::string kChars = "\n !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`"
                           "abcdefghijklmnopqrstuvwxyz{|}~"
                           "\xC3\xA9\xC3\xA8\xE2\x80\x94\xF0\x9F\x98\x80";

GPTConfig tiny(int vocab = 100, bool bias = true, int n_embd = 64) {
  GPTConfig c;
  c.block_size = 32;
  c.vocab_size = vocab;
  c.n_layer = 2;
  c.n_head = 4;
  c.n_embd = n_embd;
  c.bias = bias;
  return c;
}

std::vector<int32_t> greedy(std::shared_ptr<const InferenceModel> m, const std::vector<int32_t>& prompt) {
  GenerationParams p;
  p.sampler.temperature = 0.0f;
  p.max_tokens = 12;
  return generate(std::move(m), prompt, p).tokens;
}

double max_abs(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s = std::max(s, (double)std::fabs(x));
  return s;
}

TEST(GgufModel, RoundTripIsBitIdenticalAtEachType) {
  const std::vector<int32_t> tokens = some_tokens(24, 100, 3);
  for (bool bias : {true, false}) {
    TempDir tmp(bias ? "rt_bias" : "rt_nobias");
    auto g = random_gpt(tiny(100, bias), 7);
    const std::string dir = write_model_dir(tmp / "model", *g, CharTokenizer::from_corpus(kChars));
    const std::pair<GgufExportType, WeightType> cases[] = {
        {GgufExportType::F32, WeightType::F32},
        {GgufExportType::BF16, WeightType::BF16},
        {GgufExportType::Q8_0, WeightType::Q8}};
    for (const auto& [type, weights] : cases) {
      SCOPED_TRACE(std::string(to_string(type)) + (bias ? " bias" : " no bias"));
      auto ref = InferenceModel::load(dir, {.weights = weights});
      const std::string path = export_to(dir, type, tmp / (std::string(to_string(type)) + ".gguf"));
      for (bool mmap : {true, false}) {
        auto m = InferenceModel::load(path, {.mmap = mmap});  // as stored
        EXPECT_EQ(m->weight_type(), weights);
        EXPECT_EQ(m->weight_bytes(), ref->weight_bytes());
        EXPECT_EQ(m->config().bias, bias);
        EXPECT_EQ(m->layer(1).fcb == nullptr, !bias);
        EXPECT_EQ(m->mapped(), mmap);
        EXPECT_EQ(engine_logits(m, tokens), engine_logits(ref, tokens));
        EXPECT_EQ(greedy(m, {5, 17, 42}), greedy(ref, {5, 17, 42}));
        ASSERT_NE(m->tokenizer(), nullptr);
        EXPECT_EQ(m->tokenizer()->serialize(), ref->tokenizer()->serialize());
      }
    }
  }
}

TEST(GgufModel, F16IsTheF32ModelRoundedOnce) {
  TempDir tmp("f16");
  auto g = random_gpt(tiny(), 8);
  const std::string dir = write_model_dir(tmp / "model", *g, CharTokenizer::from_corpus(kChars));
  auto ref = InferenceModel::load(dir);
  auto m = InferenceModel::load(export_to(dir, GgufExportType::F16, tmp / "f16.gguf"));
  EXPECT_EQ(m->weight_type(), WeightType::F32);  // widened exactly
  std::vector<float> w(4 * 64 * 64), w0(w.size());
  static_cast<const kernels::F32Matrix*>(m->layer(1).fc.data)->to_f32(w.data());
  static_cast<const kernels::F32Matrix*>(ref->layer(1).fc.data)->to_f32(w0.data());
  for (size_t i = 0; i < w.size(); i++) ASSERT_EQ(w[i], fp16_to_float(float_to_fp16(w0[i]))) << i;
  EXPECT_EQ(std::vector<float>(m->wte(), m->wte() + 100 * 64), std::vector<float>(ref->wte(), ref->wte() + 100 * 64));
  const std::vector<int32_t> tokens = some_tokens(24, 100, 4);
  const std::vector<float> a = engine_logits(ref, tokens), b = engine_logits(m, tokens);
  double diff = 0;
  for (size_t i = 0; i < a.size(); i++) diff = std::max(diff, (double)std::fabs(a[i] - b[i]));
  EXPECT_GT(diff, 0.0);
  EXPECT_LT(diff, 2e-3 * max_abs(a)) << "f16 weights moved the logits by " << diff;
}

TEST(GgufModel, RequestedTypesConvertFromTheStoredOne) {
  TempDir tmp("convert");
  auto g = random_gpt(tiny(), 9);
  const std::string dir = write_model_dir(tmp / "model", *g, CharTokenizer::from_corpus(kChars));
  const std::vector<int32_t> tokens = some_tokens(20, 100, 5);
  const std::string f32 = export_to(dir, GgufExportType::F32, tmp / "f32.gguf");
  const std::string q8 = export_to(dir, GgufExportType::Q8_0, tmp / "q8.gguf");
  const std::string bf16 = export_to(dir, GgufExportType::BF16, tmp / "bf16.gguf");
  // From stored f32: exactly what the directory gives with the same --weights.
  for (WeightType t : {WeightType::BF16, WeightType::Q8})
    EXPECT_EQ(engine_logits(InferenceModel::load(f32, {.weights = t}), tokens),
              engine_logits(InferenceModel::load(dir, {.weights = t}), tokens));
  // From stored q8: f32 holds the exact dequantized values.
  auto q8_as_f32 = InferenceModel::load(q8, {.weights = WeightType::F32});
  auto q8_native = InferenceModel::load(q8);
  EXPECT_EQ(q8_as_f32->weight_type(), WeightType::F32);
  std::vector<float> dq(192 * 64);
  static_cast<const kernels::Q8Matrix*>(q8_native->layer(0).qkv.data)->to_f32(dq.data());
  std::vector<float> w(dq.size());
  static_cast<const kernels::F32Matrix*>(q8_as_f32->layer(0).qkv.data)->to_f32(w.data());
  EXPECT_EQ(w, dq);
  // bf16 <-> q8 go through the exact f32 values.
  auto bf16_as_q8 = InferenceModel::load(bf16, {.weights = WeightType::Q8});
  EXPECT_EQ(bf16_as_q8->weight_type(), WeightType::Q8);
  EXPECT_EQ(InferenceModel::load(q8, {.weights = WeightType::BF16})->weight_type(), WeightType::BF16);
  // Re-exporting a q8 file as q8_0 writes the very same blocks.
  const GgufFile a(q8), b(export_to(q8, GgufExportType::Q8_0, tmp / "q8_again.gguf"));
  for (const GgufTensorInfo& t : a.tensors()) {
    const auto x = a.raw(t), y = b.raw(b.tensor(t.name));
    EXPECT_TRUE(std::equal(x.begin(), x.end(), y.begin(), y.end())) << t.name;
  }
}

TEST(GgufModel, FileHasTheKeysAndTensorsLlamaCppReads) {
  TempDir tmp("layout");
  auto g = random_gpt(tiny(100, false), 10);
  const std::string dir = write_model_dir(tmp / "model", *g, CharTokenizer::from_corpus(kChars));
  const GgufFile f(export_to(dir, GgufExportType::Q8_0, tmp / "q8.gguf"));
  // Keys, with the types llama.cpp's loader checks (integers UINT32, token types INT32).
  const std::pair<const char*, GgufType> keys[] = {
      {"general.architecture", GgufType::STRING},        {"general.name", GgufType::STRING},
      {"general.file_type", GgufType::UINT32},           {"general.quantization_version", GgufType::UINT32},
      {"general.alignment", GgufType::UINT32},           {"gpt2.context_length", GgufType::UINT32},
      {"gpt2.embedding_length", GgufType::UINT32},       {"gpt2.feed_forward_length", GgufType::UINT32},
      {"gpt2.block_count", GgufType::UINT32},            {"gpt2.attention.head_count", GgufType::UINT32},
      {"gpt2.attention.layer_norm_epsilon", GgufType::FLOAT32}, {"tokenizer.ggml.model", GgufType::STRING},
      {"tokenizer.ggml.pre", GgufType::STRING},          {"tokenizer.ggml.tokens", GgufType::ARRAY},
      {"tokenizer.ggml.token_type", GgufType::ARRAY},    {"tokenizer.ggml.merges", GgufType::ARRAY},
      {"tokenizer.ggml.add_bos_token", GgufType::BOOL},  {"nexus.config", GgufType::STRING},
      {"nexus.bias", GgufType::BOOL},                    {"nexus.tokenizer", GgufType::STRING}};
  for (const auto& [key, type] : keys) {
    ASSERT_NE(f.find(key), nullptr) << key;
    EXPECT_EQ(f.at(key).type(), type) << key;
  }
  EXPECT_EQ(f.metadata().size(), std::size(keys));  // no eos: a char vocabulary has none
  EXPECT_EQ(f.at("general.architecture").get<std::string>(), "gpt2");
  EXPECT_EQ(f.at("general.file_type").get<uint32_t>(), 7u);
  EXPECT_EQ(f.at("general.quantization_version").get<uint32_t>(), 2u);
  EXPECT_EQ(f.at("general.alignment").get<uint32_t>(), 32u);
  EXPECT_EQ(f.at("gpt2.context_length").get<uint32_t>(), 32u);
  EXPECT_EQ(f.at("gpt2.embedding_length").get<uint32_t>(), 64u);
  EXPECT_EQ(f.at("gpt2.feed_forward_length").get<uint32_t>(), 256u);
  EXPECT_EQ(f.at("gpt2.block_count").get<uint32_t>(), 2u);
  EXPECT_EQ(f.at("gpt2.attention.head_count").get<uint32_t>(), 4u);
  EXPECT_EQ(f.at("gpt2.attention.layer_norm_epsilon").get<float>(), 1e-5f);
  EXPECT_EQ(f.at("tokenizer.ggml.model").get<std::string>(), "gpt2");
  EXPECT_EQ(f.at("tokenizer.ggml.pre").get<std::string>(), "gpt-2");
  EXPECT_EQ(f.at("tokenizer.ggml.tokens").get_array<std::string>().size(), 100u);
  EXPECT_EQ(f.at("tokenizer.ggml.token_type").get_array<int32_t>(), std::vector<int32_t>(100, 1));
  EXPECT_FALSE(f.at("tokenizer.ggml.add_bos_token").get<bool>());
  EXPECT_FALSE(f.at("nexus.bias").get<bool>());
  // Tensors: llama.cpp's names, ggml dims {in, out}, matrices in the export type, the rest F32.
  std::map<std::string, std::pair<std::vector<int64_t>, GgmlType>> want = {
      {"token_embd.weight", {{64, 100}, GgmlType::F32}}, {"position_embd.weight", {{64, 32}, GgmlType::F32}},
      {"output_norm.weight", {{64}, GgmlType::F32}},     {"output_norm.bias", {{64}, GgmlType::F32}},
      {"output.weight", {{64, 100}, GgmlType::Q8_0}}};
  for (int l = 0; l < 2; l++) {
    const std::string b = "blk." + std::to_string(l) + ".";
    want[b + "attn_norm.weight"] = want[b + "attn_norm.bias"] = {{64}, GgmlType::F32};
    want[b + "ffn_norm.weight"] = want[b + "ffn_norm.bias"] = {{64}, GgmlType::F32};
    want[b + "attn_qkv.weight"] = {{64, 192}, GgmlType::Q8_0};
    want[b + "attn_qkv.bias"] = {{192}, GgmlType::F32};
    want[b + "attn_output.weight"] = {{64, 64}, GgmlType::Q8_0};
    want[b + "attn_output.bias"] = {{64}, GgmlType::F32};
    want[b + "ffn_up.weight"] = {{64, 256}, GgmlType::Q8_0};
    want[b + "ffn_up.bias"] = {{256}, GgmlType::F32};
    want[b + "ffn_down.weight"] = {{256, 64}, GgmlType::Q8_0};
    want[b + "ffn_down.bias"] = {{64}, GgmlType::F32};
  }
  ASSERT_EQ(f.tensors().size(), want.size());
  for (const GgufTensorInfo& t : f.tensors()) {
    ASSERT_TRUE(want.count(t.name)) << t.name;
    EXPECT_EQ(t.dims, want[t.name].first) << t.name;
    EXPECT_EQ(t.type, want[t.name].second) << t.name;
    if (t.name.find(".bias") != std::string::npos) {  // bias=false: zeros llama.cpp adds harmlessly
      for (float x : f.to_f32(t)) ASSERT_EQ(x, 0.0f) << t.name;
    }
  }
  // The blocks are the model's own 8-bit matrix, bit for bit.
  auto q8 = InferenceModel::load(dir, {.weights = WeightType::Q8});
  std::vector<uint8_t> blocks(100 * 2 * 34);
  static_cast<const kernels::Q8Matrix*>(q8->lm_head().data)->to_q8_0(blocks.data());
  const auto raw = f.raw(f.tensor("output.weight"));
  EXPECT_EQ(std::vector<uint8_t>(raw.begin(), raw.end()), blocks);
  // An end-of-text id (here the first padding id of a byte vocabulary) is a UINT32 bos/eos.
  const std::string byte_dir = write_model_dir(tmp / "byte", *random_gpt(tiny(300), 15), ByteTokenizer());
  const GgufFile b(export_to(byte_dir, GgufExportType::F32, tmp / "byte.gguf"));
  for (const char* key : {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"}) {
    ASSERT_NE(b.find(key), nullptr) << key;
    EXPECT_EQ(b.at(key).get<uint32_t>(), 256u) << key;
  }
  EXPECT_EQ(b.at("tokenizer.ggml.token_type").get_array<int32_t>()[299], 5);
  // general.file_type of the other types.
  const std::pair<GgufExportType, uint32_t> ftypes[] = {
      {GgufExportType::F32, 0}, {GgufExportType::F16, 1}, {GgufExportType::BF16, 32}};
  for (const auto& [type, code] : ftypes)
    EXPECT_EQ(GgufFile(export_to(dir, type, tmp / "t.gguf")).at("general.file_type").get<uint32_t>(), code);
}

TEST(GgufModel, NamesAndTypes) {
  EXPECT_EQ(gguf_tensor_name("transformer.h.11.mlp.c_proj.bias"), "blk.11.ffn_down.bias");
  EXPECT_EQ(gguf_tensor_name("transformer.h.0.attn.c_attn.weight"), "blk.0.attn_qkv.weight");
  EXPECT_EQ(gguf_tensor_name("lm_head.weight"), "output.weight");
  EXPECT_EQ(gguf_tensor_name("transformer.wpe.weight"), "position_embd.weight");
  EXPECT_THROW(gguf_tensor_name("transformer.h.x.ln_1.weight"), InvalidArgument);
  EXPECT_THROW(gguf_tensor_name("transformer.h.0.attn.bias"), InvalidArgument);
  EXPECT_EQ(parse_gguf_export_type("q8"), GgufExportType::Q8_0);
  EXPECT_EQ(parse_gguf_export_type("f16"), GgufExportType::F16);
  EXPECT_THROW(parse_gguf_export_type("q4_0"), InvalidArgument);
  EXPECT_EQ(parse_weight_option("auto"), std::nullopt);
  EXPECT_EQ(parse_weight_option("q8"), WeightType::Q8);
  EXPECT_THROW(parse_weight_option("int4"), InvalidArgument);
}

TEST(GgufModel, ExportRefusesWhatItCannotWrite) {
  TempDir tmp("refuse");
  auto g = random_gpt(tiny(100, true, 48), 11);
  const std::string dir = write_model_dir(tmp / "model", *g, CharTokenizer::from_corpus(kChars));
  auto m = InferenceModel::load(dir);
  EXPECT_THROW(export_gguf(*m, GgufExportType::Q8_0, tmp / "x.gguf", "x"), InvalidArgument);  // 48 % 32
  EXPECT_THROW(export_gguf(*InferenceModel::from_gpt(*g), GgufExportType::F32, tmp / "x.gguf", "x"),
               InvalidArgument);  // no tokenizer
  EXPECT_FALSE(std::filesystem::exists(tmp / "x.gguf"));
  // A 48-wide f32 file loads, but not as 8-bit.
  const std::string f32 = export_to(dir, GgufExportType::F32, tmp / "f32.gguf");
  EXPECT_THROW(InferenceModel::load(f32, {.weights = WeightType::Q8}), InvalidArgument);
}

TEST(GgufModel, FileWithoutNexusKeysLoadsFromGpt2KeysAndVocab) {
  // What a llama.cpp conversion looks like: no nexus.* keys. A BPE and a byte vocabulary.
  TempDir tmp("foreign");
  std::string text;
  for (int i = 0; i < 40; i++) text += "the king and the queen of the land, " + std::to_string(i * 37) + " times!\n";
  const std::unique_ptr<Tokenizer> toks[] = {make_tokenizer("bpe:300:gpt2", text), std::make_unique<ByteTokenizer>()};
  for (const auto& tok : toks) {
    SCOPED_TRACE(tok->kind());
    auto g = random_gpt(tiny(300), 12);
    const std::string dir = write_model_dir(tmp / ("model_" + tok->kind()), *g, *tok);
    const std::string path = export_to(dir, GgufExportType::F32, tmp / "nexus.gguf");
    rewrite_gguf(path, tmp / "foreign.gguf", [](std::vector<GgufKV>& kv, std::vector<GgufTensorRef>&) {
      erase_kv(kv, "nexus.");
    });
    auto m = InferenceModel::load(tmp / "foreign.gguf");
    auto ref = InferenceModel::load(dir);
    EXPECT_TRUE(m->config().bias);
    const std::vector<int32_t> tokens = some_tokens(16, 300, 6);
    EXPECT_EQ(engine_logits(m, tokens), engine_logits(ref, tokens));
    ASSERT_NE(m->tokenizer(), nullptr);
    EXPECT_EQ(m->tokenizer()->kind(), "bpe");  // built from tokenizer.ggml.*
    EXPECT_EQ(m->tokenizer()->vocab_size(), 300);
    const std::string sample = "the queen of 1234 lands, and the king!\n  twice";
    const std::vector<int32_t> want = ref->tokenizer()->encode(sample);
    EXPECT_EQ(m->tokenizer()->encode(sample), want);
    EXPECT_EQ(m->tokenizer()->decode(want), sample);
  }
}

// Rewrites a good export with `edit` and expects loading it to throw FormatError mentioning
// the file and `what`.
void expect_format_error(const std::string& good, const std::string& bad, const std::string& what,
                         const GgufEdit& edit) {
  rewrite_gguf(good, bad, edit);
  try {
    InferenceModel::load(bad);
    ADD_FAILURE() << "no error for " << what;
  } catch (const FormatError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(bad), std::string::npos) << m;
    EXPECT_NE(m.find(what), std::string::npos) << m;
  }
}

TEST(GgufModel, NotGpt2ShapedFilesAreFormatErrors) {
  TempDir tmp("hostile");
  auto g = random_gpt(tiny(), 13);
  const std::string dir = write_model_dir(tmp / "model", *g, CharTokenizer::from_corpus(kChars));
  const std::string good = export_to(dir, GgufExportType::F32, tmp / "good.gguf");
  const std::string bad = tmp / "bad.gguf";
  using KV = std::vector<GgufKV>;
  using T = std::vector<GgufTensorRef>;
  expect_format_error(good, bad, "llama", [](KV& kv, T&) { set_kv(kv, "general.architecture", "llama"); });
  expect_format_error(good, bad, "general.architecture", [](KV& kv, T&) { erase_kv(kv, "general.architecture"); });
  expect_format_error(good, bad, "blk.1.ffn_down.weight", [](KV&, T& t) {
    std::erase_if(t, [](const GgufTensorRef& r) { return r.name == "blk.1.ffn_down.weight"; });
  });
  expect_format_error(good, bad, "blk.0.attn_qkv.weight", [](KV&, T& t) {
    for (auto& r : t)
      if (r.name == "blk.0.attn_qkv.weight") r.dims = {192, 64};
  });
  expect_format_error(good, bad, "divisible", [](KV& kv, T&) {
    set_kv(kv, "gpt2.attention.head_count", uint32_t{5});
    erase_kv(kv, "nexus.config");
  });
  expect_format_error(good, bad, "feed_forward_length",
                      [](KV& kv, T&) { set_kv(kv, "gpt2.feed_forward_length", uint32_t{128}); });
  expect_format_error(good, bad, "gpt2.block_count",
                      [](KV& kv, T&) { set_kv(kv, "gpt2.block_count", uint32_t{1000000}); });
  expect_format_error(good, bad, "gpt2.block_count", [](KV& kv, T&) { set_kv(kv, "gpt2.block_count", "two"); });
  expect_format_error(good, bad, "layer_norm_epsilon",
                      [](KV& kv, T&) { set_kv(kv, "gpt2.attention.layer_norm_epsilon", 1e-6f); });
  expect_format_error(good, bad, "nexus.config", [](KV& kv, T&) {
    set_kv(kv, "nexus.config", to_json(tiny(100, true, 32)).dump());
  });
  expect_format_error(good, bad, "nexus.tokenizer", [](KV& kv, T&) { set_kv(kv, "nexus.tokenizer", "{bad json"); });
  // JSON inside the file is bounded like a tokenizer.json, and its integers must fit.
  expect_format_error(good, bad, "nexus.tokenizer is nested too deeply", [](KV& kv, T&) {
    set_kv(kv, "nexus.tokenizer", std::string(100000, '[') + std::string(100000, ']'));
  });
  expect_format_error(good, bad, "'n_layer' must be an integer", [](KV& kv, T&) {
    nlohmann::json c = to_json(tiny());
    c["n_layer"] = 4294967298ull;  // 2 in an int
    set_kv(kv, "nexus.config", c.dump());
  });
  // A tensor the model does not have (the file's table must match the config exactly).
  expect_format_error(good, bad, "unexpected tensor 'blk.7.attn_norm.weight'", [](KV&, T& t) {
    GgufTensorRef extra = t.front();
    for (const auto& r : t)
      if (r.name == "blk.0.attn_norm.weight") extra = r;
    extra.name = "blk.7.attn_norm.weight";
    t.push_back(extra);
  });
  expect_format_error(good, bad, "pre-tokenizer", [](KV& kv, T&) {
    erase_kv(kv, "nexus.");
    set_kv(kv, "tokenizer.ggml.pre", "qwen2");
  });
  // 50 embedding rows, but the tokenizer has 100 ids.
  expect_format_error(good, bad, "100 ids", [](KV& kv, T& t) {
    erase_kv(kv, "nexus.config");
    for (auto& r : t)
      if (r.name == "token_embd.weight" || r.name == "output.weight") r.dims = {64, 50};
  });
}

// Found by fuzz/fuzz_gguf_model: 8-bit blocks cannot hold a NaN (or a weight above 8.3e6).
// Asking for q8 is the caller's choice (InvalidArgument), a q8_0 file whose own f32 matrix or
// tied embedding needs the conversion is the file's fault (FormatError); both name the file
// and the tensor (the message used to be Q8Matrix::from_f32's alone, and InvalidArgument).
TEST(GgufModel, WeightsEightBitBlocksCannotHoldNameTheFileAndTensor) {
  TempDir tmp("nonfinite");
  auto g = random_gpt(tiny(), 16);
  const std::string dir = write_model_dir(tmp / "model", *g, CharTokenizer::from_corpus(kChars));
  const std::string f32 = export_to(dir, GgufExportType::F32, tmp / "f32.gguf");
  const std::string q8 = export_to(dir, GgufExportType::Q8_0, tmp / "q8.gguf");
  const std::string bad = tmp / "bad.gguf";
  std::vector<float> nan_matrix(64 * 64 * 4, 0.5f), nan_embd(64 * 100, 0.5f);
  nan_matrix[70] = NAN;
  nan_embd[3] = INFINITY;
  const auto expect = [&](auto error, const std::string& tensor, LoadOptions options) {
    try {
      InferenceModel::load(bad, options);
      ADD_FAILURE() << "no error for " << tensor;
    } catch (const decltype(error)& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find(bad), std::string::npos) << m;
      EXPECT_NE(m.find("'" + tensor + "'"), std::string::npos) << m;
      EXPECT_NE(m.find("finite"), std::string::npos) << m;
    }
  };
  rewrite_gguf(f32, bad, [&](std::vector<GgufKV>&, std::vector<GgufTensorRef>& t) {
    for (auto& r : t)
      if (r.name == "blk.1.ffn_up.weight") r.data = nan_matrix.data();
  });
  EXPECT_NO_THROW(InferenceModel::load(bad));
  expect(InvalidArgument(""), "blk.1.ffn_up.weight", {.weights = WeightType::Q8});
  rewrite_gguf(q8, bad, [&](std::vector<GgufKV>&, std::vector<GgufTensorRef>& t) {
    for (auto& r : t)
      if (r.name == "blk.0.attn_output.weight") r = {r.name, {64, 64}, GgmlType::F32, nan_matrix.data()};
  });
  expect(FormatError(""), "blk.0.attn_output.weight", {});
  rewrite_gguf(q8, bad, [&](std::vector<GgufKV>&, std::vector<GgufTensorRef>& t) {
    std::erase_if(t, [](const GgufTensorRef& r) { return r.name == "output.weight"; });
    for (auto& r : t)
      if (r.name == "token_embd.weight") r.data = nan_embd.data();
  });
  expect(FormatError(""), "token_embd.weight", {});
}

// Resident set size of this process in bytes (VmRSS).
size_t rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoul(line.substr(6)) * 1024;
  return 0;
}

TEST(GgufModel, EightBitLoadsHoldAboutTheirWeightBytes) {
  // 28 MB of f32 matrices, 7.5 MB as q8: holding the f32 pages of the source would blow the bound.
  TempDir tmp("rss");
  GPTConfig c = tiny(256);
  c.n_embd = 384, c.n_head = 6, c.n_layer = 4, c.block_size = 64;
  auto g = random_gpt(c, 14, 0.02f);
  const std::string dir = write_model_dir(tmp / "model", *g, ByteTokenizer());
  g.reset();
  const std::string f32 = export_to(dir, GgufExportType::F32, tmp / "f32.gguf");
  const std::string q8 = export_to(dir, GgufExportType::Q8_0, tmp / "q8.gguf");
  if (rss_bytes() == 0) GTEST_SKIP() << "no /proc/self/status";
  struct Case {
    std::string path;
    LoadOptions options;
  };
  const Case cases[] = {{dir, {.mmap = true, .weights = WeightType::Q8}},
                        {dir, {.mmap = false, .weights = WeightType::Q8}},
                        {f32, {.mmap = true, .weights = WeightType::Q8}},
                        {q8, {.mmap = true, .weights = std::nullopt}},
                        {q8, {.mmap = false, .weights = std::nullopt}}};
  InferenceModel::load(dir, cases[0].options);  // warm-up: thread pools, allocator arenas
  for (const Case& k : cases) {
    ::malloc_trim(0);  // freed memory of the last case goes back: this case's pages are its own
    const size_t before = rss_bytes();
    auto m = InferenceModel::load(k.path, k.options);
    const double growth = (double)rss_bytes() - (double)before;
    EXPECT_EQ(m->weight_type(), WeightType::Q8);
    std::printf("%s (mmap %d): RSS +%.1f MB for %.1f MB of weights\n", k.path.c_str(), k.options.mmap, growth / 1e6,
                m->weight_bytes() / 1e6);
    EXPECT_LT(growth, m->weight_bytes() * 1.15 + (4 << 20))
        << k.path << " mmap " << k.options.mmap << ": RSS grew " << growth / 1e6 << " MB for "
        << m->weight_bytes() / 1e6 << " MB of weights";
  }
}

}  // namespace
}  // namespace nexus
