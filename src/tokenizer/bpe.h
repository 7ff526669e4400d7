#pragma once
// Byte-level BPE in the GPT-2 sense.
//
// Encoding: text -> pre-tokens (tokenizer/pretokenize.h) -> each pre-token's bytes start as
// single-byte tokens -> repeatedly merge the adjacent pair with the lowest merge rank (the
// leftmost such pair on a tie) until no pair has a rank. Every byte has a single-byte token,
// so any byte string encodes and decode(encode(x)) == x. Added tokens (e.g. <|endoftext|>)
// are matched as whole strings only when the caller allows special tokens; otherwise they
// are ordinary text.
//
// Speed: a thread-local cache maps pre-token bytes to their ids (most pre-tokens of real
// text repeat), merges are an open-addressing hash table from the packed pair (left id,
// right id) to (rank, merged id), short pre-tokens merge in small arrays and long ones with
// a heap over a linked list. Texts of 1 MiB or more are cut at safe pre-token boundaries
// and encoded by all OpenMP threads; the ids are identical to a one-thread encode.
//
// Saved form: a Hugging Face tokenizer.json (tokenizer/hf_json.h).
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizer/pretokenize.h"
#include "tokenizer/tokenizer.h"

namespace nexus {

/// A token matched as a whole string (when allowed) instead of going through BPE.
struct AddedToken {
  int32_t id = 0;        ///< its id
  std::string content;   ///< its raw text (not byte-level spelled)
  bool special = true;   ///< Hugging Face's "special" flag, kept for saving
};

/// Everything that defines a byte-level BPE tokenizer.
struct BpeData {
  std::vector<std::string> tokens;                  ///< bytes of each id (an added token: its content)
  std::vector<std::pair<int32_t, int32_t>> merges;  ///< merge rules by rank: ids of the left and right parts
  std::vector<AddedToken> added;                    ///< added/special tokens; their ids index `tokens`
  SplitPattern pattern = SplitPattern::kGpt2;       ///< pre-tokenizer pattern
};

/// Open-addressing map from a pair of token ids to (merge rank, merged id).
class MergeTable {
 public:
  /// Result of a lookup; rank == INT32_MAX when the pair has no merge.
  struct Entry {
    int32_t rank;
    int32_t id;
  };
  /// Sizes the table for `count` pairs.
  void reserve(size_t count);
  /// Adds a pair unless it is already present (then the earlier, lower rank stays).
  void insert(int32_t left, int32_t right, int32_t rank, int32_t id);
  /// The merge of (left, right), or {INT32_MAX, -1}.
  Entry find(int32_t left, int32_t right) const {
    const uint64_t key = pack(left, right);
    for (uint64_t i = hash(key);; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.key == key) return {s.rank, s.id};
      if (s.key == kEmpty) return {INT32_MAX, -1};
    }
  }

 private:
  struct Slot {
    uint64_t key;
    int32_t rank;
    int32_t id;
  };
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  static uint64_t pack(int32_t a, int32_t b) { return (uint64_t{static_cast<uint32_t>(a)} << 32) | static_cast<uint32_t>(b); }
  uint64_t hash(uint64_t key) const { return ((key * 0x9E3779B97F4A7C15ull) >> 20) & mask_; }
  std::vector<Slot> slots_{Slot{kEmpty, 0, 0}};
  uint64_t mask_ = 0;
};

/// Byte-level BPE tokenizer (GPT-2 style); immutable after construction, safe to share
/// between threads.
class BpeTokenizer : public Tokenizer {
 public:
  /// Validates and indexes `data`. FormatError naming `source` when: no tokens; a byte has
  /// no single-byte ordinary token; two ordinary tokens have the same bytes; a merge names an
  /// id out of range or an added token, or its concatenation is not an ordinary token; an
  /// added token is empty, out of range or listed twice.
  BpeTokenizer(BpeData data, const std::string& source);

  /// Ids of text with special tokens treated as ordinary text.
  std::vector<int32_t> encode(std::string_view text) const override;
  /// Ids of text; added tokens become their single id only when allow_special is true.
  std::vector<int32_t> encode(std::string_view text, bool allow_special) const;
  /// Same ids as encode(), computed by up to `threads` OpenMP threads on chunks of text.
  std::vector<int32_t> encode_parallel(std::string_view text, bool allow_special, int threads) const;
  /// Concatenated bytes of the ids; InvalidArgument on an id out of range.
  std::string decode(const std::vector<int32_t>& ids) const override;
  /// Bytes of one token; InvalidArgument outside [0, vocab_size()).
  std::string decode_token(int32_t id) const override;
  /// Number of ids (ordinary and added).
  int vocab_size() const override { return static_cast<int>(data_.tokens.size()); }
  /// "bpe".
  std::string kind() const override { return "bpe"; }
  /// The Hugging Face tokenizer.json object.
  nlohmann::json to_json() const override;
  /// The Hugging Face tokenizer.json text, vocab in id order.
  std::string serialize() const override;
  /// The definition this tokenizer was built from.
  const BpeData& data() const { return data_; }
  /// Id of the added token with this content, or -1.
  int32_t added_token_id(std::string_view content) const;
  /// Empties the calling thread's pre-token cache (benchmarks measure cold starts with it).
  static void clear_thread_cache();

 private:
  void encode_ordinary(std::string_view text, std::vector<int32_t>& out) const;
  void encode_segment(std::string_view text, bool allow_special, std::vector<int32_t>& out) const;
  void bpe_piece(std::string_view piece, std::vector<int32_t>& out) const;
  void bpe_small(std::string_view piece, std::vector<int32_t>& out) const;
  void bpe_large(std::string_view piece, std::vector<int32_t>& out) const;

  BpeData data_;
  std::array<int32_t, 256> byte_ids_{};
  MergeTable merges_;
  uint64_t instance_id_ = 0;  // keys the thread-local caches to this object
};

}  // namespace nexus
