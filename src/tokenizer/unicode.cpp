#include "tokenizer/unicode.h"

#include <array>
#include <cstring>
#include <map>
#include <vector>

#include "tokenizer/char_tokenizer.h"

namespace nexus {
namespace {

constexpr CharClass kLetter = CharClass::kLetter;
constexpr CharClass kNumber = CharClass::kNumber;
constexpr CharClass kSpace = CharClass::kSpace;

struct Range {
  uint32_t first, last;
  CharClass cls;
};

constexpr Range kRanges[] = {
#include "tokenizer/unicode_ranges.inc"
};

constexpr uint32_t kBlockBits = 8;
constexpr uint32_t kBlockSize = 1u << kBlockBits;
constexpr uint32_t kNumBlocks = 0x110000 >> kBlockBits;

// Two-stage lookup built once from kRanges: block_of[cp >> 8] picks one of the distinct
// 256-entry blocks (most blocks are all-Other or all-letter, so ~200 distinct remain).
struct ClassTable {
  std::array<uint16_t, kNumBlocks> block_of{};
  std::vector<std::array<CharClass, kBlockSize>> blocks;

  ClassTable() {
    std::vector<CharClass> flat(0x110000, CharClass::kOther);
    for (const Range& r : kRanges)
      for (uint32_t cp = r.first; cp <= r.last; ++cp) flat[cp] = r.cls;
    std::map<std::array<CharClass, kBlockSize>, uint16_t> index;
    for (uint32_t b = 0; b < kNumBlocks; ++b) {
      std::array<CharClass, kBlockSize> block;
      std::memcpy(block.data(), flat.data() + b * kBlockSize, kBlockSize);
      auto [it, inserted] = index.emplace(block, static_cast<uint16_t>(blocks.size()));
      if (inserted) blocks.push_back(block);
      block_of[b] = it->second;
    }
  }
};

const ClassTable& class_table() {
  static const ClassTable table;
  return table;
}

}  // namespace

namespace detail {

const CharClass kAsciiClass[128] = {
#define O CharClass::kOther
#define L CharClass::kLetter
#define N CharClass::kNumber
#define S CharClass::kSpace
    O, O, O, O, O, O, O, O, O, S, S, S, S, S, O, O,  // 0x00: \t \n \v \f \r are White_Space
    O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O,  // 0x10: 0x1C-0x1F are not
    S, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O,  // 0x20: space, punctuation
    N, N, N, N, N, N, N, N, N, N, O, O, O, O, O, O,  // 0x30: digits
    O, L, L, L, L, L, L, L, L, L, L, L, L, L, L, L,  // 0x40: @ A-O
    L, L, L, L, L, L, L, L, L, L, L, O, O, O, O, O,  // 0x50: P-Z
    O, L, L, L, L, L, L, L, L, L, L, L, L, L, L, L,  // 0x60: ` a-o
    L, L, L, L, L, L, L, L, L, L, L, O, O, O, O, O,  // 0x70: p-z
#undef O
#undef L
#undef N
#undef S
};

CharInfo char_at_multibyte(std::string_view text, size_t pos) {
  size_t next = pos;
  uint32_t cp = 0;
  if (!utf8_next(text, next, cp)) return {CharClass::kOther, 1, static_cast<uint8_t>(text[pos])};
  return {char_class(cp), static_cast<uint32_t>(next - pos), cp};
}

}  // namespace detail

CharClass char_class(uint32_t cp) {
  if (cp < 0x80) return detail::kAsciiClass[cp];
  if (cp >= 0x110000) return CharClass::kOther;
  const ClassTable& t = class_table();
  return t.blocks[t.block_of[cp >> kBlockBits]][cp & (kBlockSize - 1)];
}

}  // namespace nexus
