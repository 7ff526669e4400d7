#include "tokenizer/bpe.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <queue>
#include <unordered_map>

#include "core/error.h"
#include "core/parallel.h"
#include "tokenizer/hf_json.h"

namespace nexus {
namespace {

constexpr size_t kSmallPiece = 96;          // pieces up to this many bytes merge in arrays
constexpr size_t kMaxCachedPiece = 64;      // longer pieces rarely repeat: not cached
constexpr size_t kParallelMinBytes = 1 << 20;

std::atomic<uint64_t> g_next_instance_id{1};

uint64_t hash_bytes(const char* p, size_t n) {
  uint64_t h = 0x243F6A8885A308D3ull ^ (n * 0x9E3779B97F4A7C15ull);
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    h = (h ^ v) * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 29;
  }
  if (n > 0) {
    uint64_t v = 0;
    std::memcpy(&v, p, n);
    h = (h ^ v) * 0x94D049BB133111EBull;
  }
  h ^= h >> 32;
  h *= 0xBF58476D1CE4E5B9ull;
  h ^= h >> 31;
  return h | 1;  // 0 marks an empty slot
}

// Pre-token bytes -> ids, open addressing over arenas of key bytes and ids. One per thread;
// `owner` is the instance id of the tokenizer whose ids it holds. Cleared when it fills.
class PieceCache {
 public:
  uint64_t owner = 0;

  void reset(uint64_t new_owner) {
    owner = new_owner;
    slots_.assign(kInitialSlots, Slot{});
    used_ = 0;
    keys_.clear();
    ids_.clear();
  }
  // Appends the cached ids of `key` to out; false if absent.
  bool find(std::string_view key, uint64_t h, std::vector<int32_t>& out) const {
    const size_t mask = slots_.size() - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      const Slot& s = slots_[i];
      if (s.hash == 0) return false;
      if (s.hash == h && s.key_len == key.size() && std::memcmp(keys_.data() + s.key_off, key.data(), key.size()) == 0) {
        out.insert(out.end(), ids_.begin() + s.ids_off, ids_.begin() + s.ids_off + s.ids_len);
        return true;
      }
    }
  }
  void insert(std::string_view key, uint64_t h, const int32_t* ids, size_t n) {
    if (2 * (used_ + 1) > slots_.size()) {
      if (slots_.size() >= kMaxSlots) reset(owner);
      else grow();
    }
    place(Slot{h, static_cast<uint32_t>(keys_.size()), static_cast<uint32_t>(key.size()),
               static_cast<uint32_t>(ids_.size()), static_cast<uint32_t>(n)});
    keys_.append(key);
    ids_.insert(ids_.end(), ids, ids + n);
    ++used_;
  }

 private:
  struct Slot {
    uint64_t hash = 0;
    uint32_t key_off = 0, key_len = 0, ids_off = 0, ids_len = 0;
  };
  static constexpr size_t kInitialSlots = 1 << 12;
  static constexpr size_t kMaxSlots = 1 << 19;

  void place(const Slot& s) {
    const size_t mask = slots_.size() - 1;
    size_t i = s.hash & mask;
    while (slots_[i].hash != 0) i = (i + 1) & mask;
    slots_[i] = s;
  }
  void grow() {
    std::vector<Slot> old(slots_.size() * 2);
    old.swap(slots_);
    for (const Slot& s : old)
      if (s.hash != 0) place(s);
  }

  std::vector<Slot> slots_;
  size_t used_ = 0;
  std::string keys_;
  std::vector<int32_t> ids_;
};

PieceCache& thread_cache() {
  thread_local PieceCache cache;
  return cache;
}

[[noreturn]] void bad_data(const std::string& source, const std::string& what) {
  throw FormatError(source + ": " + what);
}

std::string byte_hex(uint8_t b) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02X", b);
  return buf;
}

// Calls on_text(segment) for the text between added tokens and on_added(id) for each added
// token found (leftmost occurrence first; the longest one when several start there).
template <class OnText, class OnAdded>
void for_each_segment(std::string_view text, const std::vector<AddedToken>& added, bool allow_special,
                      OnText&& on_text, OnAdded&& on_added) {
  if (!allow_special || added.empty()) {
    on_text(text);
    return;
  }
  std::vector<size_t> next(added.size(), 0);
  std::vector<bool> known(added.size(), false);
  size_t pos = 0;
  while (true) {
    size_t best = std::string_view::npos, best_i = 0;
    for (size_t i = 0; i < added.size(); ++i) {
      if (!known[i] || (next[i] != std::string_view::npos && next[i] < pos)) {
        next[i] = text.find(added[i].content, pos);
        known[i] = true;
      }
      if (next[i] < best || (next[i] == best && next[i] != std::string_view::npos &&
                             added[i].content.size() > added[best_i].content.size())) {
        best = next[i];
        best_i = i;
      }
    }
    if (best == std::string_view::npos) break;
    if (best > pos) on_text(text.substr(pos, best - pos));
    on_added(added[best_i].id);
    pos = best + added[best_i].content.size();
  }
  if (pos < text.size()) on_text(text.substr(pos));
}

}  // namespace

void MergeTable::reserve(size_t count) {
  size_t cap = 16;
  while (cap < 2 * count) cap *= 2;
  slots_.assign(cap, Slot{kEmpty, 0, 0});
  mask_ = cap - 1;
}

void MergeTable::insert(int32_t left, int32_t right, int32_t rank, int32_t id) {
  const uint64_t key = pack(left, right);
  for (uint64_t i = hash(key);; i = (i + 1) & mask_) {
    Slot& s = slots_[i];
    if (s.key == key) return;
    if (s.key == kEmpty) {
      s = Slot{key, rank, id};
      return;
    }
  }
}

BpeTokenizer::BpeTokenizer(BpeData data, const std::string& source)
    : data_(std::move(data)), instance_id_(g_next_instance_id++) {
  const size_t n = data_.tokens.size();
  if (n == 0) bad_data(source, "the vocabulary is empty");
  if (n > static_cast<size_t>(INT32_MAX)) bad_data(source, "the vocabulary is too large");
  std::vector<bool> is_added(n, false);
  for (const AddedToken& a : data_.added) {
    if (a.id < 0 || static_cast<size_t>(a.id) >= n)
      bad_data(source, "added token id " + std::to_string(a.id) + " is out of range [0, " + std::to_string(n) + ")");
    if (is_added[a.id]) bad_data(source, "added token id " + std::to_string(a.id) + " is listed twice");
    if (a.content.empty()) bad_data(source, "added token " + std::to_string(a.id) + " is empty");
    is_added[a.id] = true;
    data_.tokens[a.id] = a.content;
  }
  std::unordered_map<std::string_view, int32_t> ordinary;
  ordinary.reserve(n);
  for (size_t id = 0; id < n; ++id) {
    if (is_added[id]) continue;
    if (data_.tokens[id].empty()) bad_data(source, "token " + std::to_string(id) + " is empty");
    auto [it, inserted] = ordinary.emplace(data_.tokens[id], static_cast<int32_t>(id));
    if (!inserted)
      bad_data(source, "tokens " + std::to_string(it->second) + " and " + std::to_string(id) + " have the same bytes");
  }
  for (int b = 0; b < 256; ++b) {
    auto it = ordinary.find(std::string_view(std::string(1, static_cast<char>(b))));
    if (it == ordinary.end()) bad_data(source, "no single-byte token for byte " + byte_hex(static_cast<uint8_t>(b)));
    byte_ids_[b] = it->second;
  }
  merges_.reserve(data_.merges.size());
  for (size_t r = 0; r < data_.merges.size(); ++r) {
    const auto [a, b] = data_.merges[r];
    const std::string where = "merge " + std::to_string(r);
    if (a < 0 || b < 0 || static_cast<size_t>(a) >= n || static_cast<size_t>(b) >= n)
      bad_data(source, where + " names an id out of range");
    if (is_added[a] || is_added[b]) bad_data(source, where + " names an added token");
    auto it = ordinary.find(data_.tokens[a] + data_.tokens[b]);
    if (it == ordinary.end()) bad_data(source, where + ": its result is not in the vocabulary");
    merges_.insert(a, b, static_cast<int32_t>(r), it->second);
  }
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text) const { return encode(text, false); }

std::vector<int32_t> BpeTokenizer::encode(std::string_view text, bool allow_special) const {
  if (text.size() >= kParallelMinBytes && num_threads() > 1 && !omp_in_parallel())
    return encode_parallel(text, allow_special, num_threads());
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  encode_segment(text, allow_special, out);
  return out;
}

void BpeTokenizer::encode_segment(std::string_view text, bool allow_special, std::vector<int32_t>& out) const {
  for_each_segment(
      text, data_.added, allow_special, [&](std::string_view t) { encode_ordinary(t, out); },
      [&](int32_t id) { out.push_back(id); });
}

std::vector<int32_t> BpeTokenizer::encode_parallel(std::string_view text, bool allow_special, int threads) const {
  threads = std::max(threads, 1);
  if (text.empty()) return {};
  const size_t pieces = std::min<size_t>(static_cast<size_t>(threads) * 4, text.size() / 65536 + 1);
  struct Item {
    std::string_view text;
    int32_t added_id;  // -1: ordinary text
  };
  std::vector<Item> items;
  auto add_text = [&](std::string_view seg) {
    const std::vector<size_t> cuts = split_for_threads(seg, std::max<size_t>(1, pieces * seg.size() / text.size()));
    for (size_t i = 0; i + 1 < cuts.size(); ++i) items.push_back({seg.substr(cuts[i], cuts[i + 1] - cuts[i]), -1});
  };
  for_each_segment(text, data_.added, allow_special, add_text, [&](int32_t id) { items.push_back({{}, id}); });
  std::vector<std::vector<int32_t>> parts(items.size());
  const int64_t count = static_cast<int64_t>(items.size());
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int64_t i = 0; i < count; ++i) {
    const Item& it = items[static_cast<size_t>(i)];
    if (it.added_id >= 0) {
      parts[i].push_back(it.added_id);
    } else {
      parts[i].reserve(it.text.size() / 3 + 4);
      encode_ordinary(it.text, parts[i]);
    }
  }
  size_t total = 0;
  for (const auto& p : parts) total += p.size();
  std::vector<int32_t> out;
  out.reserve(total);
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

void BpeTokenizer::encode_ordinary(std::string_view text, std::vector<int32_t>& out) const {
  PieceCache& cache = thread_cache();
  if (cache.owner != instance_id_) cache.reset(instance_id_);
  const SplitPattern pattern = data_.pattern;
  for (size_t pos = 0; pos < text.size();) {
    const std::string_view piece = text.substr(pos, pretoken_length(text.substr(pos), pattern));
    pos += piece.size();
    if (piece.size() == 1) {
      out.push_back(byte_ids_[static_cast<uint8_t>(piece[0])]);
    } else if (piece.size() <= kMaxCachedPiece) {
      const uint64_t h = hash_bytes(piece.data(), piece.size());
      if (cache.find(piece, h, out)) continue;
      const size_t before = out.size();
      bpe_piece(piece, out);
      cache.insert(piece, h, out.data() + before, out.size() - before);
    } else {
      bpe_piece(piece, out);
    }
  }
}

void BpeTokenizer::bpe_piece(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.size() <= kSmallPiece) bpe_small(piece, out);
  else bpe_large(piece, out);
}

// ids[0, n) are the current symbols; rank[i]/merged[i] describe the pair (ids[i], ids[i+1]).
// Each step merges the leftmost lowest-rank pair and updates only its two neighbours.
void BpeTokenizer::bpe_small(std::string_view piece, std::vector<int32_t>& out) const {
  int32_t ids[kSmallPiece], rank[kSmallPiece], merged[kSmallPiece];
  size_t n = piece.size();
  for (size_t i = 0; i < n; ++i) ids[i] = byte_ids_[static_cast<uint8_t>(piece[i])];
  auto look = [&](size_t i) {
    const MergeTable::Entry e = merges_.find(ids[i], ids[i + 1]);
    rank[i] = e.rank;
    merged[i] = e.id;
  };
  for (size_t i = 0; i + 1 < n; ++i) look(i);
  while (n > 1) {
    size_t at = 0;
    for (size_t i = 1; i + 1 < n; ++i)
      if (rank[i] < rank[at]) at = i;
    if (rank[at] == INT32_MAX) break;
    ids[at] = merged[at];
    std::memmove(ids + at + 1, ids + at + 2, (n - at - 2) * sizeof(int32_t));
    if (n >= at + 3) {  // pair entries at+2 .. n-2 move down by one
      std::memmove(rank + at + 1, rank + at + 2, (n - at - 3) * sizeof(int32_t));
      std::memmove(merged + at + 1, merged + at + 2, (n - at - 3) * sizeof(int32_t));
    }
    --n;
    if (at > 0) look(at - 1);
    if (at + 1 < n) look(at);
  }
  out.insert(out.end(), ids, ids + n);
}

// Same result as bpe_small in O(n log n): symbols form a linked list over the original
// byte positions and candidate pairs sit in a min-heap ordered by (rank, position); an
// entry is skipped when its pair no longer exists (lazy invalidation).
void BpeTokenizer::bpe_large(std::string_view piece, std::vector<int32_t>& out) const {
  const int32_t n = static_cast<int32_t>(piece.size());
  std::vector<int32_t> id(n), prev(n), next(n);
  struct Cand {
    int32_t rank, pos, right;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap;
  for (int32_t i = 0; i < n; ++i) {
    id[i] = byte_ids_[static_cast<uint8_t>(piece[i])];
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  auto push = [&](int32_t p) {
    if (p < 0 || next[p] < 0) return;
    const MergeTable::Entry e = merges_.find(id[p], id[next[p]]);
    if (e.rank != INT32_MAX) heap.push({e.rank, p, next[p]});
  };
  for (int32_t i = 0; i + 1 < n; ++i) push(i);
  while (!heap.empty()) {
    const Cand c = heap.top();
    heap.pop();
    if (id[c.pos] < 0 || next[c.pos] != c.right) continue;
    const MergeTable::Entry e = merges_.find(id[c.pos], id[c.right]);
    if (e.rank != c.rank) continue;
    id[c.pos] = e.id;
    id[c.right] = -1;
    next[c.pos] = next[c.right];
    if (next[c.pos] >= 0) prev[next[c.pos]] = c.pos;
    push(prev[c.pos]);
    push(c.pos);
  }
  for (int32_t p = 0; p >= 0; p = next[p]) out.push_back(id[p]);
}

std::string BpeTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  out.reserve(ids.size() * 4);
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_size()) decode_token(id);  // throws the range error
    out += data_.tokens[static_cast<size_t>(id)];
  }
  return out;
}

std::string BpeTokenizer::decode_token(int32_t id) const {
  if (id < 0 || id >= vocab_size())
    throw InvalidArgument("bpe tokenizer: token id " + std::to_string(id) + " is outside [0, " +
                          std::to_string(vocab_size()) + ")");
  return data_.tokens[static_cast<size_t>(id)];
}

nlohmann::json BpeTokenizer::to_json() const { return bpe_to_hf_json(*this); }

std::string BpeTokenizer::serialize() const { return bpe_to_hf_json_text(*this); }

int32_t BpeTokenizer::added_token_id(std::string_view content) const {
  for (const AddedToken& a : data_.added)
    if (a.content == content) return a.id;
  return -1;
}

void BpeTokenizer::clear_thread_cache() { thread_cache().reset(0); }

}  // namespace nexus
