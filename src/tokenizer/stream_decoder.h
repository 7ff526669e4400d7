#pragma once
// Incremental decoding for generation: tokens arrive one at a time, and a byte-level BPE
// token may end in the middle of a multi-byte UTF-8 character. StreamDecoder holds back an
// incomplete trailing character until the bytes that complete it arrive, so a character is
// never printed half. Bytes that can never become valid UTF-8 (a bad lead byte, a broken
// sequence) are passed through as they are, so the concatenation of everything push() and
// finish() return is exactly tokenizer.decode(all ids).
#include <cstdint>
#include <string>
#include <string_view>

#include "tokenizer/tokenizer.h"

namespace nexus {

/// Length of the longest suffix of `bytes` that is the start of a valid UTF-8 character
/// still missing bytes (0..3); 0 if the text ends at a character boundary.
size_t utf8_incomplete_tail(std::string_view bytes);

/// Turns a stream of token ids into text that always ends at a UTF-8 character boundary.
class StreamDecoder {
 public:
  /// Decodes with `tokenizer`, which must outlive the decoder.
  explicit StreamDecoder(const Tokenizer& tokenizer) : tok_(&tokenizer) {}
  /// Adds one token; returns the text that is now complete (possibly empty).
  /// InvalidArgument on an id out of range.
  std::string push(int32_t id);
  /// Returns whatever is still held back (an incomplete character at the end of the stream).
  std::string finish();

 private:
  const Tokenizer* tok_;
  std::string pending_;
};

}  // namespace nexus
