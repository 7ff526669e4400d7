#include "tokenizer/byte_tokenizer.h"

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace nexus {
namespace {

void check_byte_id(int32_t id) {
  if (id < 0 || id > 255)
    throw InvalidArgument("byte tokenizer: token id " + std::to_string(id) + " is outside [0, 256)");
}

}  // namespace

std::vector<int32_t> ByteTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids(text.size());
  for (size_t i = 0; i < text.size(); ++i) ids[i] = static_cast<uint8_t>(text[i]);
  return ids;
}

std::string ByteTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out(ids.size(), '\0');
  for (size_t i = 0; i < ids.size(); ++i) {
    check_byte_id(ids[i]);
    out[i] = static_cast<char>(static_cast<uint8_t>(ids[i]));
  }
  return out;
}

std::string ByteTokenizer::decode_token(int32_t id) const {
  check_byte_id(id);
  return std::string(1, static_cast<char>(static_cast<uint8_t>(id)));
}

nlohmann::json ByteTokenizer::to_json() const { return {{"nexus_tokenizer", "byte"}, {"version", 1}}; }

}  // namespace nexus
