#include "tokenizer/unicode.h"

#include <array>
#include <cstring>
#include <map>
#include <vector>

#include "tokenizer/char_tokenizer.h"

namespace nexus {
namespace {

// A code point's entry in the tables: its CharClass in bits 0-1, its case sets in bits 2-3.
constexpr uint8_t pack(CharClass cls, uint8_t sets) { return static_cast<uint8_t>(static_cast<uint8_t>(cls) | sets << 2); }

// The kinds of unicode_ranges.inc.
constexpr uint8_t kUpper = pack(CharClass::kLetter, kUpperSet);                 // Lu Lt
constexpr uint8_t kLower = pack(CharClass::kLetter, kLowerSet);                 // Ll
constexpr uint8_t kCaseless = pack(CharClass::kLetter, kUpperSet | kLowerSet);  // Lm Lo
constexpr uint8_t kMark = pack(CharClass::kOther, kUpperSet | kLowerSet);       // M: not \p{L}
constexpr uint8_t kNumber = pack(CharClass::kNumber, 0);
constexpr uint8_t kSpace = pack(CharClass::kSpace, 0);

struct Range {
  uint32_t first, last;
  uint8_t bits;
};

constexpr Range kRanges[] = {
#include "tokenizer/unicode_ranges.inc"
};

constexpr uint32_t kBlockBits = 8;
constexpr uint32_t kBlockSize = 1u << kBlockBits;
constexpr uint32_t kNumBlocks = 0x110000 >> kBlockBits;

// Two-stage lookup built once from kRanges: block_of[cp >> 8] picks one of the distinct
// 256-entry blocks of packed bits (most blocks are all-Other or all-Lo, so few remain).
struct BitsTable {
  std::array<uint16_t, kNumBlocks> block_of{};
  std::vector<std::array<uint8_t, kBlockSize>> blocks;

  BitsTable() {
    std::vector<uint8_t> flat(0x110000, 0);
    for (const Range& r : kRanges)
      for (uint32_t cp = r.first; cp <= r.last; ++cp) flat[cp] = r.bits;
    std::map<std::array<uint8_t, kBlockSize>, uint16_t> index;
    for (uint32_t b = 0; b < kNumBlocks; ++b) {
      std::array<uint8_t, kBlockSize> block;
      std::memcpy(block.data(), flat.data() + b * kBlockSize, kBlockSize);
      auto [it, inserted] = index.emplace(block, static_cast<uint16_t>(blocks.size()));
      if (inserted) blocks.push_back(block);
      block_of[b] = it->second;
    }
  }
};

const BitsTable& bits_table() {
  static const BitsTable table;
  return table;
}

// Packed bits of a code point (0, i.e. Other in no set, above U+10FFFF).
uint8_t bits_of(uint32_t cp) {
  if (cp < 0x80) return detail::kAsciiBits[cp];
  if (cp >= 0x110000) return 0;
  const BitsTable& t = bits_table();
  return t.blocks[t.block_of[cp >> kBlockBits]][cp & (kBlockSize - 1)];
}

}  // namespace

namespace detail {

const uint8_t kAsciiBits[128] = {
#define O 0
#define U kUpper
#define L kLower
#define N kNumber
#define S kSpace
    O, O, O, O, O, O, O, O, O, S, S, S, S, S, O, O,  // 0x00: \t \n \v \f \r are White_Space
    O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O,  // 0x10: 0x1C-0x1F are not
    S, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O,  // 0x20: space, punctuation
    N, N, N, N, N, N, N, N, N, N, O, O, O, O, O, O,  // 0x30: digits
    O, U, U, U, U, U, U, U, U, U, U, U, U, U, U, U,  // 0x40: @ A-O
    U, U, U, U, U, U, U, U, U, U, U, O, O, O, O, O,  // 0x50: P-Z
    O, L, L, L, L, L, L, L, L, L, L, L, L, L, L, L,  // 0x60: ` a-o
    L, L, L, L, L, L, L, L, L, L, L, O, O, O, O, O,  // 0x70: p-z
#undef O
#undef U
#undef L
#undef N
#undef S
};

CharInfo char_at_multibyte(std::string_view text, size_t pos) {
  size_t next = pos;
  uint32_t cp = 0;
  if (!utf8_next(text, next, cp)) return {CharClass::kOther, 0, 1, static_cast<uint8_t>(text[pos])};
  const uint8_t bits = bits_of(cp);
  return {static_cast<CharClass>(bits & 3), static_cast<uint8_t>(bits >> 2), static_cast<uint32_t>(next - pos), cp};
}

}  // namespace detail

CharClass char_class(uint32_t cp) { return static_cast<CharClass>(bits_of(cp) & 3); }

uint8_t case_sets(uint32_t cp) { return static_cast<uint8_t>(bits_of(cp) >> 2); }

}  // namespace nexus
