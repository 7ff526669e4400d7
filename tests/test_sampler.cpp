// Sampler chain and stop strings: each unit against hand-computed probability tables (in the
// manner of llama.cpp's test-sampling.cpp), chain order, greedy, seeded reproducibility,
// validation, and stop strings split across pieces.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <set>
#include <thread>

#include "core/error.h"
#include "core/rng.h"
#include "infer/sampler.h"
#include "infer/stop.h"

namespace nexus {
namespace {

std::vector<float> logs(const std::vector<float>& probs) {
  std::vector<float> out;
  for (float p : probs) out.push_back(std::log(p));
  return out;
}

SamplerState make_state(int vocab, int repeat_last_n = 64, uint64_t seed = 1, std::vector<int32_t> history = {}) {
  SamplerParams p;
  p.repeat_last_n = repeat_last_n;
  p.seed = seed;
  SamplerState s(p, vocab, 1024);
  for (int32_t t : history) s.window.push(t);
  return s;
}

// Runs `unit` on `logits` (with `state`) and returns the candidates it left.
Candidates run_unit(const SamplerUnit& unit, const std::vector<float>& logits, SamplerState& state) {
  Candidates c;
  c.reset(logits);
  unit.apply(c, state);
  return c;
}

Candidates run_unit(const SamplerUnit& unit, const std::vector<float>& logits) {
  SamplerState state = make_state(static_cast<int>(logits.size()));
  return run_unit(unit, logits, state);
}

// Softmax of what is left, indexed by token id (0 for removed tokens), compared to `expected`.
void expect_probs(Candidates c, const std::vector<float>& expected, float tol = 1e-5f) {
  c.softmax();
  std::vector<float> by_id(expected.size(), 0.0f);
  for (const auto& t : c.items) {
    ASSERT_LT(static_cast<size_t>(t.id), expected.size());
    by_id[static_cast<size_t>(t.id)] = t.p;
  }
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(by_id[i], expected[i], tol) << "token " << i;
}

std::vector<int32_t> ids_of(const Candidates& c) {
  std::vector<int32_t> ids;
  for (const auto& t : c.items) ids.push_back(t.id);
  return ids;
}

const std::vector<float> kP4 = {0.1f, 0.2f, 0.3f, 0.4f};

TEST(SamplerUnits, TopK) {
  expect_probs(run_unit(*make_top_k(1), logs(kP4)), {0, 0, 0, 1});
  expect_probs(run_unit(*make_top_k(3), logs(kP4)), {0, 2 / 9.f, 3 / 9.f, 4 / 9.f});
  expect_probs(run_unit(*make_top_k(4), logs(kP4)), kP4);
  expect_probs(run_unit(*make_top_k(0), logs(kP4)), kP4);  // 0 = off
  Candidates c = run_unit(*make_top_k(3), logs(kP4));
  EXPECT_TRUE(c.sorted);
  EXPECT_EQ(ids_of(c), (std::vector<int32_t>{3, 2, 1}));
  // Ties go to the lower id.
  EXPECT_EQ(ids_of(run_unit(*make_top_k(2), {1, 2, 2, 2})), (std::vector<int32_t>{1, 2}));
}

// keep_top against a full sort by (logit desc, id asc), with many ties, -inf and any k.
TEST(SamplerUnits, KeepTopEqualsFullSort) {
  Rng rng(5);
  for (int trial = 0; trial < 40; ++trial) {
    const int V = 1 + static_cast<int>(rng.below(3000));
    std::vector<float> logits(V);
    for (float& l : logits) {
      const uint64_t r = rng.below(10);
      l = r == 0 ? -INFINITY : r < 5 ? static_cast<float>(rng.below(8)) : rng.uniform() * 10.0f;
    }
    std::vector<int32_t> want(V);
    for (int i = 0; i < V; ++i) want[i] = i;
    std::sort(want.begin(), want.end(), [&](int32_t a, int32_t b) {
      return logits[a] != logits[b] ? logits[a] > logits[b] : a < b;
    });
    for (size_t k : {size_t{1}, size_t{2}, size_t{40}, static_cast<size_t>(V), static_cast<size_t>(V) + 5}) {
      Candidates c, direct;
      c.reset(logits);
      c.keep_top(k);
      direct.reset_top(logits, k);  // the same without loading all V candidates
      const size_t n = std::min(k, static_cast<size_t>(V));
      const std::vector<int32_t> top(want.begin(), want.begin() + static_cast<std::ptrdiff_t>(n));
      ASSERT_EQ(ids_of(c), top) << "V=" << V << " k=" << k;
      ASSERT_EQ(ids_of(direct), top) << "reset_top: V=" << V << " k=" << k;
      EXPECT_TRUE(c.sorted);
      EXPECT_TRUE(direct.sorted);
    }
  }
}

TEST(SamplerUnits, TopP) {
  expect_probs(run_unit(*make_top_p(0.05f), logs(kP4)), {0, 0, 0, 1});              // at least one token
  expect_probs(run_unit(*make_top_p(0.65f), logs(kP4)), {0, 0, 3 / 7.f, 4 / 7.f});  // 0.4 + 0.3 >= 0.65
  expect_probs(run_unit(*make_top_p(0.75f), logs(kP4)), {0, 2 / 9.f, 3 / 9.f, 4 / 9.f});
  expect_probs(run_unit(*make_top_p(0.95f), logs(kP4)), kP4);
  expect_probs(run_unit(*make_top_p(1.0f), logs(kP4)), kP4);                       // 1 = off
  expect_probs(run_unit(*make_top_p(0.99f), {0, -INFINITY, 0}), {0.5f, 0, 0.5f});  // banned tokens never count
  // Already sorted input (after top-k) takes the plain prefix scan.
  SamplerState st = make_state(4);
  Candidates c = run_unit(*make_top_k(4), logs(kP4), st);
  make_top_p(0.65f)->apply(c, st);
  EXPECT_EQ(ids_of(c), (std::vector<int32_t>{3, 2}));
}

TEST(SamplerUnits, MinP) {
  expect_probs(run_unit(*make_min_p(0.0f), logs(kP4)), kP4);
  expect_probs(run_unit(*make_min_p(0.26f), logs(kP4)), {0, 2 / 9.f, 3 / 9.f, 4 / 9.f});  // 0.104 cut
  expect_probs(run_unit(*make_min_p(0.51f), logs(kP4)), {0, 0, 3 / 7.f, 4 / 7.f});        // 0.204 cut
  expect_probs(run_unit(*make_min_p(0.76f), logs(kP4)), {0, 0, 0, 1});                    // 0.304 cut
  expect_probs(run_unit(*make_min_p(1.0f), logs(kP4)), {0, 0, 0, 1});
  // Order of the survivors is kept (unsorted input stays in id order).
  EXPECT_EQ(ids_of(run_unit(*make_min_p(0.26f), logs(kP4))), (std::vector<int32_t>{1, 2, 3}));
}

TEST(SamplerUnits, Temperature) {
  // T = 0.5 squares the probabilities, T = 2 takes their square roots (then renormalise).
  expect_probs(run_unit(*make_temperature(0.5f), logs(kP4)), {0.01f / 0.3f, 0.04f / 0.3f, 0.09f / 0.3f, 0.16f / 0.3f});
  const float s = std::sqrt(0.1f) + std::sqrt(0.2f) + std::sqrt(0.3f) + std::sqrt(0.4f);
  expect_probs(run_unit(*make_temperature(2.0f), logs(kP4)),
               {std::sqrt(0.1f) / s, std::sqrt(0.2f) / s, std::sqrt(0.3f) / s, std::sqrt(0.4f) / s});
  expect_probs(run_unit(*make_temperature(1.0f), logs(kP4)), kP4);
  expect_probs(run_unit(*make_temperature(0.0f), logs(kP4)), {0, 0, 0, 1});                       // greedy
  EXPECT_EQ(ids_of(run_unit(*make_temperature(0.0f), {1, 3, 3, 2})), (std::vector<int32_t>{1}));  // tie: lower id
  // A tiny temperature must not overflow into NaN.
  expect_probs(run_unit(*make_temperature(1e-30f), {1000, 999, -1000}), {1, 0, 0});
}

TEST(SamplerUnits, LogitBias) {
  expect_probs(run_unit(*make_logit_bias({{1, std::log(3.0f)}}), {0, 0, 0, 0}), {1 / 6.f, 3 / 6.f, 1 / 6.f, 1 / 6.f});
  expect_probs(run_unit(*make_logit_bias({{3, -INFINITY}}), logs(kP4)), {1 / 6.f, 2 / 6.f, 3 / 6.f, 0});
  // Also works when candidates are no longer in id order (after a top-k).
  SamplerState st = make_state(4);
  Candidates c = run_unit(*make_top_k(3), logs(kP4), st);
  make_logit_bias({{1, std::log(2.0f)}})->apply(c, st);
  expect_probs(c, {0, 4 / 11.f, 3 / 11.f, 4 / 11.f});
  // Banning everything is an error, not a silent NaN.
  Candidates all = run_unit(*make_logit_bias({{0, -INFINITY}, {1, -INFINITY}}), {1, 2});
  EXPECT_THROW(all.softmax(), InvalidArgument);
}

TEST(SamplerUnits, RepetitionPenalty) {
  const std::vector<float> p5 = {0.2f, 0.2f, 0.2f, 0.2f, 0.2f};
  SamplerState one = make_state(5, 64, 1, {0});
  expect_probs(run_unit(*make_repetition_penalty(50.0f), logs(p5), one), {0, 0.25f, 0.25f, 0.25f, 0.25f});
  SamplerState three = make_state(5, 64, 1, {0, 1, 2});
  expect_probs(run_unit(*make_repetition_penalty(50.0f), logs(p5), three), {0, 0, 0, 0.5f, 0.5f});
  // Repeats do not compound (count is irrelevant to the CTRL penalty).
  SamplerState rep = make_state(5, 64, 1, {0, 1, 2, 0, 0});
  expect_probs(run_unit(*make_repetition_penalty(50.0f), logs(p5), rep), {0, 0, 0, 0.5f, 0.5f});
  // Positive logits are divided, negative multiplied; unseen tokens untouched.
  SamplerState st = make_state(4, 64, 1, {0, 1});
  Candidates c = run_unit(*make_repetition_penalty(2.0f), {2, -2, 1, -1}, st);
  std::vector<float> got;
  for (const auto& t : c.items) got.push_back(t.logit);
  EXPECT_EQ(got, (std::vector<float>{1, -4, 1, -1}));
}

TEST(SamplerUnits, PresenceFrequencyPenalty) {
  const std::vector<float> p5 = {0.2f, 0.2f, 0.2f, 0.2f, 0.2f};
  const auto unit = make_presence_frequency_penalty(5.0f, 5.0f);
  // Token 0 seen once: logit -= 1*5 + 5 = 10.
  SamplerState one = make_state(5, 64, 1, {0});
  const float e10 = std::exp(-10.0f), e20 = std::exp(-20.0f);
  expect_probs(run_unit(*unit, logs(p5), one),
               {e10 / (4 + e10), 1 / (4 + e10), 1 / (4 + e10), 1 / (4 + e10), 1 / (4 + e10)}, 1e-6f);
  // Counts 3, 1, 1: token 0 loses 20, tokens 1 and 2 lose 10.
  SamplerState rep = make_state(5, 64, 1, {0, 1, 2, 0, 0});
  const float z = 2 + 2 * e10 + e20;
  expect_probs(run_unit(*unit, logs(p5), rep), {e20 / z, e10 / z, e10 / z, 1 / z, 1 / z}, 1e-6f);
  // Presence only: flat 3 regardless of count. Frequency only: 2 per occurrence.
  SamplerState st = make_state(3, 64, 1, {0, 0, 1});
  Candidates c = run_unit(*make_presence_frequency_penalty(3.0f, 0.0f), {0, 0, 0}, st);
  EXPECT_EQ(c.items[0].logit, -3.0f);
  EXPECT_EQ(c.items[1].logit, -3.0f);
  EXPECT_EQ(c.items[2].logit, 0.0f);
  c = run_unit(*make_presence_frequency_penalty(0.0f, 2.0f), {0, 0, 0}, st);
  EXPECT_EQ(c.items[0].logit, -4.0f);
  EXPECT_EQ(c.items[1].logit, -2.0f);
}

TEST(SamplerUnits, WindowKeepsOnlyTheLastN) {
  SamplerState st = make_state(5, 2, 1, {0, 1, 2, 0, 0});  // window = {0, 0}
  EXPECT_EQ(st.window.size(), 2u);
  EXPECT_EQ(st.window.count(0), 2);
  EXPECT_EQ(st.window.count(1), 0);
  EXPECT_EQ(st.window.count(2), 0);
  Candidates c = run_unit(*make_presence_frequency_penalty(1.0f, 1.0f), {0, 0, 0, 0, 0}, st);
  EXPECT_EQ(c.items[0].logit, -3.0f);
  EXPECT_EQ(c.items[1].logit, 0.0f);
  SamplerState off = make_state(5, 0, 1, {0, 1});
  EXPECT_EQ(off.window.count(0), 0);
  SamplerParams whole;
  whole.repeat_last_n = -1;  // the whole context: here 3 tokens
  SamplerState ctx(whole, 5, 3);
  for (int32_t t : {4, 4, 4, 1}) ctx.window.push(t);
  EXPECT_EQ(ctx.window.count(4), 2);
  EXPECT_EQ(ctx.window.count(1), 1);
  EXPECT_THROW(ctx.window.push(5), InvalidArgument);
  EXPECT_THROW(ctx.window.push(-1), InvalidArgument);
}

TEST(SamplerUnits, DrawFollowsTheDistribution) {
  const auto draw = make_draw();
  SamplerState st = make_state(4, 64, 42);
  std::vector<int> hits(4, 0);
  const int n = 40000;
  for (int i = 0; i < n; ++i) {
    Candidates c = run_unit(*draw, logs(kP4), st);
    ASSERT_GE(c.selected, 0);
    hits[static_cast<size_t>(c.selected)]++;
  }
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(hits[i] / double(n), kP4[i], 0.01) << "token " << i;
  // A banned token is never drawn.
  for (int i = 0; i < 2000; ++i) {
    Candidates c = run_unit(*draw, {0, -INFINITY, 0}, st);
    EXPECT_NE(c.selected, 1);
  }
}

// Naive references (full sort) for the truncating units, on random logits with many ties.
std::vector<int32_t> naive_top_p(const std::vector<float>& logits, float p) {
  std::vector<int32_t> ids(logits.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::stable_sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  const float mx = logits[ids[0]];
  double sum = 0, cum = 0;
  for (float l : logits) sum += std::exp(l - mx);
  std::vector<int32_t> out;
  for (int32_t id : ids) {
    out.push_back(id);
    cum += static_cast<float>(std::exp(logits[id] - mx) / sum);
    if (cum >= p) break;
  }
  return out;
}

TEST(SamplerUnits, TruncationMatchesNaiveFullSortOnLargeVocab) {
  std::mt19937 gen(7);
  for (int trial = 0; trial < 20; ++trial) {
    const int V = 5000;
    std::vector<float> logits(V);
    std::uniform_int_distribution<int> level(0, 200);
    for (auto& l : logits) l = level(gen) * (trial % 2 ? 0.01f : 0.05f);  // flat and peaked, many ties
    const float p = 0.1f + 0.85f * (trial / 19.0f);
    // The kept set must be exactly the naive prefix (its order may differ).
    std::vector<int32_t> got = ids_of(run_unit(*make_top_p(p), logits)), want = naive_top_p(logits, p);
    std::sort(got.begin(), got.end());
    std::sort(want.begin(), want.end());
    EXPECT_EQ(got, want) << "p = " << p;
    const int k = 1 + trial * 97;
    std::vector<int32_t> top = ids_of(run_unit(*make_top_k(k), logits));
    std::vector<int32_t> all = naive_top_p(logits, 2.0f);  // full order
    all.resize(static_cast<size_t>(k));
    EXPECT_EQ(top, all) << "k = " << k;
  }
}

TEST(SamplerChainTest, DefaultOrder) {
  SamplerParams p;
  p.logit_bias = {{1, 1.0f}};
  p.repeat_penalty = 1.1f;
  p.presence_penalty = 0.5f;
  SamplerChain full = SamplerChain::from_params(p, 10);
  EXPECT_EQ(full.names(), (std::vector<std::string>{"logit-bias", "repetition-penalty", "presence-frequency-penalty",
                                                    "top-k", "top-p", "min-p", "temperature", "draw"}));
  SamplerParams plain;
  plain.top_k = 0;
  plain.top_p = 1.0f;
  plain.min_p = 0.0f;
  plain.temperature = 1.0f;
  EXPECT_EQ(SamplerChain::from_params(plain, 10).names(), (std::vector<std::string>{"draw"}));
  plain.repeat_penalty = 1.3f;
  plain.repeat_last_n = 0;  // window off: penalties are left out
  EXPECT_EQ(SamplerChain::from_params(plain, 10).names(), (std::vector<std::string>{"draw"}));
}

// NaN or +inf logits are an error naming the token, whether the chain loads every
// candidate or (starting with top-k) only the top ones.
TEST(SamplerChainTest, BadLogitsAreNamed) {
  for (int top_k : {0, 2}) {
    SamplerParams p;
    p.top_k = top_k;
    SamplerChain chain = SamplerChain::from_params(p, 5);
    SamplerState st(p, 5, 16);
    Candidates scratch;
    for (float bad : {NAN, INFINITY}) {
      const std::vector<float> logits = {0.5f, 1.0f, 2.0f, bad, -1.0f};
      try {
        chain.sample(logits, st, scratch);
        ADD_FAILURE() << "no error for logit " << bad << " with top_k " << top_k;
      } catch (const InvalidArgument& e) {
        EXPECT_NE(std::string(e.what()).find("logit of token 3"), std::string::npos) << e.what();
      }
    }
  }
}

TEST(SamplerChainTest, PenaltiesComeBeforeTopK) {
  // Token 0 is the most likely, but it was just generated: the penalty drops it below token
  // 1 before top-k = 1 picks, so the choice is token 1 every time.
  SamplerParams p;
  p.top_k = 1;
  p.temperature = 1.0f;
  p.frequency_penalty = 2.0f;
  SamplerChain chain = SamplerChain::from_params(p, 3);
  SamplerState st(p, 3, 16);
  Candidates scratch;
  EXPECT_EQ(chain.sample(std::vector<float>{3, 2, 0}, st, scratch), 0);
  chain.accept(0, st);
  EXPECT_EQ(chain.sample(std::vector<float>{3, 2, 0}, st, scratch), 1);
}

TEST(SamplerChainTest, MinPComesBeforeTemperature) {
  // probs {0.5, 0.3, 0.2}, min_p 0.5 -> cut at 0.25 keeps {0, 1}; then T = 0.5 squares them.
  // (Temperature first would sharpen to {0.66, 0.24, 0.11} and min-p would keep only token 0.)
  SamplerState st = make_state(3);
  Candidates c;
  c.reset(logs({0.5f, 0.3f, 0.2f}));
  make_min_p(0.5f)->apply(c, st);
  make_temperature(0.5f)->apply(c, st);
  expect_probs(c, {0.25f / 0.34f, 0.09f / 0.34f, 0});
}

TEST(SamplerChainTest, GreedyIsArgmaxAfterPenaltiesAndBias) {
  SamplerParams p;
  p.temperature = 0.0f;
  SamplerChain chain = SamplerChain::from_params(p, 5);
  SamplerState st(p, 5, 16);
  Candidates scratch;
  const std::vector<float> logits = {0.1f, 2.0f, 2.0f, -1.0f, 1.5f};
  for (int i = 0; i < 5; ++i) EXPECT_EQ(chain.sample(logits, st, scratch), 1);  // tie 1/2 -> lower id
  p.logit_bias = {{4, 1.0f}};
  EXPECT_EQ(SamplerChain::from_params(p, 5).sample(logits, st, scratch), 4);
}

std::vector<int32_t> draw_many(const SamplerChain& chain, const SamplerParams& p, const std::vector<float>& logits,
                               int n) {
  SamplerState st(p, static_cast<int>(logits.size()), 256);
  Candidates scratch;
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(chain.sample(logits, st, scratch));
    chain.accept(out.back(), st);
  }
  return out;
}

TEST(SamplerChainTest, SeededAndThreadIndependent) {
  std::mt19937 gen(3);
  std::normal_distribution<float> nd(0.0f, 2.0f);
  std::vector<float> logits(3000);
  for (auto& l : logits) l = nd(gen);
  SamplerParams p;
  p.temperature = 1.3f;
  p.top_k = 100;
  p.top_p = 0.9f;
  p.min_p = 0.01f;
  p.repeat_penalty = 1.2f;
  p.frequency_penalty = 0.1f;
  p.seed = 99;
  SamplerChain chain = SamplerChain::from_params(p, 3000);
  const std::vector<int32_t> a = draw_many(chain, p, logits, 200);
  EXPECT_EQ(a, draw_many(chain, p, logits, 200));
  EXPECT_GT(std::set<int32_t>(a.begin(), a.end()).size(), 10u);  // it really samples
  SamplerParams other = p;
  other.seed = 100;
  EXPECT_NE(a, draw_many(chain, other, logits, 200));
  // Four threads sharing one chain, each with its own state, get the same draws.
  std::vector<std::vector<int32_t>> results(4);
  std::vector<std::thread> threads;
  for (auto& r : results) threads.emplace_back([&] { r = draw_many(chain, p, logits, 200); });
  for (auto& t : threads) t.join();
  for (const auto& r : results) EXPECT_EQ(r, a);
  // A copied state continues exactly like the original.
  SamplerState st(p, 3000, 256);
  Candidates scratch;
  for (int i = 0; i < 7; ++i) chain.accept(chain.sample(logits, st, scratch), st);
  SamplerState fork = st;
  for (int i = 0; i < 20; ++i) {
    const int32_t x = chain.sample(logits, st, scratch), y = chain.sample(logits, fork, scratch);
    ASSERT_EQ(x, y);
    chain.accept(x, st);
    chain.accept(y, fork);
  }
}

// Expects InvalidArgument whose message mentions `needle`.
void expect_invalid(const SamplerParams& p, const std::string& needle, int vocab = 100) {
  try {
    p.validate(vocab);
    ADD_FAILURE() << "no error for " << needle;
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(SamplerParamsTest, Validation) {
  SamplerParams ok;
  EXPECT_NO_THROW(ok.validate(100));
  auto with = [](auto change) {
    SamplerParams p;
    change(p);
    return p;
  };
  expect_invalid(with([](auto& p) { p.temperature = -0.1f; }), "temperature");
  expect_invalid(with([](auto& p) { p.temperature = NAN; }), "temperature");
  expect_invalid(with([](auto& p) { p.top_k = -1; }), "top_k");
  expect_invalid(with([](auto& p) { p.top_p = 0.0f; }), "top_p must be in (0, 1]");
  expect_invalid(with([](auto& p) { p.top_p = 1.5f; }), "top_p");
  expect_invalid(with([](auto& p) { p.min_p = -0.1f; }), "min_p must be in [0, 1]");
  expect_invalid(with([](auto& p) { p.min_p = 1.1f; }), "min_p");
  expect_invalid(with([](auto& p) { p.repeat_last_n = -2; }), "repeat_last_n");
  expect_invalid(with([](auto& p) { p.repeat_penalty = 0.0f; }), "repeat_penalty");
  expect_invalid(with([](auto& p) { p.presence_penalty = INFINITY; }), "presence_penalty");
  expect_invalid(with([](auto& p) { p.frequency_penalty = NAN; }), "frequency_penalty");
  expect_invalid(with([](auto& p) { p.logit_bias = {{100, 1.0f}}; }), "outside the vocabulary");
  expect_invalid(with([](auto& p) { p.logit_bias = {{-1, 1.0f}}; }), "token -1");
  expect_invalid(with([](auto& p) { p.logit_bias = {{3, INFINITY}}; }), "finite or -inf");
  EXPECT_NO_THROW(with([](auto& p) { p.logit_bias = {{99, -INFINITY}}; }).validate(100));
  EXPECT_THROW(SamplerChain::from_params(with([](auto& p) { p.top_p = 2.0f; }), 10), InvalidArgument);
}

TEST(SamplerParamsTest, JsonAndLogitBiasParsing) {
  SamplerParams p;
  p.temperature = 0.5f;
  p.top_k = 7;
  p.seed = 12345678901234ull;
  p.logit_bias = {{3, -INFINITY}, {5, 1.5f}};
  const nlohmann::json j = to_json(p);
  EXPECT_EQ(j.at("logit_bias").at("3"), "-inf");
  SamplerParams q = sampler_params_from_json(nlohmann::json::parse(j.dump()));
  EXPECT_EQ(q.temperature, 0.5f);
  EXPECT_EQ(q.top_k, 7);
  EXPECT_EQ(q.seed, p.seed);
  EXPECT_EQ(q.logit_bias, p.logit_bias);
  EXPECT_THROW(sampler_params_from_json(nlohmann::json{{"top_k", "many"}}), FormatError);
  EXPECT_THROW(sampler_params_from_json(nlohmann::json{{"top_k", 1.5}}), FormatError);
  EXPECT_EQ(parse_logit_bias("50256=-inf"), (std::pair<int32_t, float>{50256, -INFINITY}));
  EXPECT_EQ(parse_logit_bias("7=-2.5"), (std::pair<int32_t, float>{7, -2.5f}));
  for (const char* bad : {"7", "=1", "x=1", "7=", "7=abc", "7=1x"})
    EXPECT_THROW(parse_logit_bias(bad), InvalidArgument) << bad;
}

// ---- stop strings ----

// Feeds `pieces`; returns everything emitted (plus the flush when no stop) and the stop.
std::pair<std::string, std::string> feed_all(const std::vector<std::string>& stops,
                                             const std::vector<std::string>& pieces) {
  StopMatcher m(stops);
  std::string out;
  for (const auto& piece : pieces) {
    auto r = m.feed(piece);
    out += r.text;
    if (r.stopped) return {out, r.stop};
  }
  return {out + m.flush(), ""};
}

TEST(StopStrings, SplitAcrossPieces) {
  StopMatcher m({"\n\nUser:"});
  auto r = m.feed("Hello");
  EXPECT_EQ(r.text, "Hello");
  r = m.feed("\n");
  EXPECT_EQ(r.text, "");  // could start the stop string: held back
  r = m.feed("\nUs");
  EXPECT_EQ(r.text, "");
  EXPECT_EQ(m.pending(), "\n\nUs");
  r = m.feed("er: hi");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "");
  EXPECT_EQ(r.stop, "\n\nUser:");
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(m.feed("more").text, "");  // nothing after a stop
}

TEST(StopStrings, HeldBackTextIsReleasedWhenItDiverges) {
  EXPECT_EQ(feed_all({"abc"}, {"xa", "bd", "e"}), (std::pair<std::string, std::string>{"xabde", ""}));
  StopMatcher m({"abc"});
  EXPECT_EQ(m.feed("xab").text, "x");
  EXPECT_EQ(m.flush(), "ab");  // end of stream without a stop: held text comes out
}

TEST(StopStrings, OverlappingPrefixes) {
  // "aaab" with stop "aab": after "aaa" only the last "aa" can still start the stop.
  StopMatcher m({"aab"});
  EXPECT_EQ(m.feed("a").text, "");
  EXPECT_EQ(m.feed("a").text, "");
  EXPECT_EQ(m.feed("a").text, "a");
  auto r = m.feed("b");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "");
  // Two stops sharing letters: whichever completes first wins, whatever the split.
  EXPECT_EQ(feed_all({"abcd", "c"}, {"ab", "cd"}), (std::pair<std::string, std::string>{"ab", "c"}));
  EXPECT_EQ(feed_all({"abc", "bcd"}, {"ab", "cd"}), (std::pair<std::string, std::string>{"", "abc"}));
  EXPECT_EQ(feed_all({"bc", "c"}, {"abc"}), (std::pair<std::string, std::string>{"a", "bc"}));
  // A stop inside one piece: text before it is emitted, the rest dropped.
  EXPECT_EQ(feed_all({"END"}, {"one END two"}), (std::pair<std::string, std::string>{"one ", "END"}));
  // Multi-byte UTF-8 stop split inside a character.
  EXPECT_EQ(feed_all({"\xC3\xA9"}, {"caf\xC3", "\xA9!"}), (std::pair<std::string, std::string>{"caf", "\xC3\xA9"}));
  EXPECT_EQ(feed_all({}, {"no", " stops"}), (std::pair<std::string, std::string>{"no stops", ""}));
  EXPECT_THROW(StopMatcher({"ok", ""}), InvalidArgument);
}

TEST(StopStrings, ResultDoesNotDependOnHowTextIsSplit) {
  std::mt19937 gen(11);
  auto random_text = [&](size_t n) {
    std::string s;
    for (size_t i = 0; i < n; ++i) s += static_cast<char>('a' + gen() % 3);
    return s;
  };
  for (int trial = 0; trial < 300; ++trial) {
    const std::string text = random_text(20);
    const std::vector<std::string> stops = {random_text(1 + gen() % 4), random_text(1 + gen() % 4)};
    // Reference on the whole text: the stop ending first (ties: starting first) wins.
    size_t best_end = std::string::npos, best_at = std::string::npos;
    std::string best;
    for (const auto& s : stops) {
      const size_t at = text.find(s);
      if (at != std::string::npos && (at + s.size() < best_end || (at + s.size() == best_end && at < best_at))) {
        best_end = at + s.size();
        best_at = at;
        best = s;
      }
    }
    const std::pair<std::string, std::string> expected{best.empty() ? text : text.substr(0, best_at), best};
    std::vector<std::string> pieces;
    for (size_t i = 0; i < text.size();) {
      const size_t n = 1 + gen() % 5;
      pieces.push_back(text.substr(i, n));
      i += n;
    }
    EXPECT_EQ(feed_all(stops, pieces), expected) << text << " / " << stops[0] << ", " << stops[1];
  }
}

}  // namespace
}  // namespace nexus
