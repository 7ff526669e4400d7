#pragma once
// GPT model configuration (nanoGPT's GPTConfig). Fields are listed once, in visit(), and
// parsing, printing, JSON and help text all walk that list.
#include <nlohmann/json.hpp>
#include <string>

namespace nexus {

/// Shape of a GPT-2-family model.
struct GPTConfig {
  int block_size = 256;  // maximum context length (rows of wpe)
  int vocab_size = 65;   // rows of wte / columns of the logits
  int n_layer = 6;
  int n_head = 6;
  int n_embd = 384;
  float dropout = 0.0f;  // on embeddings, attention probabilities and residual branches
  bool bias = true;      // biases in Linear and LayerNorm layers

  /// Calls v(name, field, help) for every field, in a fixed order.
  template <class V>
  void visit(V&& v) {
    v("block_size", block_size, "maximum context length in tokens");
    v("vocab_size", vocab_size, "vocabulary size (rows of the token embedding)");
    v("n_layer", n_layer, "number of transformer blocks");
    v("n_head", n_head, "attention heads per block");
    v("n_embd", n_embd, "embedding width; must be divisible by n_head");
    v("dropout", dropout, "dropout rate for training (0 = off)");
    v("bias", bias, "use biases in Linear and LayerNorm layers");
  }
  template <class V>
  void visit(V&& v) const {
    const_cast<GPTConfig*>(this)->visit(std::forward<V>(v));
  }

  /// Throws InvalidArgument naming the first field that is out of range or inconsistent.
  void validate() const;

  /// Width of one attention head.
  int head_size() const { return n_embd / n_head; }
};

/// JSON object with every field of the config.
nlohmann::json to_json(const GPTConfig& config);

/// Reads every field present in `j` (missing ones keep their defaults); throws
/// FormatError for a field whose value its type cannot hold (io/json_input.h: 4.5 or
/// 2^32 + 1 for an int, a number for a bool). Validates the result.
GPTConfig gpt_config_from_json(const nlohmann::json& j);

}  // namespace nexus
