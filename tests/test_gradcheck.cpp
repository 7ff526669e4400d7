// Every backward kernel, and the whole GPT, against central finite differences of its
// forward. Each check uses a scalar loss L = sum(out * R) with a fixed random R (so the
// analytic backward runs with dout = R), evaluates L in double, and extrapolates two
// central differences (steps h and h/2, Richardson) so truncation error is O(h^4) and h can
// stay large enough for float32 rounding noise to be negligible.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "core/kernels/attention.h"
#include "core/kernels/crossentropy.h"
#include "core/kernels/dropout.h"
#include "core/kernels/embedding.h"
#include "core/kernels/gelu.h"
#include "core/kernels/layernorm.h"
#include "core/kernels/linear.h"
#include "core/kernels/matmul.h"
#include "kernel_test_util.h"
#include "model/gpt.h"

namespace nexus {
namespace {

using namespace kernels;
using testutil::dot;
using testutil::expect_close;

// d loss / d x at the current x, by Richardson-extrapolated central differences. x is
// restored; the step actually representable in float is used as the denominator.
double numeric_derivative(float& x, double h, const std::function<double()>& loss) {
  const float x0 = x;
  auto central = [&](double step) {
    const float xp = (float)(x0 + step), xm = (float)(x0 - step);
    x = xp;
    const double lp = loss();
    x = xm;
    const double lm = loss();
    x = x0;
    return (lp - lm) / ((double)xp - (double)xm);
  };
  return (4.0 * central(h / 2) - central(h)) / 3.0;
}

/// How a gradient check samples and what it accepts: coordinate i passes when
/// |analytic - numeric| <= atol * scale + rtol * |numeric|, where scale is the largest
/// gradient magnitude of the tensor (so the test does not depend on the loss's scale).
struct GradCheck {
  double h = 1e-2;
  double atol = 1e-3;
  double rtol = 1e-3;
  size_t max_coords = 100;  // coordinates sampled per tensor (all when fewer)
  uint64_t seed = 1;
};

// Compares analytic (n) with finite differences of loss() in x (n) at sampled coordinates.
void check_gradient(const std::string& what, float* x, const float* analytic, size_t n,
                    const std::function<double()>& loss, const GradCheck& gc) {
  std::vector<size_t> idx;
  if (n <= gc.max_coords) {
    for (size_t i = 0; i < n; i++) idx.push_back(i);
  } else {
    Rng rng(gc.seed);
    for (size_t k = 0; k < gc.max_coords; k++) idx.push_back(rng.below(n));
  }
  std::vector<double> numeric(idx.size());
  double scale = 0.0;
  for (size_t i = 0; i < n; i++) scale = std::max(scale, (double)std::fabs(analytic[i]));
  // The many forward evaluations run on one thread: their threaded paths are checked in
  // test_kernels, and OpenMP barriers on an oversubscribed machine would cost ms each.
  const int saved_threads = omp_get_max_threads();
  omp_set_num_threads(1);
  for (size_t k = 0; k < idx.size(); k++) {
    numeric[k] = numeric_derivative(x[idx[k]], gc.h, loss);
    scale = std::max(scale, std::fabs(numeric[k]));
  }
  omp_set_num_threads(saved_threads);
  size_t bad = 0, worst = 0;
  double worst_ratio = -1.0;
  for (size_t k = 0; k < idx.size(); k++) {
    const double a = analytic[idx[k]], err = std::fabs(a - numeric[k]);
    const double tol = gc.atol * scale + gc.rtol * std::fabs(numeric[k]);
    const double ratio = std::isfinite(a) ? (tol > 0 ? err / tol : (err > 0 ? INFINITY : 0.0)) : INFINITY;
    bad += !(ratio <= 1.0);
    if (ratio > worst_ratio) worst_ratio = ratio, worst = k;
  }
  if (idx.empty()) return;
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << idx.size() << " coordinates differ from finite "
                     << "differences; worst [" << idx[worst] << "] analytic " << analytic[idx[worst]]
                     << " numeric " << numeric[worst] << " (error/tolerance " << worst_ratio << ", gradient scale "
                     << scale << ")";
}

// a - b elementwise (the part a backward added to a pre-filled gradient buffer).
std::vector<float> minus(const std::vector<float>& a, const std::vector<float>& b) {
  std::vector<float> d(a.size());
  for (size_t i = 0; i < a.size(); i++) d[i] = a[i] - b[i];
  return d;
}

// ---------------------------------------------------------------------------------------
// LayerNorm

TEST(GradCheck, LayerNormBackwardAccumulates) {
  uint64_t seed = 1;
  for (int N : {3, 70})  // 70 rows: several threads reduce dweight/dbias
    // C <= 2 is degenerate (output ~independent of inp, huge curvature where var ~ eps).
    for (int C : {5, 32})
      for (bool bias : {true, false}) {
        const std::string what = "N=" + std::to_string(N) + " C=" + std::to_string(C) + " bias=" + std::to_string(bias);
        std::vector<float> x = testutil::normal((size_t)N * C, seed++, 2.0f);
        for (float& v : x) v += 0.5f;
        std::vector<float> w = testutil::uniform(C, seed++, 0.5f, 1.5f), b = testutil::uniform(C, seed++);
        const std::vector<float> R = testutil::normal((size_t)N * C, seed++);
        std::vector<float> out((size_t)N * C), mean(N), rstd(N);
        float* bp = bias ? b.data() : nullptr;
        auto loss = [&] {
          layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(), bp, N, C);
          return dot(out.data(), R.data(), out.size());
        };
        loss();
        // Pre-filled buffers: the kernel must add to them.
        const std::vector<float> dx0 = testutil::normal(x.size(), seed++), dw0 = testutil::normal(C, seed++),
                                 db0 = testutil::normal(C, seed++);
        std::vector<float> dx = dx0, dw = dw0, db = db0;
        layernorm_backward(dx.data(), dw.data(), bias ? db.data() : nullptr, R.data(), x.data(), w.data(),
                           mean.data(), rstd.data(), N, C);
        if (!bias) {
          EXPECT_EQ(db, db0);
        }
        const std::vector<float> gx = minus(dx, dx0), gw = minus(dw, dw0), gb = minus(db, db0);
        GradCheck gc;
        check_gradient("dinp " + what, x.data(), gx.data(), x.size(), loss, gc);
        check_gradient("dweight " + what, w.data(), gw.data(), C, loss, gc);
        if (bias) check_gradient("dbias " + what, b.data(), gb.data(), C, loss, gc);
      }
}

// ---------------------------------------------------------------------------------------
// GELU

TEST(GradCheck, GeluBackwardWritesAndMayRunInPlace) {
  for (long N : {13L, 20000L}) {  // the large one runs threaded
    std::vector<float> x = testutil::uniform(N, 10 + N, -6.0f, 6.0f);
    const std::vector<float> R = testutil::normal(N, 20 + N);
    std::vector<float> out(N), dx(N, NAN);  // NaN: the result must be written, not added
    auto loss = [&] {
      gelu_forward(out.data(), x.data(), N);
      return dot(out.data(), R.data(), N);
    };
    gelu_backward(dx.data(), x.data(), R.data(), N);
    check_gradient("gelu N=" + std::to_string(N), x.data(), dx.data(), N, loss, GradCheck{.max_coords = 200});
    std::vector<float> inplace = R;
    gelu_backward(inplace.data(), x.data(), inplace.data(), N);
    EXPECT_EQ(inplace, dx) << "dinp == dout must give the same result";
  }
}

// ---------------------------------------------------------------------------------------
// Cross-entropy

TEST(GradCheck, CrossEntropyDlogits) {
  uint64_t seed = 30;
  for (int V : {1, 2, 11, 65}) {
    const int N = 6;
    std::vector<float> logits = testutil::uniform((size_t)N * V, seed++, -3.0f, 3.0f);
    std::vector<int32_t> tg = testutil::tokens(N, seed++, V);
    tg[1] = tg[0];  // a repeated target
    std::vector<float> losses(N);
    // L = mean loss, so dloss_scale = 1/N.
    auto loss = [&] {
      crossentropy_forward(losses.data(), logits.data(), tg.data(), N, V);
      double s = 0;
      for (float l : losses) s += l;
      return s / N;
    };
    std::vector<float> d = logits;
    crossentropy_forward_backward(losses.data(), d.data(), tg.data(), N, V, 1.0f / N);
    check_gradient("dlogits V=" + std::to_string(V), logits.data(), d.data(), d.size(), loss, GradCheck{});
  }
}

// ---------------------------------------------------------------------------------------
// Attention

void attention_gradcheck(int B, int T, int C, int NH, AttentionDropout drop, uint64_t seed) {
  const std::string what = "B=" + std::to_string(B) + " T=" + std::to_string(T) + " C=" + std::to_string(C) +
                           " NH=" + std::to_string(NH) + " dropout=" + std::to_string(drop.rate);
  std::vector<float> qkv = testutil::normal((size_t)B * T * 3 * C, seed, 1.0f);
  const std::vector<float> R = testutil::normal((size_t)B * T * C, seed + 1);
  std::vector<float> y(R.size()), lse((size_t)B * NH * T);
  auto loss = [&] {
    attention_forward(y.data(), lse.data(), qkv.data(), B, T, C, NH, drop);
    return dot(y.data(), R.data(), y.size());
  };
  loss();
  std::vector<float> dqkv(qkv.size(), NAN);  // written, not accumulated
  attention_backward(dqkv.data(), R.data(), qkv.data(), y.data(), lse.data(), B, T, C, NH, drop);
  GradCheck gc;
  gc.max_coords = 300;
  gc.seed = seed;
  check_gradient("dqkv " + what, qkv.data(), dqkv.data(), qkv.size(), loss, gc);
}

TEST(GradCheck, AttentionBackward) {
  attention_gradcheck(1, 1, 4, 1, {}, 1);
  attention_gradcheck(2, 5, 8, 2, {}, 2);
  attention_gradcheck(1, 70, 8, 2, {}, 3);  // more keys than one 64-key block
  attention_gradcheck(2, 9, 12, 3, {}, 4);
}

TEST(GradCheck, AttentionBackwardWithDropout) {
  // The mask is a hash of (seed, position), so the same seed fixes it for every evaluation.
  attention_gradcheck(2, 5, 8, 2, {0.3f, 11}, 5);
  attention_gradcheck(1, 70, 8, 2, {0.5f, 12}, 6);
}

// ---------------------------------------------------------------------------------------
// Embedding

TEST(GradCheck, EmbeddingBackwardAccumulatesRepeatedTokens) {
  const int B = 3, T = 6, C = 13, V = 5;  // 18 tokens from 5 ids: many repeats
  std::vector<float> wte = testutil::normal((size_t)V * C, 1), wpe = testutil::normal((size_t)T * C, 2);
  const std::vector<int32_t> tok = testutil::tokens((size_t)B * T, 3, V);
  const std::vector<float> R = testutil::normal((size_t)B * T * C, 4);
  std::vector<float> out(R.size());
  auto loss = [&] {
    embedding_forward(out.data(), tok.data(), wte.data(), wpe.data(), B, T, C);
    return dot(out.data(), R.data(), out.size());
  };
  const std::vector<float> dwte0 = testutil::normal(wte.size(), 5), dwpe0 = testutil::normal(wpe.size(), 6);
  std::vector<float> dwte = dwte0, dwpe = dwpe0;
  embedding_backward(dwte.data(), dwpe.data(), R.data(), tok.data(), B, T, C);
  check_gradient("dwte", wte.data(), minus(dwte, dwte0).data(), wte.size(), loss, GradCheck{});
  check_gradient("dwpe", wpe.data(), minus(dwpe, dwpe0).data(), wpe.size(), loss, GradCheck{});
}

// ---------------------------------------------------------------------------------------
// Linear (every ISA path)

TEST(GradCheck, LinearBackwardOnEveryIsa) {
  testutil::IsaGuard guard;
  const int N = 7, C = 9, OC = 5;
  for (Isa isa : testutil::supported_isas()) {
    set_active_isa(isa);
    for (bool bias : {true, false})
      for (bool acc : {true, false}) {
        const std::string what = isa_name(isa) + " bias=" + std::to_string(bias) + " accumulate_dinp=" +
                                 std::to_string(acc);
        std::vector<float> inp = testutil::normal((size_t)N * C, 1), w = testutil::normal((size_t)OC * C, 2),
                           b = testutil::normal(OC, 3);
        const std::vector<float> R = testutil::normal((size_t)N * OC, 4);
        std::vector<float> out(R.size());
        float* bp = bias ? b.data() : nullptr;
        auto loss = [&] {
          linear_forward(out.data(), inp.data(), w.data(), bp, N, C, OC);
          return dot(out.data(), R.data(), out.size());
        };
        const std::vector<float> dinp0 = testutil::normal(inp.size(), 5), dw0 = testutil::normal(w.size(), 6),
                                 db0 = testutil::normal(OC, 7);
        std::vector<float> dinp = dinp0, dw = dw0, db = db0;
        if (!acc) std::fill(dinp.begin(), dinp.end(), NAN);  // must be written, not read
        linear_backward(dinp.data(), dw.data(), bias ? db.data() : nullptr, R.data(), inp.data(), w.data(), N, C,
                        OC, acc);
        const std::vector<float> gx = acc ? minus(dinp, dinp0) : dinp;
        check_gradient("dinp " + what, inp.data(), gx.data(), inp.size(), loss, GradCheck{});
        check_gradient("dweight " + what, w.data(), minus(dw, dw0).data(), w.size(), loss, GradCheck{});
        if (bias) check_gradient("dbias " + what, b.data(), minus(db, db0).data(), OC, loss, GradCheck{});
        // dinp may be null (first layer): parameter gradients still accumulate.
        std::vector<float> dw2 = dw0;
        linear_backward(nullptr, dw2.data(), nullptr, R.data(), inp.data(), w.data(), N, C, OC, acc);
        EXPECT_EQ(dw2, dw) << "dweight without dinp " << what;
      }
  }
}

// ---------------------------------------------------------------------------------------
// Dropout

TEST(GradCheck, DropoutBackward) {
  for (long n : {37L, 40000L}) {  // the large one runs threaded
    std::vector<float> x = testutil::normal(n, 1);
    const std::vector<float> R = testutil::normal(n, 2);
    std::vector<float> out(n), dx(n, NAN);
    auto loss = [&] {
      dropout_forward(out.data(), x.data(), n, 0.4f, 99);
      return dot(out.data(), R.data(), n);
    };
    dropout_backward(dx.data(), R.data(), n, 0.4f, 99);
    check_gradient("dropout n=" + std::to_string(n), x.data(), dx.data(), n, loss, GradCheck{.max_coords = 300});
  }
}

// ---------------------------------------------------------------------------------------
// The whole GPT

struct GptCase {
  bool bias;
  float dropout;
  int B, T;
};

// Mean cross-entropy of the last forward, recomputed in double from its logits (B,T,V),
// so the finite differences do not see the float rounding of the returned mean.
double mean_loss_from_logits(const GPT& model, const std::vector<int32_t>& targets, int V) {
  const float* logits = model.logits();
  double total = 0.0;
  for (size_t i = 0; i < targets.size(); i++) {
    const float* x = logits + i * V;
    double mx = *std::max_element(x, x + V), sum = 0.0;
    for (int v = 0; v < V; v++) sum += std::exp((double)x[v] - mx);
    total += mx + std::log(sum) - x[targets[i]];
  }
  return total / targets.size();
}

// One parameter tensor of a GPT: name, start in the parameter buffer, element count.
struct TensorView {
  const char* name;
  float* p;  // null when absent (bias tensors without bias)
  int64_t count;
};

// Every GPTWeights field, in buffer order.
std::vector<TensorView> parameter_tensors(GPT& model) {
  const GPTConfig& cfg = model.config();
  const int64_t C = cfg.n_embd, L = cfg.n_layer;
  GPTWeights& w = model.weights();
  return {{"wte", w.wte, cfg.vocab_size * C}, {"wpe", w.wpe, cfg.block_size * C},
          {"ln1w", w.ln1w, L * C},            {"ln1b", w.ln1b, L * C},
          {"qkvw", w.qkvw, L * 3 * C * C},    {"qkvb", w.qkvb, L * 3 * C},
          {"attprojw", w.attprojw, L * C * C}, {"attprojb", w.attprojb, L * C},
          {"ln2w", w.ln2w, L * C},            {"ln2b", w.ln2b, L * C},
          {"fcw", w.fcw, L * 4 * C * C},      {"fcb", w.fcb, L * 4 * C},
          {"fcprojw", w.fcprojw, L * 4 * C * C}, {"fcprojb", w.fcprojb, L * C},
          {"lnfw", w.lnfw, C},                {"lnfb", w.lnfb, C}};
}

void gpt_gradcheck(const GptCase& c) {
  GPTConfig cfg;
  cfg.n_layer = 2, cfg.n_head = 2, cfg.n_embd = 16, cfg.block_size = 8, cfg.vocab_size = 11;
  cfg.bias = c.bias, cfg.dropout = c.dropout;
  const std::string what = std::string("bias=") + (c.bias ? "on" : "off") +
                           " dropout=" + std::to_string(c.dropout) + " B=" + std::to_string(c.B) +
                           " T=" + std::to_string(c.T);
  GPT model(cfg);
  model.init_weights(7);
  // Perturb every parameter, so biases are non-zero and LayerNorm weights not all one.
  const std::vector<float> noise = testutil::normal(model.num_params(), 8, 0.1f);
  for (size_t i = 0; i < model.num_params(); i++) model.params()[i] += noise[i];
  const size_t BT = (size_t)c.B * c.T;
  const std::vector<int32_t> tokens = testutil::tokens(BT, 9, cfg.vocab_size);
  const std::vector<int32_t> targets = testutil::tokens(BT, 10, cfg.vocab_size);
  ForwardOptions opt;
  opt.training = c.dropout > 0.0f;
  opt.dropout_seed = 1234;
  auto loss = [&] {
    model.forward(tokens.data(), targets.data(), c.B, c.T, opt);
    return mean_loss_from_logits(model, targets, cfg.vocab_size);
  };
  if (opt.training) {  // the check must really run with dropout masks in place
    const double train_loss = loss();
    model.forward(tokens.data(), targets.data(), c.B, c.T);
    EXPECT_GT(std::fabs(mean_loss_from_logits(model, targets, cfg.vocab_size) - train_loss), 1e-4) << what;
  }
  model.zero_grad();
  const float reported = model.forward(tokens.data(), targets.data(), c.B, c.T, opt);
  EXPECT_NEAR(reported, mean_loss_from_logits(model, targets, cfg.vocab_size), 1e-5) << what;
  model.backward();
  const std::vector<float> grads(model.grads(), model.grads() + model.num_grads());

  size_t covered = 0;
  uint64_t seed = 100;
  for (const TensorView& k : parameter_tensors(model)) {
    if (!k.p) continue;
    covered += k.count;
    const size_t offset = (size_t)(k.p - model.params());
    GradCheck gc;
    gc.seed = seed++;
    check_gradient(std::string(k.name) + " " + what, k.p, grads.data() + offset, k.count, loss, gc);
  }
  EXPECT_EQ(covered, model.num_params()) << "every parameter belongs to one checked tensor";
  // Rows of wpe beyond T are unused: their gradient is exactly zero.
  for (size_t i = (size_t)c.T * cfg.n_embd; i < (size_t)cfg.block_size * cfg.n_embd; i++)
    ASSERT_EQ(grads[(size_t)(model.weights().wpe - model.params()) + i], 0.0f) << what;

  // backward() accumulates: a second forward + backward doubles the gradient.
  model.forward(tokens.data(), targets.data(), c.B, c.T, opt);
  model.backward();
  std::vector<double> twice(grads.begin(), grads.end());
  for (double& g : twice) g *= 2.0;
  expect_close("accumulated grads " + what, model.grads(), twice.data(), twice.size(), 1e-7, 1e-5);
}

TEST(GradCheck, GptWithBias) { gpt_gradcheck({true, 0.0f, 2, 8}); }
TEST(GradCheck, GptWithoutBias) { gpt_gradcheck({false, 0.0f, 3, 5}); }
TEST(GradCheck, GptWithBiasAndDropout) { gpt_gradcheck({true, 0.1f, 2, 8}); }
TEST(GradCheck, GptWithoutBiasAndDropout) { gpt_gradcheck({false, 0.2f, 3, 5}); }

}  // namespace
}  // namespace nexus
