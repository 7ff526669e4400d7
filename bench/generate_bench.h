#pragma once
// `nexus bench generate`: inference speed of a model directory on the KV-cache engine.
//
//   prefill   tok/s of one forward pass over a prompt_tokens-token prompt (llama.cpp's pp512),
//             and at each batch size B the tok/s of prefilling B such prompts the way the
//             scheduler does (prefill_tokens per step), when B * prompt_tokens <= max_prefill
//   decode    tok/s in total and per sequence of B sequences decoding gen_tokens tokens each
//             after decode_context tokens of context (0, the default, is llama-bench's tg128:
//             an empty context), one batched forward pass plus sampling per step; the B
//             caches are copies of one prefilled prompt, so the bench does not pay B prefills
//   recompute tok/s of decoding without a cache at recompute_context tokens of context (each
//             token re-runs the whole context) next to cached decode at the same context
// The single-prompt prefill and each decode run are repeated (repetitions) and their medians
// reported, as llama-bench repeats each test: these machines are noisy.
// Each is measured for every weight precision asked for (f32, bf16, q8: the model's Linear
// weights converted at load time). Then a table per precision and one JSON line.
#include <string>
#include <vector>

namespace nexus::bench {

struct GenerateBenchOptions {
  std::string model;                  // model directory
  std::vector<int> batches{1, 4, 16, 64};
  int prompt_tokens = 512;            // capped so prompt + gen fits the model's context
  int gen_tokens = 128;
  int decode_context = 0;             // tokens already in each cache when decode starts
  int recompute_context = 512;        // capped to the model's context
  int recompute_tokens = 4;           // tokens timed without a cache
  long max_prefill = 8192;            // largest B * prompt_tokens prefilled per batch size
  int repetitions = 3;                // timed single-prompt prefills and decode runs (medians)
  int threads = 0;
  bool mmap = true;                   // weights mapped (true) or read into huge pages
  std::vector<std::string> weights{"f32", "bf16", "q8"};  // precisions measured, in order
  std::string kv_type = "f32";        // KV cache element type (f32 or f16)
  bool json_only = false;
};

/// Runs the benchmark, prints the table (unless json_only) and one JSON line
/// {"bench":"generate",...}. Returns 0. Throws for a bad model or option.
int run_generate_bench(const GenerateBenchOptions& options);

}  // namespace nexus::bench
