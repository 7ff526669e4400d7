#include "infer/perplexity.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"
#include "core/memory.h"
#include "infer/forward.h"

namespace nexus {

double PerplexityResult::perplexity() const { return tokens > 0 ? std::exp(nll / tokens) : NAN; }

double PerplexityResult::bits_per_byte() const { return bytes > 0 ? nll / std::log(2.0) / bytes : NAN; }

namespace {
// -log softmax(row)[target] in double.
double token_nll(const float* row, int V, int32_t target) {
  double mx = row[0];
  for (int v = 1; v < V; v++) mx = std::max(mx, (double)row[v]);
  double sum = 0;
  for (int v = 0; v < V; v++) sum += std::exp((double)row[v] - mx);
  return mx + std::log(sum) - row[target];
}
}  // namespace

PerplexityResult perplexity(std::shared_ptr<const InferenceModel> model, const std::vector<int32_t>& tokens,
                            int context, int stride, const std::vector<int>& token_bytes,
                            const std::function<void(long, long)>& progress) {
  const GPTConfig& c = model->config();
  const long N = (long)tokens.size();
  require(N >= 2, "perplexity needs at least 2 tokens, got " + std::to_string(N));
  if (context == 0) context = c.block_size;
  require(context >= 2 && context <= c.block_size,
          "context " + std::to_string(context) + " must be in [2, block_size=" + std::to_string(c.block_size) + "]");
  if (stride == 0) stride = std::max(1, context / 2);
  require(stride >= 1 && stride <= context,
          "stride " + std::to_string(stride) + " must be in [1, context=" + std::to_string(context) + "]");
  for (int32_t t : tokens)
    require(t >= 0 && t < c.vocab_size, "token " + std::to_string(t) + " is outside the vocabulary [0, " +
                                            std::to_string(c.vocab_size) + ")");
  require(token_bytes.empty() || (int)token_bytes.size() >= c.vocab_size, "token_bytes must cover the vocabulary");
  require_memory((double)kv_cache_bytes(c, context), "the KV cache of " + std::to_string(context) + " positions");
  ForwardPass pass(model);
  KVCache cache(c, context);
  PerplexityResult r;
  const long total = N <= context ? 1 : (N - context + stride - 1) / stride + 1;
  long prev_end = 1;  // targets [1, prev_end) are scored already (token 0 has no history)
  for (long begin = 0;; begin += stride) {
    const long end = std::min(begin + context, N);
    ForwardChunk ch{&cache, 0, tokens.data() + begin, (int)(end - begin), RowKind::Prefill, false, true};
    const float* logits = pass.run({&ch, 1});  // (end - begin, V): row i predicts token begin + i + 1
    const long first = std::max(prev_end, begin + 1);  // a target needs a token before it in the window
    double nll = 0;
#pragma omp parallel for reduction(+ : nll) schedule(static)
    for (long j = first; j < end; j++)
      nll += token_nll(logits + (size_t)(j - begin - 1) * c.vocab_size, c.vocab_size, tokens[j]);
    r.nll += nll;
    r.tokens += end - first;
    if (!token_bytes.empty())
      for (long j = first; j < end; j++) r.bytes += token_bytes[tokens[j]];
    r.windows++;
    prev_end = end;
    if (progress) progress(r.windows, total);
    if (end == N) break;
  }
  return r;
}

}  // namespace nexus
