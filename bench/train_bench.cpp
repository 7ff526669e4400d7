#include "train_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/kernels/matmul.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "model/gpt.h"
#include "train/optimizer.h"
#include "train/trainer.h"

namespace nexus::bench {

namespace {
// Matmul FLOPs of one step (forward + backward = 3x forward), attention included, as a
// rough throughput figure: 6 * params_in_matmuls * tokens + attention's 12 * L * T * C per token.
double step_flops(const GPTConfig& c, int B) {
  const double C = c.n_embd, L = c.n_layer, V = c.vocab_size, T = c.block_size;
  const double matmul_params = L * 12.0 * C * C + V * C;
  const double tokens = (double)B * T;
  return 6.0 * matmul_params * tokens + 6.0 * L * tokens * T * C;  // causal attention ~ half of 12
}
}  // namespace

int run_train_bench(const TrainBenchOptions& o) {
  o.model.validate();
  require(o.batch_size > 0 && o.iters > 0 && o.warmup >= 0, "batch size and iters must be positive");
  const GPTConfig& c = o.model;
  GPT model(c);
  model.init_weights(1337);
  AdamW opt(model.layout());
  const int B = o.batch_size, T = c.block_size;
  std::vector<int32_t> x((size_t)B * T), y((size_t)B * T);
  Rng rng(42);
  std::vector<double> ms;
  for (int it = 0; it < o.warmup + o.iters; it++) {
    for (auto& t : x) t = (int32_t)rng.below(c.vocab_size);
    for (auto& t : y) t = (int32_t)rng.below(c.vocab_size);
    const auto t0 = std::chrono::steady_clock::now();
    model.zero_grad();
    ForwardOptions fo;
    fo.training = true;
    fo.dropout_seed = it;
    const float loss = model.forward(x.data(), y.data(), B, T, fo);
    model.backward();
    opt.step(model.params(), model.grads(), 1e-3f, 0.9f, 0.95f, 0.1f, 1.0f, it + 1);
    const double dt = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (it >= o.warmup) ms.push_back(dt);
    if (!o.json_only) std::fprintf(stderr, "\rstep %d/%d  %.1f ms  loss %.4f   ", it + 1, o.warmup + o.iters, dt, loss);
  }
  if (!o.json_only) std::fprintf(stderr, "\n");
  std::vector<double> sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted[sorted.size() / 2], best = sorted.front();
  const double gflops = step_flops(c, B) / (median / 1000.0) / 1e9;
  const double rss = max_rss_mb();
  if (!o.json_only) {
    std::printf("%-28s %12s %10s %10s %10s %12s\n", "config", "median ms", "min ms", "tok/s", "GFLOP/s", "max RSS MB");
    char name[64];
    std::snprintf(name, sizeof name, "L%d H%d C%d T%d B%d V%d", c.n_layer, c.n_head, c.n_embd, T, B, c.vocab_size);
    std::printf("%-28s %12.1f %10.1f %10.0f %10.1f %12.0f\n", name, median, best, B * T / (median / 1000.0), gflops,
                rss);
  }
  nlohmann::json j = {{"bench", "train"},
                      {"config", to_json(c)},
                      {"batch_size", B},
                      {"threads", num_threads()},
                      {"isa", kernels::isa_name(kernels::active_isa())},
                      {"iters", o.iters},
                      {"ms_per_iter_median", median},
                      {"ms_per_iter_min", best},
                      {"tok_per_s", B * T / (median / 1000.0)},
                      {"gflops", gflops},
                      {"max_rss_mb", rss}};
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

}  // namespace nexus::bench
