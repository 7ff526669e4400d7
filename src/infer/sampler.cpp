#include "infer/sampler.h"

#include <immintrin.h>

#include <algorithm>
#include <functional>
#include <charconv>
#include <cmath>
#include <sstream>

#include "core/error.h"
#include "core/kernels/vecmath.h"
#include "io/json_input.h"

namespace nexus {
namespace {

// Shortest readable spelling of a float for messages ("0.5", "-1", "inf").
std::string fmt(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

// Candidate order of every sort: higher logit first, ties to the lower id, so the result
// never depends on the sort algorithm.
bool higher(const TokenLogit& a, const TokenLogit& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

// Index of the best candidate (highest logit, lowest id on ties); items must not be empty.
size_t argmax(const Candidates& c) {
  if (c.sorted) return 0;
  size_t best = 0;
  for (size_t i = 1; i < c.items.size(); ++i)
    if (higher(c.items[i], c.items[best])) best = i;
  return best;
}

// The k highest values offered so far, as a min-heap of k floats: once k have been offered,
// min() is the k-th highest, and a value costs one compare unless it beats min() (a partial
// sort of V = 50k candidates per token was the costliest step of a draw).
class TopValues {
 public:
  explicit TopValues(size_t k) : k_(k) { heap_.reserve(k); }
  void offer(float v) {
    if (heap_.size() < k_) {
      heap_.push_back(v);
      std::push_heap(heap_.begin(), heap_.end(), std::greater<float>());
    } else if (v > heap_.front()) {
      std::pop_heap(heap_.begin(), heap_.end(), std::greater<float>());
      heap_.back() = v;
      std::push_heap(heap_.begin(), heap_.end(), std::greater<float>());
    }
  }
  float min() const { return heap_.front(); }

 private:
  size_t k_;
  std::vector<float> heap_;
};

// The k-th highest of the n values logit(0..n-1), 0 < k <= n.
template <class Logit>
float kth_highest(size_t n, size_t k, const Logit& logit) {
  TopValues top(k);
  for (size_t i = 0; i < n; ++i) top.offer(logit(i));
  return top.min();
}

// kth_highest over contiguous floats (the raw logits, no NaN): after the first k, only the
// blocks of 32 where some value beats the current k-th highest are offered (four AVX2
// compares per block: once warm, a draw over 50k logits touches few of them).
float kth_highest(std::span<const float> x, size_t k) {
  TopValues top(k);
  size_t i = 0;
  for (; i < k; ++i) top.offer(x[i]);
  for (; i + 32 <= x.size(); i += 32) {
    const __m256 t = _mm256_set1_ps(top.min());
    const float* p = x.data() + i;
    const __m256 any = _mm256_or_ps(
        _mm256_or_ps(_mm256_cmp_ps(_mm256_loadu_ps(p), t, _CMP_GT_OQ), _mm256_cmp_ps(_mm256_loadu_ps(p + 8), t, _CMP_GT_OQ)),
        _mm256_or_ps(_mm256_cmp_ps(_mm256_loadu_ps(p + 16), t, _CMP_GT_OQ),
                     _mm256_cmp_ps(_mm256_loadu_ps(p + 24), t, _CMP_GT_OQ)));
    if (_mm256_testz_ps(any, any)) continue;
    for (int j = 0; j < 32; ++j) top.offer(p[j]);
  }
  for (; i < x.size(); ++i) top.offer(x[i]);
  return top.min();
}

// Throws InvalidArgument naming the first NaN or +inf logit: NaN would break the sort's
// ordering, +inf would make the softmax NaN.
void check_logits(std::span<const float> logits) {
  // One AVX2 pass: "not less than +inf" (unordered: true for NaN) flags both.
  const __m256 inf = _mm256_set1_ps(INFINITY);
  __m256 flags = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 8 <= logits.size(); i += 8)
    flags = _mm256_or_ps(flags, _mm256_cmp_ps(_mm256_loadu_ps(&logits[i]), inf, _CMP_NLT_UQ));
  bool bad = _mm256_movemask_ps(flags) != 0;
  for (; i < logits.size(); ++i) bad |= !(logits[i] < INFINITY);
  if (!bad) return;
  for (size_t i = 0; i < logits.size(); ++i)
    if (!(logits[i] < INFINITY))
      throw InvalidArgument("sampler: logit of token " + std::to_string(i) + " is " + fmt(logits[i]));
}

// Uniform double in [0, 1) with 53 random bits (finer than Rng::uniform's 24).
double uniform53(Rng& rng) { return static_cast<double>(rng.next_u64() >> 11) * 0x1p-53; }

class LogitBias final : public SamplerUnit {
 public:
  explicit LogitBias(std::map<int32_t, float> bias) : bias_(std::move(bias)) {}
  std::string name() const override { return "logit-bias"; }
  void apply(Candidates& c, SamplerState&) const override {
    for (const auto& [id, b] : bias_) {
      // Fast path: candidates still in id order (the usual case, as this unit comes first).
      const auto i = static_cast<size_t>(id);
      if (i < c.items.size() && c.items[i].id == id) {
        c.items[i].logit += b;
        continue;
      }
      for (auto& t : c.items)
        if (t.id == id) {
          t.logit += b;
          break;
        }
    }
    c.sorted = false;
  }

 private:
  std::map<int32_t, float> bias_;
};

class RepetitionPenalty final : public SamplerUnit {
 public:
  explicit RepetitionPenalty(float penalty) : penalty_(penalty) {}
  std::string name() const override { return "repetition-penalty"; }
  void apply(Candidates& c, SamplerState& state) const override {
    for (auto& t : c.items)
      if (state.window.count(t.id) > 0) t.logit = t.logit > 0 ? t.logit / penalty_ : t.logit * penalty_;
    c.sorted = false;
  }

 private:
  float penalty_;
};

class PresenceFrequencyPenalty final : public SamplerUnit {
 public:
  PresenceFrequencyPenalty(float presence, float frequency) : presence_(presence), frequency_(frequency) {}
  std::string name() const override { return "presence-frequency-penalty"; }
  void apply(Candidates& c, SamplerState& state) const override {
    for (auto& t : c.items) {
      const int32_t n = state.window.count(t.id);
      if (n > 0) t.logit -= static_cast<float>(n) * frequency_ + presence_;
    }
    c.sorted = false;
  }

 private:
  float presence_, frequency_;
};

class TopK final : public SamplerUnit {
 public:
  explicit TopK(int k) : k_(k) {}
  std::string name() const override { return "top-k"; }
  void apply(Candidates& c, SamplerState&) const override {
    if (k_ > 0 && static_cast<size_t>(k_) < c.items.size()) c.keep_top(static_cast<size_t>(k_));
  }
  size_t keeps_top() const override { return k_ > 0 ? static_cast<size_t>(k_) : 0; }

 private:
  int k_;
};

class TopP final : public SamplerUnit {
 public:
  explicit TopP(float p) : p_(p) {}
  std::string name() const override { return "top-p"; }
  void apply(Candidates& c, SamplerState&) const override {
    if (p_ >= 1.0f || c.items.size() <= 1) return;
    c.softmax();
    c.items.resize(c.sorted ? prefix_reaching(c, 0, c.items.size(), p_) : select_nucleus(c));
  }

 private:
  static constexpr int kBuckets = 256;
  static constexpr float kBucketsPerNat = 8.0f;  // buckets cover logits within 32 nats of the max

  // Length of the shortest prefix of items (sorted from `lo` on) whose mass reaches the
  // target, given that items[0, lo) are kept and `need` is the mass still missing.
  static size_t prefix_reaching(const Candidates& c, size_t lo, size_t hi, double need) {
    double cumulative = 0;
    for (size_t i = lo; i < hi; ++i) {
      cumulative += c.items[i].p;
      if (cumulative >= need) return i + 1;
    }
    return hi;  // rounding left the total just below p: keep everything
  }

  // Sorting all V candidates is the cost to avoid. Bucket them by distance of their logit from
  // the max (monotone, so buckets are ranges of the sorted order), find the bucket where the
  // cumulative mass reaches p, keep the buckets before it whole and sort only that boundary
  // bucket. O(V) plus a sort of one bucket. The kept set is exactly the sorted-order prefix
  // (same tie-break by id), though it is left unsorted.
  size_t select_nucleus(Candidates& c) const {
    const float mx = c.items[argmax(c)].logit;
    auto bucket_of = [mx](const TokenLogit& t) {
      const float d = (mx - t.logit) * kBucketsPerNat;  // >= 0; +inf for -inf logits
      return d < kBuckets - 1 ? static_cast<int>(d) : kBuckets - 1;
    };
    double mass[kBuckets] = {};
    for (const auto& t : c.items) mass[bucket_of(t)] += t.p;
    int boundary = 0;
    double need = p_;
    while (boundary < kBuckets - 1 && mass[boundary] < need) need -= mass[boundary++];
    // Drop everything past the boundary bucket (one pass), then split what is left.
    auto bucket_end =
        std::remove_if(c.items.begin(), c.items.end(), [&](const TokenLogit& t) { return bucket_of(t) > boundary; });
    auto whole_end =
        std::partition(c.items.begin(), bucket_end, [&](const TokenLogit& t) { return bucket_of(t) < boundary; });
    std::sort(whole_end, bucket_end, higher);
    const auto lo = static_cast<size_t>(whole_end - c.items.begin());
    c.sorted = (lo == 0);
    return prefix_reaching(c, lo, static_cast<size_t>(bucket_end - c.items.begin()), need);
  }

  float p_;
};

class MinP final : public SamplerUnit {
 public:
  explicit MinP(float min_p) : min_p_(min_p) {}
  std::string name() const override { return "min-p"; }
  // p_i >= min_p * p_max  <=>  logit_i >= logit_max + ln(min_p): no softmax needed.
  void apply(Candidates& c, SamplerState&) const override {
    if (min_p_ <= 0.0f || c.items.size() <= 1) return;
    const double threshold = static_cast<double>(c.items[argmax(c)].logit) + std::log(static_cast<double>(min_p_));
    // remove_if keeps the order of what stays, so a sorted list stays sorted.
    auto end = std::remove_if(c.items.begin(), c.items.end(),
                              [&](const TokenLogit& t) { return static_cast<double>(t.logit) < threshold; });
    c.items.erase(end, c.items.end());
  }

 private:
  float min_p_;
};

class Temperature final : public SamplerUnit {
 public:
  explicit Temperature(float t) : t_(t) {}
  std::string name() const override { return "temperature"; }
  // Logits become (logit - max) / T: the same softmax as logit / T, but a tiny T cannot
  // overflow to +inf (the largest is 0, the rest go at worst to -inf).
  void apply(Candidates& c, SamplerState&) const override {
    if (c.items.empty()) return;
    const size_t best = argmax(c);
    if (t_ == 0.0f) {
      const TokenLogit keep = c.items[best];
      c.items.assign(1, keep);
      c.sorted = true;
      return;
    }
    const float mx = c.items[best].logit;
    if (t_ == 1.0f || std::isinf(mx)) return;
    for (auto& t : c.items) t.logit = (t.logit - mx) / t_;
  }

 private:
  float t_;
};

class Draw final : public SamplerUnit {
 public:
  std::string name() const override { return "draw"; }
  // Always takes exactly one number from the Rng, even with one candidate, so a sequence's
  // random stream advances the same way whatever the other units kept.
  void apply(Candidates& c, SamplerState& state) const override {
    require(!c.items.empty(), "sampler: no candidate tokens left to draw from");
    c.softmax();
    const double r = uniform53(state.rng);
    double cumulative = 0;
    int32_t last_possible = c.items[0].id;
    for (const auto& t : c.items) {
      if (t.p <= 0) continue;
      cumulative += t.p;
      last_possible = t.id;
      if (r < cumulative) {
        c.selected = t.id;
        return;
      }
    }
    c.selected = last_possible;  // r landed in the rounding gap below 1
  }
};

// Reads a JSON value into one SamplerParams field; `name` is for messages. Scalars go
// through json_value (io/json_input.h), which refuses what the field cannot hold.
template <class T>
void read_field(const nlohmann::json& value, const char* name, T& field) {
  const std::string what = std::string("sampler field '") + name + "'";
  if constexpr (std::is_same_v<T, std::map<int32_t, float>>) {
    if (!value.is_object()) throw FormatError(what + " must be an object of ID: BIAS, got " + value.dump());
    field.clear();
    for (auto it = value.begin(); it != value.end(); ++it) {
      const nlohmann::json& bias = it.value();
      if (!bias.is_number() && !bias.is_string())
        throw FormatError(what + " must map ids to numbers or strings, got " + bias.dump());
      const std::string text = bias.is_string() ? bias.template get<std::string>() : bias.dump();
      const auto parsed = parse_logit_bias(it.key() + "=" + text);
      field[parsed.first] = parsed.second;
    }
  } else {
    field = json_value<T>(value, what);
  }
}

}  // namespace

void SamplerParams::validate(int vocab_size) const {
  require(std::isfinite(temperature) && temperature >= 0.0f,
          "temperature must be >= 0 (0 = greedy), got " + fmt(temperature));
  require(top_k >= 0, "top_k must be >= 0 (0 = off), got " + std::to_string(top_k));
  require(top_p > 0.0f && top_p <= 1.0f, "top_p must be in (0, 1], got " + fmt(top_p));
  require(min_p >= 0.0f && min_p <= 1.0f, "min_p must be in [0, 1], got " + fmt(min_p));
  require(std::isfinite(repeat_penalty) && repeat_penalty > 0.0f,
          "repeat_penalty must be > 0 (1 = off), got " + fmt(repeat_penalty));
  require(repeat_last_n >= -1,
          "repeat_last_n must be >= -1 (-1 = whole context, 0 = off), got " + std::to_string(repeat_last_n));
  require(std::isfinite(presence_penalty), "presence_penalty must be finite, got " + fmt(presence_penalty));
  require(std::isfinite(frequency_penalty), "frequency_penalty must be finite, got " + fmt(frequency_penalty));
  for (const auto& [id, bias] : logit_bias) {
    const std::string what = "logit bias for token " + std::to_string(id);
    require(id >= 0, what + ": token id must be >= 0");
    require(vocab_size <= 0 || id < vocab_size,
            what + ": token id is outside the vocabulary (size " + std::to_string(vocab_size) + ")");
    require(!std::isnan(bias) && bias != INFINITY, what + ": bias must be finite or -inf, got " + fmt(bias));
  }
}

nlohmann::json to_json(const SamplerParams& params) {
  nlohmann::json j = nlohmann::json::object();
  params.visit([&](const char* name, const auto& field, const char*) {
    using T = std::decay_t<decltype(field)>;
    if constexpr (std::is_same_v<T, std::map<int32_t, float>>) {
      nlohmann::json bias = nlohmann::json::object();
      for (const auto& [id, b] : field)
        bias[std::to_string(id)] = std::isinf(b) ? nlohmann::json(fmt(b)) : nlohmann::json(b);
      j[name] = bias;
    } else {
      j[name] = field;
    }
  });
  return j;
}

SamplerParams sampler_params_from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw FormatError("sampler parameters must be a JSON object");
  SamplerParams params;
  params.visit([&](const char* name, auto& field, const char*) {
    if (j.contains(name)) read_field(j.at(name), name, field);
  });
  return params;
}

std::pair<int32_t, float> parse_logit_bias(std::string_view text) {
  const auto bad = [&](const std::string& why) {
    throw InvalidArgument("logit bias '" + std::string(text) + "' " + why + " (expected ID=BIAS, e.g. 50256=-inf)");
  };
  const size_t eq = text.find('=');
  if (eq == std::string_view::npos) bad("has no '='");
  const std::string_view id_text = text.substr(0, eq), bias_text = text.substr(eq + 1);
  int32_t id = 0;
  auto [id_end, id_err] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), id);
  if (id_err != std::errc() || id_end != id_text.data() + id_text.size() || id_text.empty()) bad("has a bad token id");
  float bias = 0;
  auto [b_end, b_err] = std::from_chars(bias_text.data(), bias_text.data() + bias_text.size(), bias);
  if (b_err != std::errc() || b_end != bias_text.data() + bias_text.size() || bias_text.empty()) bad("has a bad bias");
  return {id, bias};
}

void Candidates::reset(std::span<const float> logits) {
  check_logits(logits);
  items.resize(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) items[i] = {static_cast<int32_t>(i), logits[i], 0.0f};
  sorted = false;
  selected = -1;
}

void Candidates::reset_top(std::span<const float> logits, size_t k) {
  k = std::min(k, logits.size());
  if (k == 0) return reset(logits);
  check_logits(logits);
  // As keep_top, on the raw logits: only the items at or above the k-th highest are made.
  const float threshold = kth_highest(logits, k);
  items.clear();
  const __m256 t = _mm256_set1_ps(threshold);
  size_t i = 0;
  for (; i + 16 <= logits.size(); i += 16) {  // blocks of 16 with no survivor cost two compares
    const unsigned lo = static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(&logits[i]), t, _CMP_GE_OQ)));
    const unsigned hi = static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(&logits[i + 8]), t, _CMP_GE_OQ)));
    for (unsigned mask = lo | hi << 8; mask != 0; mask &= mask - 1) {
      const size_t j = i + static_cast<size_t>(__builtin_ctz(mask));
      items.push_back({static_cast<int32_t>(j), logits[j], 0.0f});
    }
  }
  for (; i < logits.size(); ++i)
    if (logits[i] >= threshold) items.push_back({static_cast<int32_t>(i), logits[i], 0.0f});
  std::partial_sort(items.begin(), items.begin() + static_cast<std::ptrdiff_t>(k), items.end(), higher);
  items.resize(k);
  sorted = true;
  selected = -1;
}

void Candidates::softmax() {
  if (items.empty()) return;
  const float mx = items[argmax(*this)].logit;
  if (mx == -INFINITY) throw InvalidArgument("sampler: every candidate token has logit -inf (all banned?)");
  // The exps run vectorized on a contiguous copy of the logits (V = 50k makes this the
  // costliest step of a draw otherwise).
  thread_local std::vector<float> buffer;
  buffer.resize(items.size());
  for (size_t i = 0; i < items.size(); ++i) buffer[i] = items[i].logit;
  const int n = static_cast<int>(items.size());
  const float sum = kernels::exp_shifted_sum(buffer.data(), buffer.data(), n, mx);  // >= 1: exp(0) of the max
  const float inv = 1.0f / sum;
  for (size_t i = 0; i < items.size(); ++i)
    items[i].p = items[i].logit == -INFINITY ? 0.0f : buffer[i] * inv;  // exp8 clamps -inf to ~1e-38
}

void Candidates::keep_top(size_t k) {
  k = std::min(k, items.size());
  if (!sorted && k > 0) {
    // First the k-th highest logit t, then the items with logit >= t (k of them, more on
    // ties) move to the front in id order, and only those are sorted. Every top-k item has
    // logit >= t, so the result is exactly a partial sort's.
    const float threshold = kth_highest(items.size(), k, [&](size_t i) { return items[i].logit; });
    const auto end = std::stable_partition(items.begin(), items.end(),
                                           [threshold](const TokenLogit& t) { return t.logit >= threshold; });
    std::partial_sort(items.begin(), items.begin() + static_cast<std::ptrdiff_t>(k), end, higher);
  }
  items.resize(k);
  sorted = true;
}

TokenWindow::TokenWindow(int capacity, int vocab_size) {
  require(capacity >= 0, "token window capacity must be >= 0, got " + std::to_string(capacity));
  require(vocab_size > 0, "token window needs a positive vocabulary size, got " + std::to_string(vocab_size));
  ring_.assign(static_cast<size_t>(capacity), 0);
  counts_.assign(static_cast<size_t>(vocab_size), 0);
}

void TokenWindow::push(int32_t token) {
  require(
      token >= 0 && static_cast<size_t>(token) < counts_.size(),
      "token " + std::to_string(token) + " is outside the vocabulary (size " + std::to_string(counts_.size()) + ")");
  if (ring_.empty()) return;
  const size_t cap = ring_.size();
  if (size_ == cap) {
    --counts_[static_cast<size_t>(ring_[head_])];  // evict the oldest
  } else {
    ++size_;
  }
  ring_[head_] = token;
  ++counts_[static_cast<size_t>(token)];
  head_ = (head_ + 1) % cap;
}

void TokenWindow::clear() {
  std::fill(counts_.begin(), counts_.end(), 0);
  head_ = size_ = 0;
}

int32_t TokenWindow::count(int32_t id) const {
  return (id >= 0 && static_cast<size_t>(id) < counts_.size()) ? counts_[static_cast<size_t>(id)] : 0;
}

SamplerState::SamplerState(const SamplerParams& params, int vocab_size, int context_size)
    : window(params.repeat_last_n == -1 ? context_size : params.repeat_last_n, vocab_size),
      rng(splitmix64(params.seed)) {
  require(params.repeat_last_n != -1 || context_size > 0,
          "repeat_last_n = -1 (whole context) needs a positive context size, got " + std::to_string(context_size));
}

std::unique_ptr<SamplerUnit> make_logit_bias(const std::map<int32_t, float>& bias) {
  return std::make_unique<LogitBias>(bias);
}
std::unique_ptr<SamplerUnit> make_repetition_penalty(float penalty) {
  return std::make_unique<RepetitionPenalty>(penalty);
}
std::unique_ptr<SamplerUnit> make_presence_frequency_penalty(float presence, float frequency) {
  return std::make_unique<PresenceFrequencyPenalty>(presence, frequency);
}
std::unique_ptr<SamplerUnit> make_top_k(int k) { return std::make_unique<TopK>(k); }
std::unique_ptr<SamplerUnit> make_top_p(float p) { return std::make_unique<TopP>(p); }
std::unique_ptr<SamplerUnit> make_min_p(float min_p) { return std::make_unique<MinP>(min_p); }
std::unique_ptr<SamplerUnit> make_temperature(float temperature) { return std::make_unique<Temperature>(temperature); }
std::unique_ptr<SamplerUnit> make_draw() { return std::make_unique<Draw>(); }

SamplerChain::SamplerChain(std::vector<std::unique_ptr<SamplerUnit>> units) : units_(std::move(units)) {
  require(!units_.empty(), "a sampler chain needs at least one unit (ending in a draw)");
  for (const auto& u : units_) require(u != nullptr, "a sampler chain unit is null");
}

SamplerChain SamplerChain::from_params(const SamplerParams& p, int vocab_size) {
  p.validate(vocab_size);
  require(vocab_size > 0, "sampler needs a positive vocabulary size, got " + std::to_string(vocab_size));
  std::vector<std::unique_ptr<SamplerUnit>> units;
  if (!p.logit_bias.empty()) units.push_back(make_logit_bias(p.logit_bias));
  if (p.repeat_last_n != 0 && p.repeat_penalty != 1.0f) units.push_back(make_repetition_penalty(p.repeat_penalty));
  if (p.repeat_last_n != 0 && (p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f))
    units.push_back(make_presence_frequency_penalty(p.presence_penalty, p.frequency_penalty));
  if (p.top_k > 0) units.push_back(make_top_k(p.top_k));
  if (p.top_p < 1.0f) units.push_back(make_top_p(p.top_p));
  if (p.min_p > 0.0f) units.push_back(make_min_p(p.min_p));
  if (p.temperature != 1.0f) units.push_back(make_temperature(p.temperature));
  units.push_back(make_draw());
  return SamplerChain(std::move(units));
}

int32_t SamplerChain::sample(std::span<const float> logits, SamplerState& state, Candidates& scratch) const {
  require(!logits.empty(), "sampler: empty logits");
  // A chain that starts with top-k (no bias or penalties before it) loads only the top k.
  const size_t k = units_.front()->keeps_top();
  size_t first = 0;
  if (k > 0 && k < logits.size()) {
    scratch.reset_top(logits, k);
    first = 1;
  } else {
    scratch.reset(logits);
  }
  for (size_t i = first; i < units_.size(); ++i) units_[i]->apply(scratch, state);
  if (scratch.selected < 0)
    throw InvalidArgument("sampler chain ended without selecting a token (its last unit must be a draw)");
  return scratch.selected;
}

void SamplerChain::accept(int32_t token, SamplerState& state) const {
  state.window.push(token);
  for (const auto& u : units_) u->accept(token, state);
}

std::vector<std::string> SamplerChain::names() const {
  std::vector<std::string> out;
  for (const auto& u : units_) out.push_back(u->name());
  return out;
}

}  // namespace nexus
