// nexus bench: matmul throughput and training step time (the library routines live in bench/).
#include <memory>

#include "cli/commands.h"
#include "cli/config_flags.h"
#include "matmul_bench.h"
#include "train_bench.h"

namespace nexus::cli {

namespace {
struct BenchCommand {
  bench::MatmulBenchOptions matmul;
  bench::TrainBenchOptions train;
  ConfigFlags<GPTConfig> model_flags;
  int threads = 0;
};
}  // namespace

void register_bench(CLI::App& app) {
  auto cmd = std::make_shared<BenchCommand>();
  CLI::App* bench = app.add_subcommand("bench", "Measure kernel and training speed");
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
}

}  // namespace nexus::cli
