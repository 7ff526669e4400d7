#include "model/gpt.h"

#include <array>
#include <cmath>
#include <cstring>
#include <string>

#include "core/error.h"
#include "core/kernels/attention.h"
#include "core/kernels/matmul.h"
#include "core/kernels/crossentropy.h"
#include "core/kernels/dropout.h"
#include "core/kernels/embedding.h"
#include "core/kernels/gelu.h"
#include "core/kernels/layernorm.h"
#include "core/kernels/linear.h"
#include "core/rng.h"

namespace nexus {

using namespace kernels;

namespace {
// Floats of each activation view of a forward pass on (B,T), in GPTActivations order. N is
// size_t for the allocation and double for training_bytes_needed, which must not overflow on
// an absurd config: one formula for both.
template <class N>
std::array<N, 20> activation_sizes(const GPTConfig& c, N B, N T) {
  const N BT = B * T, C = c.n_embd, L = c.n_layer, V = c.vocab_size, NH = c.n_head;
  return {BT * C,     L * BT * C, L * BT,     L * BT,         L * BT * 3 * C, L * BT * C, L * B * NH * T,
          L * BT * C, L * BT * C, L * BT,     L * BT,         L * BT * 4 * C, L * BT * 4 * C,
          L * BT * C, BT * C,     BT,         BT,             BT * V,         BT,
          c.dropout > 0 ? BT * C : N(0)};
}

// Floats of the backward scratch (dres, dln, datty, dqkv, dfch, dbranch when dropout is on).
template <class N>
N backward_scratch_floats(N BT, N C, bool drop) {
  return BT * C * (4 + 3) + BT * 4 * C + (drop ? BT * C : N(0)) + 64;
}

// p + offset, or null when the tensor is absent (bias == false).
inline float* at(float* p, size_t offset) { return p ? p + offset : nullptr; }

// Dropout sites of a forward pass; each gets its own mask stream.
enum Site : uint64_t { kEmbedding = 0, kAttnProbs = 1, kAttnResid = 2, kMlpResid = 3 };
inline uint64_t site_seed(uint64_t step_seed, int layer, Site site) {
  return splitmix64(step_seed ^ splitmix64((uint64_t)(layer + 1) * 8 + site));
}
}  // namespace

GPT::GPT(const GPTConfig& config) : config_(config), layout_(config) {
  params_.resize(layout_.total());
  w_ = layout_.bind(params_.data());
}

double GPT::training_bytes_needed(const GPTConfig& config, int B, int T) {
  double floats = 4.0 * (double)parameter_count(config);  // parameters, gradients, AdamW m and v
  for (double n : activation_sizes<double>(config, B, T)) floats += n;
  floats += backward_scratch_floats<double>((double)B * T, config.n_embd, config.dropout > 0);
  return floats * sizeof(float);
}

void GPT::init_weights(uint64_t seed) {
  Rng rng(seed);
  const float residual_std = 0.02f / std::sqrt(2.0f * config_.n_layer);
  params_.zero();
  for (const NamedTensor& t : layout_.named_tensors()) {
    float* p = params_.data() + t.offset;
    const std::string& n = t.name;
    const bool is_weight = n.size() > 7 && n.compare(n.size() - 7, 7, ".weight") == 0;
    const bool is_layernorm = n.find("ln_") != std::string::npos;
    if (is_layernorm && is_weight) {
      for (size_t i = 0; i < t.count; i++) p[i] = 1.0f;
    } else if (is_weight) {
      const bool residual = n.find("c_proj.weight") != std::string::npos;
      const float std = residual ? residual_std : 0.02f;
      for (size_t i = 0; i < t.count; i++) p[i] = std * rng.normal();
    }  // biases stay zero
  }
}

void GPT::check_tokens(const int32_t* ids, size_t n, const char* what) const {
  for (size_t i = 0; i < n; i++) {
    if (ids[i] < 0 || ids[i] >= config_.vocab_size)
      throw InvalidArgument(std::string(what) + " " + std::to_string(ids[i]) + " at position " + std::to_string(i) +
                            " is outside the vocabulary [0, " + std::to_string(config_.vocab_size) + ")");
  }
}

void GPT::ensure_activations(int B, int T) {
  B_ = B, T_ = T;
  if ((long)B * T <= alloc_BT_) {
    // Views are laid out for alloc_BT_ rows; smaller batches reuse them with the same
    // per-layer strides, recomputed below.
  }
  const std::array<size_t, 20> sizes = activation_sizes<size_t>(config_, B, T);
  float** views[] = {&acts_.encoded, &acts_.ln1,      &acts_.ln1_mean, &acts_.ln1_rstd, &acts_.qkv,
                     &acts_.atty,    &acts_.att_lse,  &acts_.res2,     &acts_.ln2,      &acts_.ln2_mean,
                     &acts_.ln2_rstd, &acts_.fch,     &acts_.fch_gelu, &acts_.res3,     &acts_.lnf,
                     &acts_.lnf_mean, &acts_.lnf_rstd, &acts_.logits,  &acts_.losses,   &acts_.scratch};
  size_t total = 0;
  for (size_t s : sizes) total += (s + 15) / 16 * 16;  // keep every view 64-byte aligned
  if (acts_buf_.size() < total) acts_buf_.resize(total);
  float* p = acts_buf_.data();
  for (size_t i = 0; i < sizes.size(); i++) {
    *views[i] = sizes[i] ? p : nullptr;
    p += (sizes[i] + 15) / 16 * 16;
  }
  alloc_BT_ = B * T;
}

float GPT::forward(const int32_t* tokens, const int32_t* targets, int B, int T, const ForwardOptions& opt) {
  const int C = config_.n_embd, V = config_.vocab_size;
  if (B <= 0 || T <= 0) throw InvalidArgument("batch size and sequence length must be positive");
  if (T > config_.block_size)
    throw InvalidArgument("sequence length " + std::to_string(T) + " exceeds the model's block_size " +
                          std::to_string(config_.block_size));
  const size_t BT = (size_t)B * T;
  check_tokens(tokens, BT, "token");
  if (targets) check_tokens(targets, BT, "target");
  ensure_activations(B, T);
  tokens_.assign(tokens, tokens + BT);
  have_targets_ = targets != nullptr;
  if (have_targets_) targets_.assign(targets, targets + BT);
  last_only_ = opt.last_position_only;
  training_ = opt.training && config_.dropout > 0.0f;
  dropout_seed_ = opt.dropout_seed;

  embedding_forward(acts_.encoded, tokens, w_.wte, w_.wpe, B, T, C);
  if (training_)
    dropout_forward(acts_.encoded, acts_.encoded, (long)BT * C, config_.dropout, site_seed(dropout_seed_, -1, kEmbedding));
  const float* residual = acts_.encoded;
  for (int l = 0; l < config_.n_layer; l++) {
    layer_forward(l, residual, opt);
    residual = acts_.res3 + (size_t)l * BT * C;
  }
  layernorm_forward(acts_.lnf, acts_.lnf_mean, acts_.lnf_rstd, residual, w_.lnfw, w_.lnfb, (int)BT, C);
  if (last_only_) {
    // Rows T-1 of each sequence, read with a row stride of T*C: logits (B,1,V) = lnf_last @ wte^T.
    kernels::gemm(false, true, B, V, C, 1.0f, acts_.lnf + (size_t)(T - 1) * C, T * C, w_.wte, C, 0.0f,
                  acts_.logits, V);
    return NAN;
  }
  linear_forward(acts_.logits, acts_.lnf, w_.wte, nullptr, (int)BT, C, V);
  if (!targets) return NAN;
  crossentropy_forward(acts_.losses, acts_.logits, targets, (int)BT, V);
  double sum = 0.0;
  for (size_t i = 0; i < BT; i++) sum += acts_.losses[i];
  return (float)(sum / BT);
}

// Adds a projected branch to the residual stream: out = residual + dropout(inp @ W^T + b).
static void residual_branch(float* out, const float* residual, const float* inp, const float* weight,
                            const float* bias, int BT, int in_dim, int C, float* scratch, float rate, uint64_t seed) {
  const size_t n = (size_t)BT * C;
  if (!scratch) {
    kernels::linear_forward_residual(out, residual, inp, weight, bias, BT, in_dim, C);
    return;
  }
  linear_forward(scratch, inp, weight, bias, BT, in_dim, C);
  dropout_forward(scratch, scratch, (long)n, rate, seed);
  for (size_t i = 0; i < n; i++) out[i] = residual[i] + scratch[i];
}

void GPT::layer_forward(int l, const float* residual, const ForwardOptions& opt) {
  const int B = B_, T = T_, C = config_.n_embd, NH = config_.n_head;
  const size_t BT = (size_t)B * T, BTC = BT * C;
  GPTActivations& a = acts_;
  float* ln1 = a.ln1 + l * BTC;
  float* qkv = a.qkv + l * BTC * 3;
  float* atty = a.atty + l * BTC;
  float* res2 = a.res2 + l * BTC;
  float* ln2 = a.ln2 + l * BTC;
  float* fch = a.fch + l * BTC * 4;
  float* fch_gelu = a.fch_gelu + l * BTC * 4;
  const float rate = training_ ? config_.dropout : 0.0f;
  float* scratch = training_ ? a.scratch : nullptr;

  layernorm_forward(ln1, a.ln1_mean + l * BT, a.ln1_rstd + l * BT, residual, w_.ln1w + l * C, at(w_.ln1b, l * C),
                    (int)BT, C);
  linear_forward(qkv, ln1, w_.qkvw + (size_t)l * 3 * C * C, at(w_.qkvb, (size_t)l * 3 * C), (int)BT, C, 3 * C);
  attention_forward(atty, a.att_lse + l * BT * NH, qkv, B, T, C, NH,
                    {rate, site_seed(dropout_seed_, l, kAttnProbs)});
  residual_branch(res2, residual, atty, w_.attprojw + (size_t)l * C * C, at(w_.attprojb, (size_t)l * C), (int)BT, C,
                  C, scratch, rate, site_seed(dropout_seed_, l, kAttnResid));
  layernorm_forward(ln2, a.ln2_mean + l * BT, a.ln2_rstd + l * BT, res2, w_.ln2w + l * C, at(w_.ln2b, l * C),
                    (int)BT, C);
  linear_forward(fch, ln2, w_.fcw + (size_t)l * 4 * C * C, at(w_.fcb, (size_t)l * 4 * C), (int)BT, C, 4 * C);
  gelu_forward(fch_gelu, fch, (long)BTC * 4);
  residual_branch(a.res3 + l * BTC, res2, fch_gelu, w_.fcprojw + (size_t)l * 4 * C * C, at(w_.fcprojb, (size_t)l * C),
                  (int)BT, 4 * C, C, scratch, rate, site_seed(dropout_seed_, l, kMlpResid));
}

float* GPT::grads() {
  if (grads_.size() == 0) {
    grads_.resize(layout_.total());
    g_ = layout_.bind(grads_.data());
  }
  return grads_.data();
}

void GPT::zero_grad() {
  grads();
  grads_.zero();
}

void GPT::backward() {
  if (!have_targets_ || last_only_)
    throw InvalidArgument("backward() needs a full forward pass with targets immediately before it");
  grads();
  const int B = B_, T = T_, C = config_.n_embd, V = config_.vocab_size;
  const size_t BT = (size_t)B * T, BTC = BT * C;
  const bool drop = training_;
  const size_t need = backward_scratch_floats<size_t>(BT, C, drop);
  if (grad_acts_buf_.size() < need) grad_acts_buf_.resize(need);
  float* p = grad_acts_buf_.data();
  dres_ = p, p += BTC;
  dln_ = p, p += BTC;
  datty_ = p, p += BTC;
  dqkv_ = p, p += 3 * BTC;
  dfch_ = p, p += 4 * BTC;
  dbranch_ = drop ? p : nullptr;

  float* dlogits = acts_.logits;  // overwritten in place
  crossentropy_forward_backward(acts_.losses, dlogits, targets_.data(), (int)BT, V, 1.0f / (float)BT);
  have_targets_ = false;  // the logits are gone; another backward needs another forward
  linear_backward(dln_, g_.wte, nullptr, dlogits, acts_.lnf, w_.wte, (int)BT, C, V, /*accumulate_dinp=*/false);
  std::memset(dres_, 0, BTC * sizeof(float));
  const float* last_residual = acts_.res3 + (size_t)(config_.n_layer - 1) * BTC;
  layernorm_backward(dres_, g_.lnfw, g_.lnfb, dln_, last_residual, w_.lnfw, acts_.lnf_mean, acts_.lnf_rstd, (int)BT, C);
  for (int l = config_.n_layer - 1; l >= 0; l--) layer_backward(l, dres_);
  if (drop)
    dropout_backward(dres_, dres_, (long)BTC, config_.dropout, site_seed(dropout_seed_, -1, kEmbedding));
  embedding_backward(g_.wte, g_.wpe, dres_, tokens_.data(), B, T, C);
}

void GPT::layer_backward(int l, float* dres) {
  const int B = B_, T = T_, C = config_.n_embd, NH = config_.n_head;
  const size_t BT = (size_t)B * T, BTC = BT * C;
  GPTActivations& a = acts_;
  const float* residual = l == 0 ? a.encoded : a.res3 + (size_t)(l - 1) * BTC;
  const float rate = training_ ? config_.dropout : 0.0f;
  // Gradient of a residual branch's output: dres itself, or through the branch's dropout.
  auto branch_grad = [&](Site site) -> const float* {
    if (!training_) return dres;
    dropout_backward(dbranch_, dres, (long)BTC, rate, site_seed(dropout_seed_, l, site));
    return dbranch_;
  };

  // MLP branch: res3 = res2 + drop(fcproj(gelu(fc(ln2(res2))))).
  const float* dmlp = branch_grad(kMlpResid);
  linear_backward(dfch_, g_.fcprojw + (size_t)l * 4 * C * C, at(g_.fcprojb, (size_t)l * C), dmlp,
                  a.fch_gelu + l * BTC * 4, w_.fcprojw + (size_t)l * 4 * C * C, (int)BT, 4 * C, C, false);
  gelu_backward(dfch_, a.fch + l * BTC * 4, dfch_, (long)BTC * 4);
  linear_backward(dln_, g_.fcw + (size_t)l * 4 * C * C, at(g_.fcb, (size_t)l * 4 * C), dfch_, a.ln2 + l * BTC,
                  w_.fcw + (size_t)l * 4 * C * C, (int)BT, C, 4 * C, false);
  layernorm_backward(dres, g_.ln2w + l * C, at(g_.ln2b, l * C), dln_, a.res2 + l * BTC, w_.ln2w + l * C,
                     a.ln2_mean + l * BT, a.ln2_rstd + l * BT, (int)BT, C);

  // Attention branch: res2 = residual + drop(attproj(attention(qkv(ln1(residual))))).
  const float* datt = branch_grad(kAttnResid);
  linear_backward(datty_, g_.attprojw + (size_t)l * C * C, at(g_.attprojb, (size_t)l * C), datt, a.atty + l * BTC,
                  w_.attprojw + (size_t)l * C * C, (int)BT, C, C, false);
  attention_backward(dqkv_, datty_, a.qkv + l * BTC * 3, a.atty + l * BTC, a.att_lse + l * BT * NH, B, T, C, NH,
                     {rate, site_seed(dropout_seed_, l, kAttnProbs)});
  linear_backward(dln_, g_.qkvw + (size_t)l * 3 * C * C, at(g_.qkvb, (size_t)l * 3 * C), dqkv_, a.ln1 + l * BTC,
                  w_.qkvw + (size_t)l * 3 * C * C, (int)BT, C, 3 * C, false);
  layernorm_backward(dres, g_.ln1w + l * C, at(g_.ln1b, l * C), dln_, residual, w_.ln1w + l * C,
                     a.ln1_mean + l * BT, a.ln1_rstd + l * BT, (int)BT, C);
}

}  // namespace nexus
