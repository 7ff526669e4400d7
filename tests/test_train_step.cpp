// The trainer's optimizer step (train_step in train/trainer.h, the one train_run takes) driven
// with given batches: gradient accumulation over micro-batches must give the update of one
// batch as large as all of them, and a step whose loss or gradient is not finite must change
// neither the parameters nor the optimizer moments.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/rng.h"
#include "model/gpt.h"
#include "train/optimizer.h"
#include "train/trainer.h"

namespace nexus {
namespace {

constexpr int kT = 16;       // block size
constexpr float kLr = 1e-3f;  // learning rate of the step

GPTConfig tiny_config() {
  GPTConfig c;
  c.block_size = kT, c.vocab_size = 50, c.n_layer = 2, c.n_head = 2, c.n_embd = 32;
  c.dropout = 0.0f;  // dropout masks depend on the micro-batch split: equivalence needs none
  return c;
}

// `rows` random sequences of kT + 1 tokens; row r gives x = tokens[0, kT), y = tokens[1, kT].
std::vector<std::vector<int32_t>> random_rows(int rows, int vocab, uint64_t seed) {
  Rng rng(seed);
  std::vector<std::vector<int32_t>> out(rows, std::vector<int32_t>(kT + 1));
  for (auto& row : out)
    for (int32_t& t : row) t = (int32_t)rng.below((uint64_t)vocab);
  return out;
}

// A batch source handing out consecutive rows: micro-batch m gets rows [m * batch, (m + 1) * batch).
MicroBatchFn rows_source(const std::vector<std::vector<int32_t>>& rows, int batch) {
  return [&rows, batch](int micro, std::vector<int32_t>& x, std::vector<int32_t>& y) {
    x.resize((size_t)batch * kT);
    y.resize((size_t)batch * kT);
    for (int b = 0; b < batch; b++) {
      const auto& row = rows[(size_t)micro * batch + b];
      std::copy(row.begin(), row.end() - 1, x.begin() + (ptrdiff_t)b * kT);
      std::copy(row.begin() + 1, row.end(), y.begin() + (ptrdiff_t)b * kT);
    }
  };
}

// max |a - b| / max |b|: a scale-free distance of two float arrays.
double relative_distance(const float* a, const float* b, size_t n) {
  double diff = 0, scale = 0;
  for (size_t i = 0; i < n; i++) {
    diff = std::max(diff, (double)std::fabs(a[i] - b[i]));
    scale = std::max(scale, (double)std::fabs(b[i]));
  }
  return diff / std::max(scale, 1e-30);
}

struct StepRun {
  GPT model;
  AdamW optimizer;
  StepResult result;
  StepRun(int batch, int accum, const std::vector<std::vector<int32_t>>& rows)
      : model(tiny_config()), optimizer(model.layout()) {
    model.init_weights(42);
    TrainConfig c;
    c.batch_size = batch;
    c.gradient_accumulation_steps = accum;
    result = train_step(model, optimizer, c, kLr, 0, rows_source(rows, batch));
  }
};

TEST(TrainStep, TwoMicroBatchesEqualOneBatchOfTwiceTheSize) {
  constexpr int B = 4;
  const auto rows = random_rows(2 * B, tiny_config().vocab_size, 7);
  StepRun accumulated(B, 2, rows), whole(2 * B, 1, rows);
  ASSERT_TRUE(accumulated.result.applied && whole.result.applied);
  // The mean loss and the gradient (the averaged one, which train_step leaves in place):
  // a wrong 1/accum scale shows here, as AdamW's first update is nearly scale-free.
  EXPECT_NEAR(accumulated.result.loss, whole.result.loss, 1e-6 * whole.result.loss);
  EXPECT_NEAR(accumulated.result.grad_norm, whole.result.grad_norm, 1e-5 * whole.result.grad_norm);
  const size_t n = whole.model.num_grads();
  EXPECT_LT(relative_distance(accumulated.model.grads(), whole.model.grads(), n), 1e-5);
  // The update itself: parameters after one AdamW step. Its first update is about
  // lr * g / (|g| + eps): the same to rounding for any gradient well above eps = 1e-8, but a
  // gradient near eps keeps the rounding of its sum (taken in another order) and moves it by
  // up to ~1e-3 lr. Those few get 1e-2 lr; every other parameter must agree to 1e-6.
  size_t loose = 0;
  for (size_t i = 0; i < n; i++) {
    const float a = accumulated.model.params()[i], b = whole.model.params()[i];
    const bool near_eps = std::fabs(whole.model.grads()[i]) < 1e-6f;
    loose += near_eps;
    ASSERT_LE(std::fabs(a - b), near_eps ? 1e-2 * kLr : 1e-6 * (std::fabs(b) + kLr)) << "parameter " << i;
  }
  EXPECT_LT(loose, n / 20) << "too few gradients to compare the update of";
  EXPECT_LT(relative_distance(accumulated.optimizer.m().data(), whole.optimizer.m().data(), n), 1e-5);
  EXPECT_LT(relative_distance(accumulated.optimizer.v().data(), whole.optimizer.v().data(), n), 1e-5);
}

TEST(TrainStep, NonFiniteLossUpdatesNothing) {
  const auto rows = random_rows(2, tiny_config().vocab_size, 3);
  GPT model(tiny_config());
  model.init_weights(42);
  AdamW optimizer(model.layout());
  // A NaN in the embedding of a token the batch uses poisons the loss.
  const NamedTensor& wte = model.layout().named_tensors().front();
  ASSERT_EQ(wte.name, "transformer.wte.weight");
  model.params()[wte.offset + (size_t)rows[0][0] * tiny_config().n_embd] = NAN;
  const std::vector<float> before(model.params(), model.params() + model.layout().total());
  TrainConfig c;
  c.batch_size = 2;
  const StepResult r = train_step(model, optimizer, c, 1e-3f, 0, rows_source(rows, 2));
  EXPECT_FALSE(r.applied);
  EXPECT_TRUE(std::isnan(r.loss));
  EXPECT_EQ(std::memcmp(before.data(), model.params(), before.size() * sizeof(float)), 0) << "parameters changed";
  EXPECT_TRUE(std::all_of(optimizer.m().data(), optimizer.m().data() + before.size(), [](float v) { return v == 0; }));
  EXPECT_TRUE(std::all_of(optimizer.v().data(), optimizer.v().data() + before.size(), [](float v) { return v == 0; }));
}

TEST(AdamW, NonFiniteGradientIsNotApplied) {
  GPT model(tiny_config());
  model.init_weights(1);
  AdamW optimizer(model.layout());
  const size_t n = model.layout().total();
  std::fill(model.grads(), model.grads() + n, 0.5f);
  model.grads()[n / 2] = INFINITY;
  const std::vector<float> before(model.params(), model.params() + n);
  const float norm = optimizer.step(model.params(), model.grads(), 1e-3f, 0.9f, 0.99f, 0.1f, 1.0f, 1);
  EXPECT_TRUE(std::isinf(norm));
  ASSERT_GT(n, 0u);
  EXPECT_EQ(std::memcmp(before.data(), model.params(), n * sizeof(float)), 0) << "parameters changed";
  EXPECT_TRUE(std::all_of(optimizer.v().data(), optimizer.v().data() + n, [](float v) { return v == 0; }));
}

}  // namespace
}  // namespace nexus
