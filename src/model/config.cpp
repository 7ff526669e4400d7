#include "model/config.h"

#include "core/error.h"
#include "io/json_input.h"

namespace nexus {

void GPTConfig::validate() const {
  auto positive = [](const char* name, int value) {
    if (value <= 0) throw InvalidArgument(std::string(name) + " must be positive, got " + std::to_string(value));
  };
  positive("block_size", block_size);
  positive("vocab_size", vocab_size);
  positive("n_layer", n_layer);
  positive("n_head", n_head);
  positive("n_embd", n_embd);
  if (n_embd % n_head != 0)
    throw InvalidArgument("n_embd (" + std::to_string(n_embd) + ") must be divisible by n_head (" +
                          std::to_string(n_head) + ")");
  if (!(dropout >= 0.0f && dropout < 1.0f))
    throw InvalidArgument("dropout must be in [0, 1), got " + std::to_string(dropout));
}

nlohmann::json to_json(const GPTConfig& config) {
  nlohmann::json j = nlohmann::json::object();
  config.visit([&](const char* name, const auto& field, const char*) { j[name] = field; });
  return j;
}

GPTConfig gpt_config_from_json(const nlohmann::json& j) {
  GPTConfig config;
  read_json_fields(config, j, "model config");
  config.validate();
  return config;
}

}  // namespace nexus
