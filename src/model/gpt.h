#pragma once
// The GPT model: weights, gradients and activations, with a forward pass and a
// hand-written backward pass that only chain kernels (src/core/kernels).
#include <cstdint>
#include <vector>

#include "core/buffer.h"
#include "model/config.h"
#include "model/params.h"

namespace nexus {

/// Options of one forward pass.
struct ForwardOptions {
  bool training = false;       // apply dropout (when config.dropout > 0)
  uint64_t dropout_seed = 0;   // distinct per step; masks are a hash of it
  bool last_position_only = false;  // compute logits for position T-1 only (sampling)
};

/// Per-(B,T) activation views, all in one buffer. Shapes in comments; L = n_layer.
struct GPTActivations {
  float* encoded;   // (B,T,C) embedding output (after dropout)
  float* ln1;       // (L,B,T,C)
  float* ln1_mean;  // (L,B,T)
  float* ln1_rstd;  // (L,B,T)
  float* qkv;       // (L,B,T,3C)
  float* atty;      // (L,B,T,C) attention output before c_proj
  float* att_lse;   // (L,B,NH,T) row log-sum-exp of the attention softmax
  float* res2;      // (L,B,T,C) residual after the attention branch
  float* ln2;       // (L,B,T,C)
  float* ln2_mean;  // (L,B,T)
  float* ln2_rstd;  // (L,B,T)
  float* fch;       // (L,B,T,4C) MLP hidden before GELU
  float* fch_gelu;  // (L,B,T,4C)
  float* res3;      // (L,B,T,C) residual after the MLP branch (input of layer l+1)
  float* lnf;       // (B,T,C)
  float* lnf_mean;  // (B,T)
  float* lnf_rstd;  // (B,T)
  float* logits;    // (B,T,V); backward overwrites it with dlogits
  float* losses;    // (B,T)
  float* scratch;   // (B,T,C) branch output when dropout is on
};

/// A GPT-2-family model with its training state of one batch.
class GPT {
 public:
  /// Allocates zeroed parameters for `config` (validated; throws InvalidArgument).
  explicit GPT(const GPTConfig& config);

  /// Bytes that training a `config` model on (B,T) batches holds at least: parameters,
  /// gradients, the two AdamW moments, and the forward and backward activations. What the
  /// trainer checks against the machine's memory (core/memory.h) before building the model.
  static double training_bytes_needed(const GPTConfig& config, int B, int T);

  const GPTConfig& config() const { return config_; }
  const ParameterLayout& layout() const { return layout_; }
  size_t num_params() const { return params_.size(); }
  float* params() { return params_.data(); }
  const float* params() const { return params_.data(); }
  GPTWeights& weights() { return w_; }

  /// GPT-2 initialization from `seed`: N(0, 0.02) weights, residual projections
  /// N(0, 0.02/sqrt(2 n_layer)), zero biases, unit LayerNorm weights.
  void init_weights(uint64_t seed);

  /// Runs the model on tokens (B,T). With targets (B,T) returns the mean cross-entropy;
  /// without, returns NaN. Throws InvalidArgument if T > block_size or a token/target is
  /// outside [0, vocab_size).
  float forward(const int32_t* tokens, const int32_t* targets, int B, int T, const ForwardOptions& opt = {});

  /// Logits of the last forward: (B,T,V), or (B,1,V) with last_position_only.
  const float* logits() const { return acts_.logits; }

  /// Accumulates the gradient of the last forward's mean loss into grads(). Requires a
  /// forward with targets and without last_position_only immediately before.
  void backward();

  /// Sets every gradient to zero (allocates them on first use).
  void zero_grad();
  float* grads();
  size_t num_grads() const { return grads_.size(); }
  GPTWeights& grad_views() { return g_; }

  /// Bytes of activation memory held for the current (B,T).
  size_t activation_bytes() const { return acts_buf_.bytes() + grad_acts_buf_.bytes(); }

 private:
  void ensure_activations(int B, int T);
  void check_tokens(const int32_t* ids, size_t n, const char* what) const;
  void layer_forward(int l, const float* residual, const ForwardOptions& opt);
  void layer_backward(int l, float* dres);

  GPTConfig config_;
  ParameterLayout layout_;
  FloatBuffer params_, grads_;
  GPTWeights w_, g_;
  FloatBuffer acts_buf_, grad_acts_buf_;
  GPTActivations acts_{};
  int B_ = 0, T_ = 0, alloc_BT_ = 0;
  std::vector<int32_t> tokens_, targets_;
  bool have_targets_ = false, last_only_ = false, training_ = false;
  uint64_t dropout_seed_ = 0;
  // Backward scratch views (in grad_acts_buf_).
  float *dres_ = nullptr, *dln_ = nullptr, *dqkv_ = nullptr, *datty_ = nullptr, *dfch_ = nullptr,
        *dbranch_ = nullptr;
};

}  // namespace nexus
