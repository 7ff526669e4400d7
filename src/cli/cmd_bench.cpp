// nexus bench: matmul throughput, training step time and generation speed (the library routines
// live in bench/).
#include <memory>

#include "cli/commands.h"
#include "cli/config_flags.h"
#include "generate_bench.h"
#include "matmul_bench.h"
#include "tokenizer_bench.h"
#include "train_bench.h"

namespace nexus::cli {

namespace {
struct BenchCommand {
  bench::MatmulBenchOptions matmul;
  bench::TrainBenchOptions train;
  bench::GenerateBenchOptions generate;
  bench::TokenizerBenchOptions tokenizer;
  ConfigFlags<GPTConfig> model_flags;
  int threads = 0;
};
}  // namespace

void register_bench(CLI::App& app) {
  auto cmd = std::make_shared<BenchCommand>();
  CLI::App* bench = app.add_subcommand("bench", "Measure kernel, training and generation speed");
  bench->require_subcommand(1);

  CLI::App* mm = bench->add_subcommand("matmul", "GEMM GFLOP/s on the training shapes vs the FMA peak (and OpenBLAS)");
  add_threads_option(*mm, cmd->threads);
  mm->add_option("--repeats", cmd->matmul.repetitions, "timed samples per shape (median reported)")
      ->capture_default_str();
  mm->add_option("--shape", cmd->matmul.shapes, "MxNxK[:nt|nn|tn], repeatable (default: training shapes)");
  mm->add_flag("--json", cmd->matmul.json_only, "print only the JSON line");
  mm->callback([cmd] {
    apply_threads(cmd->threads);
    cmd->matmul.threads = cmd->threads;
    bench::run_matmul_bench(cmd->matmul);
  });

  CLI::App* tr = bench->add_subcommand("train", "Median ms per training step (forward, backward, clip, AdamW)");
  add_threads_option(*tr, cmd->threads);
  GPTConfig defaults;
  cmd->model_flags.add(*tr, defaults, "Model");
  tr->add_option("--batch-size", cmd->train.batch_size, "sequences per step")->capture_default_str();
  tr->add_option("--iters", cmd->train.iters, "timed steps")->capture_default_str();
  tr->add_option("--warmup", cmd->train.warmup, "untimed steps first")->capture_default_str();
  tr->add_flag("--json", cmd->train.json_only, "print only the JSON line");
  tr->callback([cmd] {
    apply_threads(cmd->threads);
    cmd->model_flags.apply(cmd->train.model);
    cmd->train.threads = cmd->threads;
    bench::run_train_bench(cmd->train);
  });

  CLI::App* tk = bench->add_subcommand("tokenizer", "BPE encode MB/s (GPT-2 vocab), thread scaling, training time, bytes/token");
  tk->add_option("--threads", cmd->tokenizer.threads, "most threads in the scaling table (default: all cores)");
  tk->add_option("--gpt2", cmd->tokenizer.gpt2_dir, "directory with encoder.json + vocab.bpe (default: $NEXUS_DATA/gpt2)");
  tk->add_option("--text", cmd->tokenizer.text, "English text to encode and train on (default: $NEXUS_DATA, a file or a folder "
                  "with tinyshakespeare.txt; then ~/.cache/nexus/tinyshakespeare.txt)");
  tk->add_option("--repeat", cmd->tokenizer.repeat, "encode the text repeated this many times")->capture_default_str();
  tk->add_option("--runs", cmd->tokenizer.runs, "timed runs per measurement (median)")->capture_default_str();
  tk->add_option("--corpus-mb", cmd->tokenizer.corpus_mb, "larger corpus for the 8k/32k runs; 0 skips them")
      ->capture_default_str();
  tk->add_flag("--json", cmd->tokenizer.json_only, "print only the JSON line");
  tk->callback([cmd] { bench::run_tokenizer_bench(cmd->tokenizer); });

  CLI::App* gen = bench->add_subcommand("generate", "Prefill and decode tok/s of a model at several batch sizes");
  gen->add_option("--model", cmd->generate.model, "model directory (e.g. from nexus init) or .gguf file")
      ->required();
  gen->add_option("--batches", cmd->generate.batches, "batch sizes to decode at")->capture_default_str()->delimiter(',');
  gen->add_option("--prompt-tokens", cmd->generate.prompt_tokens, "prompt length")->capture_default_str();
  gen->add_option("--gen-tokens", cmd->generate.gen_tokens, "tokens decoded per sequence")->capture_default_str();
  gen->add_option("--decode-context", cmd->generate.decode_context,
                  "tokens of context before the timed decode (0 = empty, as llama-bench's tg)")
      ->capture_default_str();
  gen->add_option("--recompute-context", cmd->generate.recompute_context, "context of the no-cache decode")
      ->capture_default_str();
  gen->add_option("--recompute-tokens", cmd->generate.recompute_tokens, "tokens timed without a cache (median)")
      ->capture_default_str();
  gen->add_option("--max-prefill", cmd->generate.max_prefill,
                  "measure batch prefill only when batch * prompt tokens <= this")
      ->capture_default_str();
  gen->add_option("--repeats", cmd->generate.repetitions, "timed runs of the single-prompt prefill and of each decode (medians)")->capture_default_str();
  gen->add_flag("--json", cmd->generate.json_only, "print only the JSON line");
  gen->add_flag("--mmap,!--no-mmap", cmd->generate.mmap, "map the weights (default) or read them into huge pages");
  gen->add_option("--weights", cmd->generate.weights, "weight precisions to measure (f32, bf16, q8)")
      ->capture_default_str()
      ->delimiter(',')
      ->check(CLI::IsMember({"f32", "bf16", "q8"}));
  gen->add_option("--kv-type", cmd->generate.kv_type, "KV cache element type: f32, or f16 (half the cache memory)")
      ->capture_default_str()
      ->check(CLI::IsMember({"f32", "f16"}));
  add_threads_option(*gen, cmd->threads);
  gen->callback([cmd] {
    apply_threads(cmd->threads);
    cmd->generate.threads = cmd->threads;
    bench::run_generate_bench(cmd->generate);
  });
}

}  // namespace nexus::cli
