#include "generate_bench.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/cpu.h"
#include "core/error.h"
#include "core/kernels/matmul.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "infer/scheduler.h"

namespace nexus::bench {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Peak resident memory (VmHWM) since the last reset_peak_rss(), in MB.
double peak_rss_mb() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  double kib = 0;
  while (std::fgets(line, sizeof line, f))
    if (std::strncmp(line, "VmHWM:", 6) == 0) kib = std::atof(line + 6);
  std::fclose(f);
  return kib * 1024 / 1e6;
}

// Resets the peak to the current RSS (Linux >= 4.0), so each precision reports its own.
void reset_peak_rss() {
  if (FILE* f = std::fopen("/proc/self/clear_refs", "w")) {
    std::fputs("5", f);
    std::fclose(f);
  }
}

std::vector<int32_t> random_tokens(int n, int vocab, uint64_t seed) {
  Rng rng(seed);
  std::vector<int32_t> t(n);
  for (auto& x : t) x = (int32_t)rng.below(vocab);
  return t;
}

// Seconds of one forward pass over `tokens` into `cache` from position 0 (last logits only).
double time_prefill(ForwardPass& pass, KVCache& cache, const std::vector<int32_t>& tokens) {
  ForwardChunk ch{&cache, 0, tokens.data(), (int)tokens.size(), RowKind::Prefill, true};
  const auto t0 = Clock::now();
  pass.run({&ch, 1});
  return seconds_since(t0);
}

// Decode result of one batch size.
struct DecodeRun {
  int batch = 0;
  double tok_per_s = 0, prefill_tok_per_s = 0;
  size_t cache_bytes = 0;
};

// B sequences decode `steps` tokens after position `pos`, each step one batched forward and
// a parallel draw with the default sampler (as the scheduler does). Caches are copies of
// `filled`. The first step is a warm-up; returns the total tok/s of the others.
double time_decode(ForwardPass& pass, const KVCache& filled, int pos, int B, int steps, size_t* cache_bytes) {
  const InferenceModel& m = pass.model();
  const int V = m.config().vocab_size;
  std::vector<std::unique_ptr<KVCache>> caches;
  for (int b = 0; b < B; b++) {
    caches.push_back(std::make_unique<KVCache>(m.config(), filled.capacity(), filled.type()));
    caches.back()->copy_from(filled);
  }
  *cache_bytes = (size_t)B * filled.bytes();
  SamplerParams sp;
  const SamplerChain chain = SamplerChain::from_params(sp, V);
  std::vector<SamplerState> states;
  for (int b = 0; b < B; b++) {
    sp.seed = 1000 + b;
    states.emplace_back(sp, V, filled.capacity());
  }
  std::vector<Candidates> scratch(omp_get_max_threads());
  std::vector<int32_t> last(B, 0);
  std::vector<ForwardChunk> chunks(B);
  auto t0 = Clock::now();
  for (int s = 0; s < steps; s++) {
    if (s == 1) t0 = Clock::now();
    for (int b = 0; b < B; b++) chunks[b] = {caches[b].get(), pos + s, &last[b], 1, RowKind::Decode, true};
    const float* logits = pass.run(chunks);
#pragma omp parallel for schedule(dynamic, 1) if (B > 1)
    for (int b = 0; b < B; b++)
      last[b] = chain.sample({logits + (size_t)b * V, (size_t)V}, states[b], scratch[omp_get_thread_num()]);
    for (int b = 0; b < B; b++) chain.accept(last[b], states[b]);
  }
  return (double)B * (steps - 1) / seconds_since(t0);
}

// Prefill tok/s of B prompts of P tokens through a scheduler (prefill budget P per step);
// adds the scheduler's cache and workspace bytes to *held.
double time_batch_prefill(std::shared_ptr<const InferenceModel> model, const std::vector<int32_t>& prompt, int B,
                          int context, KvType kv, size_t* held) {
  Scheduler s(std::move(model), {B, (int)prompt.size(), context, kv});
  GenerationParams p;
  p.max_tokens = 1;
  for (int b = 0; b < B; b++) s.submit(prompt, p);
  const auto t0 = Clock::now();
  s.run();
  const double tok_s = (double)B * prompt.size() / seconds_since(t0);
  *held += s.cache_bytes() + s.forward().workspace_bytes();
  return tok_s;
}

// Everything the benchmark measured for one weight precision.
struct Results {
  int P = 0, G = 0, D = 0, R = 0;  // prompt, generated, decode-context and no-cache context tokens
  double prefill_tok_s = 0, recompute_tok_s = 0, cached_tok_s = 0, rss_mb = 0;
  size_t peak_kv = 0, peak_workspace = 0;  // the most KV cache / activation memory held at once
  std::vector<DecodeRun> runs;
};

void print_table(const InferenceModel& model, const Results& r) {
  const GPTConfig& c = model.config();
  std::printf("model: L%d H%d C%d V%d T%d, weights %s%s; %d threads, %s\n", c.n_layer, c.n_head, c.n_embd,
              c.vocab_size, c.block_size, describe_weight_memory(model).c_str(),
              model.mapped() ? " (mapped)" : "", num_threads(), kernels::isa_name(kernels::active_isa()).c_str());
  std::printf("prefill (pp%d, one pass): %.1f tok/s\n", r.P, r.prefill_tok_s);
  std::printf("decode: %d tokens per sequence after %d tokens of context\n", r.G, r.D);
  std::printf("%6s %16s %16s %16s %12s\n", "batch", "prefill tok/s", "decode tok/s", "per seq tok/s", "KV MB");
  for (const DecodeRun& d : r.runs) {
    char pf[32] = "-";
    if (d.prefill_tok_per_s > 0) std::snprintf(pf, sizeof pf, "%.1f", d.prefill_tok_per_s);
    std::printf("%6d %16s %16.1f %16.2f %12.1f\n", d.batch, pf, d.tok_per_s, d.tok_per_s / d.batch,
                d.cache_bytes / 1e6);
  }
  std::printf("decode at %d tokens of context: no cache %.2f tok/s, KV cache %.2f tok/s (%.1fx)\n", r.R,
              r.recompute_tok_s, r.cached_tok_s, r.cached_tok_s / r.recompute_tok_s);
  const double held = (model.weight_bytes() + r.peak_kv + r.peak_workspace) / 1e6;
  std::printf("peak RSS %.0f MB = %.2f x (weights %.0f MB + KV caches held at once %.0f MB + workspace %.0f MB)\n",
              r.rss_mb, r.rss_mb / held, model.weight_bytes() / 1e6, r.peak_kv / 1e6, r.peak_workspace / 1e6);
}

// The measurements of one precision, as an element of the JSON line's "precisions".
nlohmann::json results_json(const InferenceModel& model, const Results& r) {
  nlohmann::json runs = nlohmann::json::array();
  for (const DecodeRun& d : r.runs)
    runs.push_back({{"batch", d.batch},
                    {"prefill_tok_per_s", d.prefill_tok_per_s > 0 ? nlohmann::json(d.prefill_tok_per_s) : nullptr},
                    {"decode_tok_per_s", d.tok_per_s},
                    {"per_seq_tok_per_s", d.tok_per_s / d.batch},
                    {"kv_cache_mb", d.cache_bytes / 1e6}});
  const nlohmann::json recompute = {{"context", r.R},
                                    {"tok_per_s", r.recompute_tok_s},
                                    {"kv_tok_per_s", r.cached_tok_s},
                                    {"speedup", r.cached_tok_s / r.recompute_tok_s}};
  return {{"weights", to_string(model.weight_type())},
          {"weights_mb", model.weight_bytes() / 1e6},
          {"prefill_tok_per_s", r.prefill_tok_s},
          {"runs", runs},
          {"recompute", recompute},
          {"max_rss_mb", r.rss_mb},
          {"peak_kv_mb", r.peak_kv / 1e6},
          {"peak_workspace_mb", r.peak_workspace / 1e6}};
}

// Runs the three measurements (see generate_bench.h) on one loaded model.
Results measure(const GenerateBenchOptions& o, std::shared_ptr<const InferenceModel> model) {
  const GPTConfig& c = model->config();
  Results r;
  r.G = std::min(std::max(o.gen_tokens, 2), c.block_size / 2);  // >= 2: one warm-up step
  r.P = std::min(o.prompt_tokens, c.block_size - r.G);
  r.R = std::min(o.recompute_context, c.block_size - 8);
  r.D = std::min(o.decode_context, c.block_size - r.G);
  ForwardPass pass(model);
  const KvType kv = parse_kv_type(o.kv_type);
  const std::vector<int32_t> prompt = random_tokens(r.P, c.vocab_size, 42);
  const char* w = to_string(model->weight_type());

  // 1. One prompt, one pass (after one untimed warm-up that also touches the mapped weights).
  KVCache cache(c, r.P, kv);
  time_prefill(pass, cache, prompt);
  std::vector<double> t;
  for (int k = 0; k < o.repetitions; k++) t.push_back(time_prefill(pass, cache, prompt));
  r.prefill_tok_s = r.P / median(t);
  if (!o.json_only) std::fprintf(stderr, "%s: prefill %d tokens: %.1f tok/s\n", w, r.P, r.prefill_tok_s);

  // 2. Decode (and batch prefill) per batch size, every cache a copy of one holding D tokens.
  KVCache decode_cache(c, r.D + r.G, kv);
  if (r.D > 0) time_prefill(pass, decode_cache, random_tokens(r.D, c.vocab_size, 44));
  const size_t base_kv = cache.bytes() + decode_cache.bytes();  // held throughout
  for (int B : o.batches) {
    DecodeRun run;
    run.batch = B;
    std::vector<double> rates;  // tok/s of each repetition: the median is reported
    for (int k = 0; k < o.repetitions; k++) rates.push_back(time_decode(pass, decode_cache, r.D, B, r.G, &run.cache_bytes));
    run.tok_per_s = median(rates);
    r.peak_kv = std::max(r.peak_kv, base_kv + run.cache_bytes);
    if ((long)B * r.P <= o.max_prefill) {
      size_t sched = 0;  // its caches and its own forward workspace
      run.prefill_tok_per_s = time_batch_prefill(model, prompt, B, r.P + r.G, kv, &sched);
      r.peak_kv = std::max(r.peak_kv, base_kv + (size_t)B * kv_cache_bytes(c, r.P + r.G, kv));
      r.peak_workspace = std::max(r.peak_workspace, sched - (size_t)B * kv_cache_bytes(c, r.P + r.G, kv));
    }
    if (!o.json_only) std::fprintf(stderr, "%s: batch %d: decode %.1f tok/s\n", w, B, run.tok_per_s);
    r.runs.push_back(run);
  }

  // 3. No cache: every token re-runs R tokens of context; cached decode at the same context.
  KVCache rcache(c, r.R + 8, kv);
  const std::vector<int32_t> context = random_tokens(r.R, c.vocab_size, 43);
  std::vector<double> rt;
  for (int k = 0; k < o.recompute_tokens; k++) rt.push_back(time_prefill(pass, rcache, context));
  r.recompute_tok_s = 1.0 / median(rt);
  size_t unused = 0;
  r.cached_tok_s = time_decode(pass, rcache, r.R, 1, 8, &unused);  // positions R .. R+7
  r.peak_kv = std::max(r.peak_kv, base_kv + rcache.bytes() + unused);
  r.peak_workspace += pass.workspace_bytes();
  r.rss_mb = peak_rss_mb();  // since this precision's model was loaded
  return r;
}

}  // namespace

int run_generate_bench(const GenerateBenchOptions& o) {
  require(o.gen_tokens >= 1 && o.prompt_tokens >= 1 && o.repetitions >= 1 && o.recompute_tokens >= 1 &&
              o.decode_context >= 0,
          "token counts and repetitions must be positive");
  for (int b : o.batches) require(b >= 1, "batch sizes must be positive");
  require(!o.weights.empty(), "give at least one weight precision");
  std::vector<WeightType> types;
  for (const std::string& w : o.weights) types.push_back(parse_weight_type(w));
  nlohmann::json precisions = nlohmann::json::array();
  nlohmann::json head;
  for (WeightType type : types) {
    reset_peak_rss();
    auto model = InferenceModel::load(o.model, {.mmap = o.mmap, .weights = type});
    const GPTConfig& c = model->config();
    require(c.block_size >= 16, "the model's context is too short for this benchmark (block_size < 16)");
    const Results r = measure(o, model);
    if (!o.json_only) print_table(*model, r);
    precisions.push_back(results_json(*model, r));
    head = {{"bench", "generate"},
            {"config", to_json(c)},
            {"threads", num_threads()},
            {"isa", kernels::isa_name(kernels::active_isa())},
            {"cpu", cpu_description()},
            {"prompt_tokens", r.P},
            {"gen_tokens", r.G},
            {"decode_context", r.D},
            {"repetitions", o.repetitions},
            {"kv_type", o.kv_type}};
  }
  head["precisions"] = precisions;
  std::printf("%s\n", head.dump().c_str());
  return 0;
}

}  // namespace nexus::bench
