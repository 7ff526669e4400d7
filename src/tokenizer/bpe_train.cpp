#include "tokenizer/bpe_train.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <queue>
#include <set>
#include <unordered_map>

#include "core/error.h"
#include "core/parallel.h"

namespace nexus {
namespace {

using Clock = std::chrono::steady_clock;
using Counts = std::unordered_map<std::string_view, int64_t>;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// The parts of text between occurrences of the special tokens.
std::vector<std::string_view> cut_out_specials(std::string_view text, const std::vector<std::string>& specials) {
  std::vector<std::string_view> parts;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t best = std::string_view::npos, len = 0;
    for (const std::string& s : specials) {
      const size_t at = text.find(s, pos);
      if (at < best || (at == best && at != std::string_view::npos && s.size() > len)) best = at, len = s.size();
    }
    if (best == std::string_view::npos) break;
    if (best > pos) parts.push_back(text.substr(pos, best - pos));
    pos = best + len;
  }
  if (pos < text.size()) parts.push_back(text.substr(pos));
  return parts;
}

// Distinct pre-tokens of two or more bytes with their counts, sorted by bytes.
std::vector<std::pair<std::string_view, int64_t>> count_pretokens(const std::vector<std::string_view>& texts,
                                                                  const BpeTrainOptions& o, int64_t& total) {
  std::vector<std::string_view> chunks;
  const int threads = num_threads();
  for (std::string_view text : texts)
    for (std::string_view part : cut_out_specials(text, o.special_tokens)) {
      const std::vector<size_t> cuts = split_for_threads(part, std::max<size_t>(1, part.size() >> 18));
      for (size_t i = 0; i + 1 < cuts.size(); ++i) chunks.push_back(part.substr(cuts[i], cuts[i + 1] - cuts[i]));
    }
  std::vector<Counts> per_thread(static_cast<size_t>(threads));
  std::vector<int64_t> totals(static_cast<size_t>(threads), 0);
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int64_t c = 0; c < static_cast<int64_t>(chunks.size()); ++c) {
    const int t = omp_get_thread_num();
    const std::string_view s = chunks[static_cast<size_t>(c)];
    for (size_t pos = 0; pos < s.size();) {
      const size_t n = pretoken_length(s.substr(pos), o.pattern);
      if (n > 1) ++per_thread[t][s.substr(pos, n)];
      ++totals[t];
      pos += n;
    }
  }
  Counts all = std::move(per_thread[0]);
  for (size_t t = 1; t < per_thread.size(); ++t)
    for (const auto& [k, v] : per_thread[t]) all[k] += v;
  total = 0;
  for (int64_t v : totals) total += v;
  std::vector<std::pair<std::string_view, int64_t>> words(all.begin(), all.end());
  std::sort(words.begin(), words.end());
  return words;
}

// Incremental merge state: words as id sequences, pair counts and the pair -> words index.
class MergeState {
 public:
  explicit MergeState(const std::vector<std::pair<std::string_view, int64_t>>& counted) {
    words_.reserve(counted.size());
    for (const auto& [text, count] : counted) {
      std::vector<int32_t> syms(text.begin(), text.end());
      for (int32_t& s : syms) s = static_cast<uint8_t>(s);
      words_.push_back({std::move(syms), count});
    }
    word_stamp_.assign(words_.size(), -1);
    for (uint32_t w = 0; w < words_.size(); ++w) {
      const auto& s = words_[w].syms;
      for (size_t i = 0; i + 1 < s.size(); ++i) add(pair_index(s[i], s[i + 1]), words_[w].count, w);
    }
    for (uint32_t p = 0; p < pairs_.size(); ++p) push(p);
  }

  // Pops the best valid pair; false when none is left.
  bool best(uint32_t& pair) {
    while (!heap_.empty()) {
      const Entry e = heap_.top();
      heap_.pop();
      const int64_t now = pairs_[e.pair].count;
      if (now == e.count && now > 0) {
        pair = e.pair;
        return true;
      }
      if (now > 0 && now != e.count) push(e.pair);
    }
    return false;
  }

  std::pair<int32_t, int32_t> parts(uint32_t pair) const { return {pairs_[pair].a, pairs_[pair].b}; }

  // Replaces every occurrence of `pair` by `merged` in the words that contain it.
  void apply(uint32_t pair, int32_t merged, int64_t step) {
    const int32_t a = pairs_[pair].a, b = pairs_[pair].b;
    std::vector<uint32_t> word_list = std::move(pairs_[pair].words);
    pairs_[pair].words = {};
    touched_.clear();
    for (uint32_t w : word_list) {
      if (word_stamp_[w] == step) continue;
      word_stamp_[w] = step;
      merge_word(w, a, b, merged);
    }
    pairs_[pair].count = 0;
    for (uint32_t p : touched_) {
      pairs_[p].touched = false;
      push(p);
    }
  }

 private:
  struct Word {
    std::vector<int32_t> syms;
    int64_t count;
  };
  struct Pair {
    int32_t a, b;
    int64_t count = 0;
    std::vector<uint32_t> words;  // may hold stale or repeated entries
    bool touched = false;
  };
  struct Entry {
    int64_t count;
    int32_t a, b;
    uint32_t pair;
    // priority_queue keeps the largest: higher count, then smaller (a, b).
    bool operator<(const Entry& o) const {
      if (count != o.count) return count < o.count;
      return a != o.a ? a > o.a : b > o.b;
    }
  };

  uint32_t pair_index(int32_t a, int32_t b) {
    const uint64_t key = (uint64_t{static_cast<uint32_t>(a)} << 32) | static_cast<uint32_t>(b);
    auto [it, inserted] = index_.emplace(key, static_cast<uint32_t>(pairs_.size()));
    if (inserted) pairs_.push_back(Pair{a, b, 0, {}, false});
    return it->second;
  }
  void add(uint32_t p, int64_t delta, uint32_t w) {
    Pair& pr = pairs_[p];
    pr.count += delta;
    if (delta > 0 && (pr.words.empty() || pr.words.back() != w)) pr.words.push_back(w);
  }
  void push(uint32_t p) {
    if (pairs_[p].count > 0) heap_.push({pairs_[p].count, pairs_[p].a, pairs_[p].b, p});
  }
  void change(int32_t x, int32_t y, int64_t delta, uint32_t w) {
    const uint32_t p = pair_index(x, y);
    add(p, delta, w);
    if (delta > 0 && !pairs_[p].touched) {
      pairs_[p].touched = true;
      touched_.push_back(p);
    }
  }
  void merge_word(uint32_t w, int32_t a, int32_t b, int32_t merged) {
    std::vector<int32_t>& s = words_[w].syms;
    const int64_t c = words_[w].count;
    for (size_t i = 0; i + 1 < s.size(); ++i) {
      if (s[i] != a || s[i + 1] != b) continue;
      if (i > 0) {  // s[i-1] is already the merged symbol when the previous pair merged
        change(s[i - 1], a, -c, w);
        change(s[i - 1], merged, c, w);
      }
      s[i] = merged;
      s.erase(s.begin() + static_cast<std::ptrdiff_t>(i) + 1);
      if (i + 1 < s.size()) {
        change(b, s[i + 1], -c, w);
        change(merged, s[i + 1], c, w);
      }
    }
  }

  std::vector<Word> words_;
  std::vector<int64_t> word_stamp_;
  std::vector<Pair> pairs_;
  std::unordered_map<uint64_t, uint32_t> index_;
  std::priority_queue<Entry> heap_;
  std::vector<uint32_t> touched_;
};

void check_options(const BpeTrainOptions& o) {
  std::set<std::string> seen;
  for (const std::string& s : o.special_tokens) {
    require(!s.empty(), "special tokens must not be empty");
    require(seen.insert(s).second, "special token '" + s + "' is given twice");
  }
  const int64_t min_size = 256 + static_cast<int64_t>(o.special_tokens.size());
  require(o.vocab_size >= min_size, "vocab size " + std::to_string(o.vocab_size) + " is too small: need at least " +
                                        std::to_string(min_size) + " (256 bytes + special tokens)");
}

}  // namespace

BpeData train_bpe(const std::vector<std::string_view>& texts, const BpeTrainOptions& options, BpeTrainStats* stats) {
  check_options(options);
  BpeTrainStats st;
  Clock::time_point t0 = Clock::now();
  const auto words = count_pretokens(texts, options, st.pretokens);
  st.unique_pretokens = static_cast<int64_t>(words.size());
  st.count_seconds = seconds_since(t0);

  t0 = Clock::now();
  BpeData data;
  data.pattern = options.pattern;
  for (int b = 0; b < 256; ++b) data.tokens.emplace_back(1, static_cast<char>(b));
  std::unordered_map<std::string, int32_t> by_bytes;
  for (int b = 0; b < 256; ++b) by_bytes.emplace(data.tokens[b], b);
  const size_t target = static_cast<size_t>(options.vocab_size) - options.special_tokens.size();
  MergeState state(words);
  uint32_t pair = 0;
  for (int64_t step = 0; data.tokens.size() < target && state.best(pair); ++step) {
    const auto [a, b] = state.parts(pair);
    std::string bytes = data.tokens[a] + data.tokens[b];
    auto [it, inserted] = by_bytes.emplace(bytes, static_cast<int32_t>(data.tokens.size()));
    if (inserted) data.tokens.push_back(std::move(bytes));
    data.merges.emplace_back(a, b);
    state.apply(pair, it->second, step);
  }
  for (const std::string& s : options.special_tokens) {
    data.added.push_back({static_cast<int32_t>(data.tokens.size()), s, true});
    data.tokens.push_back(s);
  }
  st.merges = static_cast<int64_t>(data.merges.size());
  st.merge_seconds = seconds_since(t0);
  if (stats) *stats = st;
  return data;
}

}  // namespace nexus
