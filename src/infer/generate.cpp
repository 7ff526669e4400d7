#include "infer/generate.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "core/rng.h"

namespace nexus {

void validate(const SampleOptions& o) {
  if (o.max_tokens < 0) throw InvalidArgument("max tokens must not be negative");
  if (!(o.temperature >= 0.0f) || !std::isfinite(o.temperature))
    throw InvalidArgument("temperature must be >= 0 (0 = greedy), got " + std::to_string(o.temperature));
  if (o.top_k < 0) throw InvalidArgument("top-k must be >= 0 (0 = all tokens)");
}

int32_t sample_token(const float* logits, int V, const SampleOptions& o, uint64_t& rng_state) {
  if (o.temperature == 0.0f) return (int32_t)(std::max_element(logits, logits + V) - logits);
  std::vector<int32_t> ids(V);
  std::iota(ids.begin(), ids.end(), 0);
  int k = (o.top_k > 0 && o.top_k < V) ? o.top_k : V;
  // Highest logits first; ties broken by the lower id so results never depend on the sort.
  auto higher = [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), higher);
  std::vector<double> probs(k);
  const double mx = logits[ids[0]];
  double sum = 0;
  for (int i = 0; i < k; i++) sum += probs[i] = std::exp((logits[ids[i]] - mx) / o.temperature);
  Rng rng(rng_state);
  double r = (double)rng.uniform() * sum;
  rng_state = rng.state;
  for (int i = 0; i < k; i++) {
    r -= probs[i];
    if (r < 0) return ids[i];
  }
  return ids[k - 1];
}

std::vector<int32_t> generate(GPT& model, const std::vector<int32_t>& prompt, const SampleOptions& options,
                              const std::function<void(int32_t)>& on_token) {
  validate(options);
  if (prompt.empty()) throw InvalidArgument("the prompt is empty");
  const int block = model.config().block_size, V = model.config().vocab_size;
  std::vector<int32_t> context = prompt, out;
  uint64_t rng_state = splitmix64(options.seed);
  ForwardOptions fwd;
  fwd.last_position_only = true;
  for (int i = 0; i < options.max_tokens; i++) {
    const int T = std::min<int>((int)context.size(), block);
    model.forward(context.data() + context.size() - T, nullptr, 1, T, fwd);
    const int32_t next = sample_token(model.logits(), V, options, rng_state);
    context.push_back(next);
    out.push_back(next);
    if (on_token) on_token(next);
  }
  return out;
}

}  // namespace nexus
