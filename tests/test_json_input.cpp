// JSON from files users control (io/json_input.h): bounded parsing (depth, size, duplicate
// keys) and field reads that refuse what a field's type cannot hold, through the configs that
// use them (GPTConfig, TrainConfig, SamplerParams).
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "core/error.h"
#include "expect_error.h"
#include "infer/sampler.h"
#include "io/json_input.h"
#include "model/config.h"
#include "train/train_config.h"

namespace nexus {
namespace {

using json = nlohmann::json;

// Runs f, which must throw FormatError whose message contains `part`.
template <class F>
void expect_format_error(F&& f, const std::string& part) {
  testutil::expect_error<FormatError>(f, part);
}

std::string nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

TEST(JsonInput, NestingIsBoundedBeforeTheTreeIsBuilt) {
  EXPECT_EQ(parse_json(nested(64), "t"), json::parse(nested(64)));
  expect_format_error([] { parse_json(nested(65), "t"); }, "t is nested too deeply");
  expect_format_error([] { parse_json("{\"a\": {\"b\": [[1]]}}", "t", {.max_depth = 3}); }, "nested too deeply");
  EXPECT_NO_THROW(parse_json("{\"a\": {\"b\": [1]}}", "t", {.max_depth = 3}));
  // Unbalanced deep input stops at the limit too (not "unexpected end" after building it all).
  expect_format_error([] { parse_json(std::string(1 << 20, '['), "t"); }, "nested too deeply");
}

TEST(JsonInput, SizeDuplicatesAndSyntax) {
  expect_format_error([] { parse_json("[1, 2, 3]", "t", {.max_bytes = 8}); }, "t is 9 bytes of JSON, more than");
  EXPECT_NO_THROW(parse_json("[1, 2, 3]", "t", {.max_bytes = 9}));
  EXPECT_EQ(parse_json("{\"a\": 1, \"a\": 2}", "t").at("a"), 2);  // nlohmann's rule, unless asked
  expect_format_error([] { parse_json("{\"a\": {\"b\": 1, \"b\": 2}}", "t", {.unique_keys = true}); },
                      "t has duplicate key 'b'");
  EXPECT_NO_THROW(parse_json("{\"a\": {\"b\": 1}, \"c\": {\"b\": 2}}", "t", {.unique_keys = true}));
  expect_format_error([] { parse_json("{\"a\": ", "t"); }, "t is not valid JSON");
  expect_format_error([] { parse_json("", "t"); }, "t is not valid JSON");
}

TEST(JsonInput, IntegersMustFitTheirField) {
  EXPECT_EQ(json_value<int>(json(2147483647), "f"), 2147483647);
  EXPECT_EQ(json_value<int>(json(-2147483648LL), "f"), INT32_MIN);
  expect_format_error([] { json_value<int>(json(4294967297ULL), "n_layer"); }, "n_layer must be an integer in");
  expect_format_error([] { json_value<int>(json(2147483648LL), "f"); }, "got 2147483648");
  expect_format_error([] { json_value<int>(json(-2147483649LL), "f"); }, "got -2147483649");
  expect_format_error([] { json_value<int>(json(4.5), "f"); }, "got 4.5");
  expect_format_error([] { json_value<int>(json(4.0), "f"); }, "must be an integer");  // a float, even if whole
  expect_format_error([] { json_value<int>(json(true), "f"); }, "got true");
  expect_format_error([] { json_value<int>(json("4"), "f"); }, "must be an integer");
  EXPECT_EQ(json_value<uint64_t>(json(UINT64_MAX), "f"), UINT64_MAX);
  expect_format_error([] { json_value<uint64_t>(json(-1), "seed"); }, "seed must be an integer in [0, ");
  expect_format_error([] { json_value<int64_t>(json(UINT64_MAX), "f"); }, "must be an integer");
  expect_format_error([] { json_value<uint16_t>(json(65536), "f"); }, "[0, 65535]");
}

TEST(JsonInput, FloatsBoolsAndStrings) {
  EXPECT_FLOAT_EQ(json_value<float>(json(3), "f"), 3.0f);
  EXPECT_FLOAT_EQ(json_value<float>(json(0.25), "f"), 0.25f);
  expect_format_error([] { json_value<float>(json(1e39), "f"); }, "fits a 32-bit float");
  EXPECT_DOUBLE_EQ(json_value<double>(json(1e39), "f"), 1e39);
  expect_format_error([] { json_value<float>(json(false), "f"); }, "must be a number");
  EXPECT_TRUE(json_value<bool>(json(true), "f"));
  expect_format_error([] { json_value<bool>(json(1), "bias"); }, "bias must be true or false, got 1");
  EXPECT_EQ(json_value<std::string>(json("x"), "f"), "x");
  expect_format_error([] { json_value<std::string>(json(1), "f"); }, "must be a string");
}

TEST(JsonInput, ConfigsReadTheirFieldsThroughIt) {
  // n_layer = 2^32 + 1 wrapped to a 1-layer model before.
  expect_format_error([] { gpt_config_from_json(json{{"n_layer", 4294967297ULL}}); },
                      "model config field 'n_layer' must be an integer");
  expect_format_error([] { gpt_config_from_json(json{{"n_embd", 64.5}}); }, "'n_embd'");
  expect_format_error([] { gpt_config_from_json(json{{"bias", 0}}); }, "'bias' must be true or false");
  expect_format_error([] { gpt_config_from_json(json::array()); }, "model config must be a JSON object");
  EXPECT_EQ(gpt_config_from_json(json{{"n_layer", 3}, {"dropout", 0}}).n_layer, 3);
  TrainConfig t;
  expect_format_error([&] { update_from_json(t, json{{"batch_size", 4294967308ULL}}); },
                      "training config field 'batch_size' must be an integer");
  expect_format_error([&] { update_from_json(t, json{{"learning_rate", "fast"}}); }, "'learning_rate'");
  update_from_json(t, json{{"max_iters", 7}, {"lr_schedule", "inverse-sqrt"}});
  EXPECT_EQ(t.max_iters, 7);
  EXPECT_EQ(t.lr_schedule, "inverse-sqrt");
  expect_format_error([] { sampler_params_from_json(json{{"seed", -1}}); }, "sampler field 'seed' must be");
  expect_format_error([] { sampler_params_from_json(json{{"top_k", 1e10}}); }, "sampler field 'top_k' must be");
  EXPECT_EQ(sampler_params_from_json(json{{"seed", UINT64_MAX}}).seed, UINT64_MAX);
}

}  // namespace
}  // namespace nexus
