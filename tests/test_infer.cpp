// The inference engine on tiny random models: KV-cache forward against the training
// model's full recomputation (logits and greedy tokens), chunked against one-shot prefill,
// ragged batches against one sequence at a time (same tokens, any thread count), the
// context-overflow policies, EOS and stop strings, loading from a model directory,
// sliding-window perplexity, and bad input.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/rng.h"
#include "infer/generate.h"
#include "infer/perplexity.h"
#include "io/atomic_file.h"
#include "model/gpt.h"
#include "model/model_io.h"
#include "tokenizer/byte_tokenizer.h"
#include "infer_test_util.h"

namespace nexus {
namespace {

GPTConfig tiny_config(bool bias = true, int vocab = 61, int block = 48) {
  GPTConfig c;
  c.block_size = block;
  c.vocab_size = vocab;
  c.n_layer = 2;
  c.n_head = 4;
  c.n_embd = 32;
  c.bias = bias;
  return c;
}

// A GPT with every parameter ~ N(0, 0.3^2): logits spread out enough that greedy choices
// are never near-ties (GPT-2's 0.02 init makes them almost uniform).
using testutil::random_gpt;
using testutil::some_tokens;

// Logits of the last position of `tokens` by the training model (full recomputation).
std::vector<float> reference_logits(GPT& g, const std::vector<int32_t>& tokens) {
  const int V = g.config().vocab_size, T = (int)tokens.size();
  g.forward(tokens.data(), nullptr, 1, T);
  return std::vector<float>(g.logits() + (size_t)(T - 1) * V, g.logits() + (size_t)T * V);
}

int32_t argmax(const float* x, int n) { return (int32_t)(std::max_element(x, x + n) - x); }

GenerationParams greedy(int max_tokens) {
  GenerationParams p;
  p.sampler.temperature = 0.0f;
  p.max_tokens = max_tokens;
  return p;
}

double max_abs_diff(const float* a, const float* b, size_t n) {
  double d = 0;
  for (size_t i = 0; i < n; i++) d = std::max(d, (double)std::fabs(a[i] - b[i]));
  return d;
}

// f32 caches to 1e-4; fp16 caches (keys and values rounded to 11 bits) to 2e-3.
TEST(InferForward, CachedDecodeMatchesFullRecomputation) {
  for (auto [bias, kv] : {std::pair{true, KvType::F32}, {false, KvType::F32}, {true, KvType::F16}}) {
    const GPTConfig c = tiny_config(bias);
    auto g = random_gpt(c, 11);
    auto model = InferenceModel::from_gpt(*g);
    ForwardPass pass(model);
    KVCache cache(c, c.block_size, kv);
    const double tolerance = kv == KvType::F16 ? 2e-3 : 1e-4;
    std::vector<int32_t> tokens = some_tokens(9, c.vocab_size, 3);
    ForwardChunk prefill{&cache, 0, tokens.data(), (int)tokens.size(), RowKind::Prefill, true};
    const float* logits = pass.run({&prefill, 1});
    for (int step = 0; step < 30; step++) {
      const auto want = reference_logits(*g, tokens);
      EXPECT_LE(max_abs_diff(logits, want.data(), c.vocab_size), tolerance)
          << "bias " << bias << " kv " << kv_type_name(kv) << " step " << step;
      const int32_t next = argmax(logits, c.vocab_size);
      ASSERT_EQ(next, argmax(want.data(), c.vocab_size)) << "greedy token differs at step " << step;
      tokens.push_back(next);
      ForwardChunk decode{&cache, (int)tokens.size() - 1, &tokens.back(), 1, RowKind::Decode, true};
      logits = pass.run({&decode, 1});
    }
  }
}

TEST(InferForward, EngineGreedyTokensMatchRecomputation) {
  const GPTConfig c = tiny_config();
  auto g = random_gpt(c, 12);
  const std::vector<int32_t> prompt = some_tokens(5, c.vocab_size, 4);
  const GenerationResult r = generate(InferenceModel::from_gpt(*g), prompt, greedy(25));
  std::vector<int32_t> context = prompt, want;
  for (int i = 0; i < 25; i++) {
    const auto logits = reference_logits(*g, context);
    want.push_back(argmax(logits.data(), c.vocab_size));
    context.push_back(want.back());
  }
  EXPECT_EQ(r.tokens, want);
  EXPECT_EQ(r.finish_reason, FinishReason::Length);
}

TEST(InferForward, ChunkedPrefillEqualsOneShot) {
  const GPTConfig c = tiny_config();
  auto model = InferenceModel::from_gpt(*random_gpt(c, 13));
  ForwardPass pass(model);
  const std::vector<int32_t> tokens = some_tokens(40, c.vocab_size, 5);
  KVCache whole(c, c.block_size), chunked(c, c.block_size);
  ForwardChunk one{&whole, 0, tokens.data(), 40, RowKind::Prefill, true};
  const float* l = pass.run({&one, 1});
  const std::vector<float> expect(l, l + c.vocab_size);
  const int sizes[] = {7, 1, 16, 16};  // 40 tokens in four chunks, one of a single token
  int pos = 0;
  const float* got = nullptr;
  for (int n : sizes) {
    ForwardChunk ch{&chunked, pos, tokens.data() + pos, n, RowKind::Prefill, pos + n == 40};
    got = pass.run({&ch, 1});
    pos += n;
  }
  EXPECT_LE(max_abs_diff(got, expect.data(), c.vocab_size), 1e-5);
  const int hs = c.head_size();
  for (int layer = 0; layer < c.n_layer; layer++)
    for (int h = 0; h < c.n_head; h++) {
      EXPECT_LE(max_abs_diff(chunked.keys(layer, h), whole.keys(layer, h), 40 * hs), 1e-5);
      EXPECT_LE(max_abs_diff(chunked.values(layer, h), whole.values(layer, h), 40 * hs), 1e-5);
    }
}


// Runs each prompt through a scheduler and returns the tokens of each, by submission order.
std::vector<std::vector<int32_t>> run_all(std::shared_ptr<const InferenceModel> model,
                                          const std::vector<std::vector<int32_t>>& prompts,
                                          const std::vector<GenerationParams>& params, SchedulerOptions options) {
  Scheduler s(std::move(model), options);
  for (size_t i = 0; i < prompts.size(); i++) EXPECT_EQ(s.submit(prompts[i], params[i]), i);
  s.run();
  std::vector<std::vector<int32_t>> out(prompts.size());
  for (auto& seq : s.take_finished()) out[seq->id()] = seq->generated();
  EXPECT_EQ(s.running(), 0);
  EXPECT_EQ(s.waiting(), 0);
  return out;
}

TEST(InferBatch, BatchedEqualsOneByOneAtAnyThreadCount) {
  const GPTConfig c = tiny_config();
  auto model = InferenceModel::from_gpt(*random_gpt(c, 14));
  std::vector<std::vector<int32_t>> prompts;
  std::vector<GenerationParams> params;
  for (int i = 0; i < 6; i++) {
    prompts.push_back(some_tokens(1 + 5 * i, c.vocab_size, 100 + i));  // 1 .. 26 tokens
    GenerationParams p;
    p.sampler.temperature = 0.9f;
    p.sampler.top_k = 20;
    p.sampler.repeat_penalty = 1.1f;
    p.sampler.seed = 1000 + i;
    p.max_tokens = 4 + 3 * i;  // they finish at different steps
    params.push_back(p);
  }
  const int saved = omp_get_max_threads();
  for (KvType kv : {KvType::F32, KvType::F16}) {
    std::vector<std::vector<int32_t>> alone;
    for (size_t i = 0; i < prompts.size(); i++)
      alone.push_back(run_all(model, {prompts[i]}, {params[i]}, {1, 512, 0, kv})[0]);
    for (int threads : {1, 2, 3}) {
      omp_set_num_threads(threads);
      // 3 slots for 6 requests (freed slots take waiting ones) and a small prefill budget, so
      // prompts are split into chunks and mixed with other sequences' decode rows.
      const auto batched = run_all(model, prompts, params, {3, 7, 0, kv});
      for (size_t i = 0; i < prompts.size(); i++) {
        EXPECT_EQ(batched[i], alone[i]) << "request " << i << " threads " << threads << " kv " << kv_type_name(kv);
        EXPECT_EQ((int)batched[i].size(), params[i].max_tokens);
      }
    }
  }
  omp_set_num_threads(saved);
}

// An fp16 cache: half the bytes, chunked prefill equal to one shot (both read the same
// rounded keys and values), and typed access that refuses the other element type.
TEST(InferForward, F16CacheChunkedPrefillAndTypedAccess) {
  const GPTConfig c = tiny_config();
  EXPECT_EQ(kv_cache_bytes(c, 32, KvType::F16) * 2, kv_cache_bytes(c, 32, KvType::F32));
  auto model = InferenceModel::from_gpt(*random_gpt(c, 13));
  ForwardPass pass(model);
  const std::vector<int32_t> tokens = some_tokens(40, c.vocab_size, 5);
  KVCache whole(c, c.block_size, KvType::F16), chunked(c, c.block_size, KvType::F16);
  EXPECT_EQ(whole.bytes(), kv_cache_bytes(c, c.block_size, KvType::F16));
  ForwardChunk one{&whole, 0, tokens.data(), 40, RowKind::Prefill, true};
  const float* l = pass.run({&one, 1});
  const std::vector<float> expect(l, l + c.vocab_size);
  int pos = 0;
  const float* got = nullptr;
  for (int n : {7, 1, 16, 16}) {
    ForwardChunk ch{&chunked, pos, tokens.data() + pos, n, RowKind::Prefill, pos + n == 40};
    got = pass.run({&ch, 1});
    pos += n;
  }
  EXPECT_LE(max_abs_diff(got, expect.data(), c.vocab_size), 1e-5);
  EXPECT_THROW(whole.keys(0, 0), InvalidArgument);
  KVCache f32(c, c.block_size);
  EXPECT_THROW(f32.values_f16(0, 0), InvalidArgument);
  EXPECT_THROW(f32.copy_from(whole), InvalidArgument);
  EXPECT_EQ(parse_kv_type("f16"), KvType::F16);
  EXPECT_THROW(parse_kv_type("q8"), InvalidArgument);
}

TEST(InferBatch, CacheIsAllocatedPerSlotAndReused) {
  const GPTConfig c = tiny_config();
  Scheduler s(InferenceModel::from_gpt(*random_gpt(c, 15)), {2, 64, 32});
  for (int i = 0; i < 5; i++) s.submit(some_tokens(3, c.vocab_size, i), greedy(3));
  s.run();
  EXPECT_EQ(s.take_finished().size(), 5u);
  EXPECT_EQ(s.cache_bytes(), 2 * kv_cache_bytes(c, 32));
  EXPECT_EQ(kv_cache_bytes(c, 32), (size_t)c.n_layer * 2 * 32 * c.n_embd * sizeof(float));
}

TEST(InferContext, StopPolicyEndsWithLength) {
  const GPTConfig c = tiny_config(true, 61, 16);
  auto model = InferenceModel::from_gpt(*random_gpt(c, 16));
  const GenerationResult r = generate(model, some_tokens(10, c.vocab_size, 6), greedy(100));
  EXPECT_EQ(r.finish_reason, FinishReason::Length);
  EXPECT_EQ(r.tokens.size(), 7u);  // 6 fill positions 10..15, the 7th comes from position 15's logits
  EXPECT_EQ(r.slides, 0);
}

TEST(InferContext, SlideKeepsTheLastHalfAndMatchesRecomputation) {
  const GPTConfig c = tiny_config(true, 61, 16);
  auto g = random_gpt(c, 17);
  GenerationParams p = greedy(40);
  p.overflow = OverflowPolicy::Slide;
  const std::vector<int32_t> prompt = some_tokens(10, c.vocab_size, 7);
  const GenerationResult r = generate(InferenceModel::from_gpt(*g), prompt, p);
  // The documented policy, by full recomputation: when the window outgrows the context,
  // keep its newest half.
  std::vector<int32_t> window = prompt, want;
  int slides = 0;
  while ((int)want.size() < 40) {
    const auto logits = reference_logits(*g, window);
    want.push_back(argmax(logits.data(), c.vocab_size));
    window.push_back(want.back());
    if ((int)window.size() > c.block_size) {
      window.erase(window.begin(), window.end() - c.block_size / 2);
      slides++;
    }
  }
  EXPECT_EQ(r.tokens, want);
  EXPECT_EQ(r.finish_reason, FinishReason::Length);
  EXPECT_EQ(r.slides, slides);
  EXPECT_GE(r.slides, 2);
}

TEST(InferContext, LongPromptIsCutUnderSlideOnly) {
  const GPTConfig c = tiny_config(true, 61, 16);
  auto g = random_gpt(c, 18);
  auto model = InferenceModel::from_gpt(*g);
  const std::vector<int32_t> prompt = some_tokens(30, c.vocab_size, 8);
  EXPECT_THROW(generate(model, prompt, greedy(3)), InvalidArgument);
  GenerationParams p = greedy(1);
  p.overflow = OverflowPolicy::Slide;
  const GenerationResult r = generate(model, prompt, p);
  const std::vector<int32_t> kept(prompt.end() - 8, prompt.end());
  const auto logits = reference_logits(*g, kept);
  ASSERT_EQ(r.tokens.size(), 1u);
  EXPECT_EQ(r.tokens[0], argmax(logits.data(), c.vocab_size));
  EXPECT_EQ(r.timings.prompt_tokens, 8);
}

// A model directory like the CLI's: weights, config.json and a byte tokenizer.
std::string save_model_dir(const GPT& g, const std::string& name) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("nexus_test_infer_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  save_model_weights(g, (dir / kModelFile).string());
  write_file_atomic((dir / kConfigFile).string(), nlohmann::json{{"model", to_json(g.config())}}.dump());
  save_tokenizer(ByteTokenizer(), (dir / kTokenizerFile).string());
  return dir.string();
}

TEST(InferText, LoadedModelStreamsTextAndHonoursStopAndEos) {
  const GPTConfig c = tiny_config(true, 256, 64);
  auto g = random_gpt(c, 19);
  const std::string dir = save_model_dir(*g, "text");
  auto model = InferenceModel::load(dir);
  ASSERT_NE(model->tokenizer(), nullptr);
  EXPECT_TRUE(model->mapped());
  // Every parameter once, plus the repacked copy of the tied head (rows in groups of 16).
  const size_t head_rows = (c.vocab_size + 15) / 16 * 16;
  EXPECT_EQ(model->weight_bytes(), (g->num_params() + head_rows * c.n_embd) * sizeof(float));
  const std::vector<int32_t> prompt = model->tokenizer()->encode("Hello");
  std::string streamed;
  const GenerationResult r =
      generate(model, prompt, greedy(20), [&](int32_t, std::string_view text) { streamed += text; });
  // Same tokens as the in-memory model and as the weights read without mmap, and the
  // streamed text is the decoded tokens.
  EXPECT_EQ(r.tokens, generate(InferenceModel::from_gpt(*g), prompt, greedy(20)).tokens);
  auto copied = InferenceModel::load(dir, {.mmap = false});
  EXPECT_FALSE(copied->mapped());
  EXPECT_EQ(copied->weight_bytes(), model->weight_bytes());
  EXPECT_EQ(r.tokens, generate(copied, prompt, greedy(20)).tokens);
  EXPECT_EQ(streamed, r.text);
  EXPECT_EQ(r.text, model->tokenizer()->decode(r.tokens));

  // A stop string spanning tokens 5..7: the text ends just before it, nothing after it.
  const std::string stop = model->tokenizer()->decode({r.tokens[5], r.tokens[6], r.tokens[7]});
  GenerationParams p = greedy(20);
  p.stop = {stop};
  const GenerationResult s = generate(model, prompt, p);
  EXPECT_EQ(s.finish_reason, FinishReason::Stop);
  EXPECT_EQ(s.stop, stop);
  EXPECT_EQ(s.text, r.text.substr(0, r.text.find(stop)));

  // EOS: the sequence stops at the first occurrence; the EOS token is not in the text.
  GenerationParams e = greedy(20);
  e.eos_token = r.tokens[4];
  const size_t first = std::find(r.tokens.begin(), r.tokens.end(), r.tokens[4]) - r.tokens.begin();
  const GenerationResult t = generate(model, prompt, e);
  EXPECT_EQ(t.finish_reason, FinishReason::Stop);
  EXPECT_EQ(t.tokens.size(), first + 1);
  EXPECT_EQ(t.text, model->tokenizer()->decode(std::vector<int32_t>(r.tokens.begin(), r.tokens.begin() + first)));
  std::filesystem::remove_all(dir);
}

TEST(InferErrors, BadInputIsRejected) {
  const GPTConfig c = tiny_config();
  auto model = InferenceModel::from_gpt(*random_gpt(c, 20));
  EXPECT_THROW(generate(model, {}, greedy(3)), InvalidArgument);              // empty prompt
  EXPECT_THROW(generate(model, {1, 61}, greedy(3)), InvalidArgument);         // token outside vocab
  EXPECT_THROW(generate(model, {1, -1}, greedy(3)), InvalidArgument);
  EXPECT_THROW(generate(model, some_tokens(49, 61, 1), greedy(3)), InvalidArgument);  // > context
  GenerationParams p = greedy(3);
  p.max_tokens = -1;
  EXPECT_THROW(generate(model, {1}, p), InvalidArgument);
  p = greedy(3);
  p.stop = {"x"};  // no tokenizer
  EXPECT_THROW(generate(model, {1}, p), InvalidArgument);
  p = greedy(3);
  p.eos_token = 61;
  EXPECT_THROW(generate(model, {1}, p), InvalidArgument);
  p = greedy(3);
  p.sampler.temperature = -1;
  EXPECT_THROW(generate(model, {1}, p), InvalidArgument);
  p = greedy(3);
  p.sampler.logit_bias[99] = 1.0f;
  EXPECT_THROW(generate(model, {1}, p), InvalidArgument);
  EXPECT_THROW(Scheduler(model, {0, 16, 0}), InvalidArgument);
  EXPECT_THROW(Scheduler(model, {1, 0, 0}), InvalidArgument);
  EXPECT_THROW(Scheduler(model, {1, 16, 49}), InvalidArgument);
  EXPECT_THROW(KVCache(c, 0), InvalidArgument);
  // Forward chunks past the cache or the context.
  ForwardPass pass(model);
  KVCache cache(c, 8);
  std::vector<int32_t> t = some_tokens(9, 61, 2);
  ForwardChunk ch{&cache, 0, t.data(), 9, RowKind::Prefill, true};
  EXPECT_THROW(pass.run({&ch, 1}), InvalidArgument);
  ch = {&cache, 0, t.data(), 2, RowKind::Decode, true};
  EXPECT_THROW(pass.run({&ch, 1}), InvalidArgument);
  EXPECT_THROW(pass.run({}), InvalidArgument);
  EXPECT_THROW(InferenceModel::load("/nonexistent/nexus/model"), IoError);
  // All tokens banned: the sequence ends with an error, the others are unaffected.
  Scheduler s(model, {2, 16, 0});
  GenerationParams banned = greedy(3);
  for (int id = 0; id < 61; id++) banned.sampler.logit_bias[id] = -INFINITY;
  s.submit({1, 2}, banned);
  s.submit({1, 2}, greedy(3));
  s.run();
  auto done = s.take_finished();
  ASSERT_EQ(done.size(), 2u);
  for (auto& seq : done) {
    if (seq->id() == 0) {
      EXPECT_EQ(seq->finish_reason(), FinishReason::Error);
    } else {
      EXPECT_EQ(seq->generated().size(), 3u);
    }
  }
}

TEST(InferBatch, CancelAndZeroMaxTokens) {
  const GPTConfig c = tiny_config();
  Scheduler s(InferenceModel::from_gpt(*random_gpt(c, 21)), {1, 64, 0});
  const uint64_t a = s.submit({1, 2, 3}, greedy(10));
  const uint64_t b = s.submit({4, 5}, greedy(0));
  const uint64_t d = s.submit({6}, greedy(5));
  EXPECT_TRUE(s.step());
  EXPECT_TRUE(s.cancel(a));
  EXPECT_FALSE(s.cancel(a));
  s.run();
  auto done = s.take_finished();
  ASSERT_EQ(done.size(), 3u);
  for (auto& seq : done) {
    if (seq->id() == a) {
      EXPECT_EQ(seq->finish_reason(), FinishReason::Cancelled);
    } else if (seq->id() == b) {
      EXPECT_TRUE(seq->generated().empty());
      EXPECT_EQ(seq->finish_reason(), FinishReason::Length);
    } else {
      EXPECT_EQ(seq->id(), d);
      EXPECT_EQ(seq->generated().size(), 5u);
    }
  }
}

TEST(InferPerplexity, SlidingWindowsMatchTheTrainingModel) {
  const GPTConfig c = tiny_config(true, 61, 16);
  auto g = random_gpt(c, 22);
  auto model = InferenceModel::from_gpt(*g);
  const std::vector<int32_t> tokens = some_tokens(40, c.vocab_size, 9);
  // One window, all targets: the training model's mean cross-entropy.
  const std::vector<int32_t> head(tokens.begin(), tokens.begin() + 16);
  const float loss = g->forward(head.data(), head.data() + 1, 1, 15);
  PerplexityResult one = perplexity(model, head, 16, 16);
  EXPECT_EQ(one.tokens, 15);
  EXPECT_NEAR(one.nll / one.tokens, loss, 1e-5);
  EXPECT_NEAR(one.perplexity(), std::exp(loss), 1e-3);
  // Windows of 16 every 6 tokens: each target scored once, by the window the documented
  // rule assigns it to, with that window's history.
  double want = 0;
  long count = 0, prev_end = 1;
  for (long begin = 0;; begin += 6) {
    const long end = std::min<long>(begin + 16, 40);
    for (long j = std::max(prev_end, begin + 1); j < end; j++, count++) {
      const auto logits = reference_logits(*g, std::vector<int32_t>(tokens.begin() + begin, tokens.begin() + j));
      double mx = *std::max_element(logits.begin(), logits.end()), sum = 0;
      for (float l : logits) sum += std::exp(l - mx);
      want += mx + std::log(sum) - logits[tokens[j]];
    }
    prev_end = end;
    if (end == 40) break;
  }
  const PerplexityResult r = perplexity(model, tokens, 16, 6, std::vector<int>(c.vocab_size, 2));
  EXPECT_EQ(r.tokens, 39);
  EXPECT_EQ(count, 39);
  EXPECT_NEAR(r.nll, want, 1e-3);
  EXPECT_EQ(r.bytes, 78);
  EXPECT_NEAR(r.bits_per_byte(), want / std::log(2.0) / 78, 1e-5);
  EXPECT_THROW(perplexity(model, {1}, 16, 8), InvalidArgument);
  EXPECT_THROW(perplexity(model, tokens, 16, 17), InvalidArgument);
  EXPECT_THROW(perplexity(model, tokens, 17, 8), InvalidArgument);
}

}  // namespace
}  // namespace nexus
