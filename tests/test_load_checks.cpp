// What every loader checks before allocating memory sized by a file: the config against the
// weights file's tensor table (model/model_io.h: check_weights_file), counts computed without
// listing tensors (model/params.h), and the memory a model needs against the machine's
// (core/memory.h, InferenceModel::weight_bytes_needed, GPT::training_bytes_needed).
#include <gtest/gtest.h>

#include <climits>
#include <filesystem>
#include <string>

#include "core/error.h"
#include "core/memory.h"
#include "expect_error.h"
#include "infer/model.h"
#include "infer_test_util.h"
#include "model/gpt.h"
#include "model/model_io.h"
#include "train/optimizer.h"

namespace nexus {
namespace {

using testutil::expect_error;

GPTConfig tiny(bool bias = true) {
  GPTConfig c;
  c.block_size = 16;
  c.vocab_size = 40;
  c.n_layer = 2;
  c.n_head = 2;
  c.n_embd = 32;
  c.bias = bias;
  return c;
}

// The tensor table a file written from a `c` model holds.
StoredTensors table_of(const GPTConfig& c) {
  StoredTensors s{"model.safetensors", {}};
  const ParameterLayout layout(c);
  for (const NamedTensor& t : layout.named_tensors()) s.shapes[t.name] = t.shape;
  return s;
}

TEST(LoadChecks, CountsMatchTheLayoutWithoutBuildingIt) {
  for (bool bias : {true, false}) {
    const GPTConfig c = tiny(bias);
    const ParameterLayout layout(c);
    EXPECT_EQ(parameter_count(c), layout.total());
    EXPECT_EQ(tensor_count(c), layout.named_tensors().size());
    size_t i = 0;
    visit_named_tensors(c, [&](const NamedTensor& t) {
      const NamedTensor& want = layout.named_tensors()[i++];
      EXPECT_EQ(t.name, want.name);
      EXPECT_EQ(t.shape, want.shape);
      EXPECT_EQ(t.offset, want.offset);
      EXPECT_EQ(t.count, want.count);
      return true;
    });
    EXPECT_EQ(i, layout.named_tensors().size());
  }
  // An absurd config costs nothing to count or to start walking.
  GPTConfig huge = tiny();
  huge.n_layer = 30000000;
  EXPECT_EQ(tensor_count(huge), 12ull * 30000000 + 4);
  EXPECT_GT(parameter_count(huge), 30000000ull * 12 * 32 * 32);
  int visited = 0;
  visit_named_tensors(huge, [&](const NamedTensor&) { return ++visited < 5; });
  EXPECT_EQ(visited, 5);
  huge.n_layer = INT_MAX;
  huge.n_embd = 1 << 30;
  EXPECT_THROW(parameter_count(huge), InvalidArgument);  // > 2^62: no byte count may overflow
}

TEST(LoadChecks, WeightsFileMustHoldExactlyTheConfigsTensors) {
  const GPTConfig c = tiny();
  EXPECT_NO_THROW(check_weights_file(c, table_of(c)));
  StoredTensors with_extras = table_of(c);
  with_extras.shapes["lm_head.weight"] = {40, 32};                 // the tied head
  with_extras.shapes["transformer.h.0.attn.bias"] = {1, 1, 16, 16};  // nanoGPT's mask buffer
  EXPECT_NO_THROW(check_weights_file(c, with_extras));

  GPTConfig deep = c;
  deep.n_layer = 30000000;  // the walk ends at the first tensor the file lacks
  expect_error<Error>([&] { check_weights_file(deep, table_of(c)); },
                      "model.safetensors: missing tensor 'transformer.h.2.ln_1.weight' (the file does not match the "
                      "model config: it holds 28 model tensors, the config needs 360000004)");
  GPTConfig shallow = c;
  shallow.n_layer = 1;
  expect_error<Error>([&] { check_weights_file(shallow, table_of(c)); }, "unexpected tensor 'transformer.h.1.");
  GPTConfig wide = c;
  wide.n_embd = 64;
  expect_error<Error>([&] { check_weights_file(wide, table_of(c)); },
                      "tensor 'transformer.wte.weight' has shape [40, 32], expected [40, 64]");
  GPTConfig no_bias = c;
  no_bias.bias = false;
  expect_error<Error>([&] { check_weights_file(no_bias, table_of(c)); }, "unexpected tensor 'transformer.h.0.");
  StoredTensors bad_head = table_of(c);
  bad_head.shapes["lm_head.weight"] = {32, 40};
  expect_error<Error>([&] { check_weights_file(c, bad_head); }, "tensor 'lm_head.weight' has shape [32, 40]");
  // Names the file spells its own way (GGUF): the message uses the file's name.
  StoredTensors renamed{"f.gguf", {}, [](const std::string& n) { return "x." + n; }};
  const StoredTensors plain = table_of(c);
  for (const auto& [name, shape] : plain.shapes) renamed.shapes["x." + name] = shape;
  EXPECT_NO_THROW(check_weights_file(c, renamed));
  renamed.shapes.erase("x.transformer.ln_f.bias");
  expect_error<Error>([&] { check_weights_file(c, renamed); }, "f.gguf: missing tensor 'x.transformer.ln_f.bias'");
}

TEST(LoadChecks, MemoryCheckGivesBothFigures) {
  const MemoryInfo mem{9'800'000'000ull, 16'000'000'000ull};
  EXPECT_NO_THROW(require_memory(9.8e9, "x", mem));
  expect_error<Error>([&] { require_memory(14.2e9, "the model m", mem); },
                    "the model m needs 14.2 GB, this machine has 9.8 GB available (of 16.0 GB)");
  EXPECT_EQ(format_bytes(350e6), "350.0 MB");
  const MemoryInfo here = system_memory();
  EXPECT_GT(here.available, 0u);
  EXPECT_LE(here.available, here.total);
}

TEST(LoadChecks, InferenceEstimateIsALowerBoundOfWhatLoadsHold) {
  for (WeightType t : {WeightType::F32, WeightType::BF16, WeightType::Q8}) {
    const GPTConfig c = tiny();
    auto m = InferenceModel::from_gpt(*testutil::random_gpt(c, 3), t);
    const double need = InferenceModel::weight_bytes_needed(c, t);
    EXPECT_LE(need, (double)m->weight_bytes()) << to_string(t);
    EXPECT_GE(need, 0.7 * (double)m->weight_bytes()) << to_string(t);  // only row padding is left out
  }
}

TEST(LoadChecks, TrainingEstimateMatchesWhatTrainingHolds) {
  for (float dropout : {0.0f, 0.1f}) {
    GPTConfig c = tiny();
    c.dropout = dropout;
    GPT g(c);
    g.init_weights(1);
    AdamW opt(g.layout());
    const int B = 3, T = 16;
    const auto tokens = testutil::some_tokens(B * T, c.vocab_size, 2);
    ForwardOptions o;
    o.training = true;
    g.zero_grad();
    g.forward(tokens.data(), tokens.data(), B, T, o);
    g.backward();
    const double held = (double)(g.num_params() + g.num_grads() + opt.m().size() + opt.v().size()) * sizeof(float) +
                        (double)g.activation_bytes();
    const double need = GPT::training_bytes_needed(c, B, T);
    EXPECT_LE(need, held);
    EXPECT_GE(need, 0.95 * held);  // only the 64-byte alignment of each view is left out
  }
}

}  // namespace
}  // namespace nexus
