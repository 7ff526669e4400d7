#pragma once
// Byte tokenizer: 256 ids, id == byte value. Lossless for any byte string.
#include "tokenizer/tokenizer.h"

namespace nexus {

/// One token per byte; encode/decode round-trip any bytes exactly.
class ByteTokenizer : public Tokenizer {
 public:
  /// Each byte becomes its value (0..255).
  std::vector<int32_t> encode(std::string_view text) const override;
  /// Bytes of the ids; InvalidArgument for an id outside [0, 256).
  std::string decode(const std::vector<int32_t>& ids) const override;
  /// The single byte `id`; InvalidArgument outside [0, 256).
  std::string decode_token(int32_t id) const override;
  /// Always 256.
  int vocab_size() const override { return 256; }
  /// "byte".
  std::string kind() const override { return "byte"; }
  /// {"nexus_tokenizer": "byte", "version": 1}.
  nlohmann::json to_json() const override;
};

}  // namespace nexus
