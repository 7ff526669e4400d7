// libFuzzer: input = encoder.json text, a 0 byte, vocab.bpe text. Loading either succeeds or
// throws FormatError; a loaded tokenizer must round-trip text exactly.
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "fuzz_check.h"
#include "tokenizer/hf_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  const size_t zero = all.find('\0');
  const std::string_view encoder = all.substr(0, zero);
  const std::string_view merges = zero == std::string_view::npos ? std::string_view() : all.substr(zero + 1);
  std::unique_ptr<nexus::BpeTokenizer> tok;
  try {
    tok = nexus::bpe_from_gpt2_files(encoder, merges, "fuzz");
  } catch (const nexus::FormatError&) {
    return 0;
  }
  nexus::fuzz::check_round_trip(*tok, all);
  nexus::fuzz::check_reload(*tok, all);
  return 0;
}
