// libFuzzer: arbitrary bytes as a tokenizer.json. Loading either succeeds or throws
// FormatError (any other exception escapes and is reported); a loaded tokenizer must
// round-trip its own vocabulary, and any text it accepts (a char tokenizer refuses text
// outside its vocabulary: fuzz_check.h), exactly.
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception&) {
    return 0;  // load_tokenizer turns this into FormatError "not valid JSON"
  }
  std::unique_ptr<nexus::Tokenizer> tok;
  try {
    tok = nexus::tokenizer_from_json(j, "fuzz");
  } catch (const nexus::FormatError&) {
    return 0;
  }
  nexus::fuzz::check_round_trip(*tok, nexus::fuzz::vocabulary_text(*tok));
  nexus::fuzz::check_round_trip(*tok, text);
  nexus::fuzz::check_round_trip(*tok, "Hello world <|endoftext|> \xff\xfe caf\xc3\xa9 123456");
  nexus::fuzz::check_reload(*tok, text);
  return 0;
}
