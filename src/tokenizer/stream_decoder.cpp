#include "tokenizer/stream_decoder.h"

namespace nexus {
namespace {

// Bytes a sequence starting with lead byte b needs (0 if b cannot start one).
size_t sequence_length(uint8_t b) {
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) return 2;
  if (b >= 0xE0 && b <= 0xEF) return 3;
  if (b >= 0xF0 && b <= 0xF4) return 4;
  return 0;
}

// Whether b may follow lead byte `lead` as its first continuation byte (rules out overlong
// forms, surrogates and code points above U+10FFFF, like utf8_next).
bool valid_second(uint8_t lead, uint8_t b) {
  if (lead == 0xE0) return b >= 0xA0 && b <= 0xBF;
  if (lead == 0xED) return b >= 0x80 && b <= 0x9F;
  if (lead == 0xF0) return b >= 0x90 && b <= 0xBF;
  if (lead == 0xF4) return b >= 0x80 && b <= 0x8F;
  return (b & 0xC0) == 0x80;
}

}  // namespace

size_t utf8_incomplete_tail(std::string_view s) {
  // A character is at most 4 bytes, so only a lead byte among the last 3 can be incomplete.
  for (size_t k = 1; k <= 3 && k <= s.size(); ++k) {
    const size_t start = s.size() - k;
    const uint8_t lead = static_cast<uint8_t>(s[start]);
    if ((lead & 0xC0) == 0x80) continue;  // a continuation byte: look further back
    const size_t need = sequence_length(lead);
    if (need <= k) return 0;  // complete, ASCII or an invalid lead byte: nothing to wait for
    for (size_t i = 1; i < k; ++i) {
      const uint8_t b = static_cast<uint8_t>(s[start + i]);
      if (i == 1 ? !valid_second(lead, b) : (b & 0xC0) != 0x80) return 0;  // already broken
    }
    return k;
  }
  return 0;
}

std::string StreamDecoder::push(int32_t id) {
  pending_ += tok_->decode_token(id);
  const size_t keep = utf8_incomplete_tail(pending_);
  std::string out = pending_.substr(0, pending_.size() - keep);
  pending_.erase(0, pending_.size() - keep);
  return out;
}

std::string StreamDecoder::finish() {
  std::string out;
  out.swap(pending_);
  return out;
}

}  // namespace nexus
