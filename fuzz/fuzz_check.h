#pragma once
// Checks shared by the fuzz targets: a loaded tokenizer must round-trip bytes exactly,
// stream-decode to the same bytes, and reload from its own saved form.
//
// What counts as a finding: a crash, a sanitizer report, an exception the API does not
// document for the input (it escapes LLVMFuzzerTestOneInput and aborts), or a failed check()
// (__builtin_trap). A typed error the API documents (a loader's FormatError, a char
// tokenizer's InvalidArgument for text outside its vocabulary) is an answer, not a bug.
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

#include "core/error.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"

namespace nexus::fuzz {

/// Traps (a finding for libFuzzer) when `cond` is false.
inline void check(bool cond) {
  if (!cond) __builtin_trap();
}

/// The ids of `bytes`, or nullopt when `tok` refuses them as documented: only a char
/// tokenizer may refuse text (InvalidArgument: a character outside its vocabulary, or invalid
/// UTF-8); byte and BPE tokenizers encode any bytes.
inline std::optional<std::vector<int32_t>> encode_or_refuse(const Tokenizer& tok, std::string_view bytes) {
  if (tok.kind() != "char") return tok.encode(bytes);
  try {
    return tok.encode(bytes);
  } catch (const InvalidArgument&) {
    return std::nullopt;
  }
}

/// Every token's bytes, in id order: text any tokenizer must encode and round-trip.
inline std::string vocabulary_text(const Tokenizer& tok) {
  std::string text;
  for (int32_t id = 0; id < tok.vocab_size(); ++id) text += tok.decode_token(id);
  return text;
}

/// Round-trip and streaming checks of `tok` on `bytes` (nothing to check if it refuses them).
inline void check_round_trip(const Tokenizer& tok, std::string_view bytes) {
  const std::optional<std::vector<int32_t>> ids = encode_or_refuse(tok, bytes);
  if (!ids) return;
  check(tok.decode(*ids) == bytes);
  StreamDecoder dec(tok);
  std::string streamed;
  for (int32_t id : *ids) streamed += dec.push(id);
  streamed += dec.finish();
  check(streamed == bytes);
}

/// A tokenizer must load again from its own saved form and encode the same.
inline void check_reload(const Tokenizer& tok, std::string_view bytes) {
  auto again = tokenizer_from_json(nlohmann::json::parse(tok.serialize()), "reload");
  check(again->kind() == tok.kind() && again->vocab_size() == tok.vocab_size());
  check(encode_or_refuse(*again, bytes) == encode_or_refuse(tok, bytes));
}

}  // namespace nexus::fuzz
