#pragma once
// Checks shared by the fuzz targets: a loaded tokenizer must round-trip bytes exactly,
// stream-decode to the same bytes, and reload from its own saved form.
#include <nlohmann/json.hpp>
#include <string_view>

#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"

namespace nexus::fuzz {

/// Traps (a finding for libFuzzer) when `cond` is false.
inline void check(bool cond) {
  if (!cond) __builtin_trap();
}

/// Round-trip and streaming checks of `tok` on `bytes`.
inline void check_round_trip(const Tokenizer& tok, std::string_view bytes) {
  const std::vector<int32_t> ids = tok.encode(bytes);
  check(tok.decode(ids) == bytes);
  StreamDecoder dec(tok);
  std::string streamed;
  for (int32_t id : ids) streamed += dec.push(id);
  streamed += dec.finish();
  check(streamed == bytes);
}

/// A tokenizer must load again from its own saved form and encode the same.
inline void check_reload(const Tokenizer& tok, std::string_view bytes) {
  auto again = tokenizer_from_json(nlohmann::json::parse(tok.serialize()), "reload");
  check(again->encode(bytes) == tok.encode(bytes));
}

}  // namespace nexus::fuzz
