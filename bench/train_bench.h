#pragma once
// `nexus bench train`: time of one full training step (zero_grad, forward, backward,
// gradient clipping, AdamW) on random tokens, for any model shape.
#include "model/config.h"

namespace nexus::bench {

struct TrainBenchOptions {
  GPTConfig model;
  int batch_size = 12;
  int iters = 20;    // timed steps; the median is reported
  int warmup = 2;    // untimed steps first
  int threads = 0;
  bool json_only = false;
};

/// Prints a table (unless json_only) and one JSON line
/// {"bench":"train","config":{...},"ms_per_iter_median":...,"max_rss_mb":...,...}. Returns 0.
int run_train_bench(const TrainBenchOptions& options);

}  // namespace nexus::bench
