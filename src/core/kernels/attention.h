#pragma once
// Fused causal self-attention: y = softmax(Q K^T / sqrt(hs) + causal mask) V per head,
// computed with an online (running max / running sum) softmax over blocks of keys, so no
// T x T matrix is ever stored. Training keeps only the row log-sum-exp (B,H,T) for backward,
// which recomputes the probabilities (FlashAttention-2 style).
#include <cstdint>

namespace nexus::kernels {

/// Attention dropout: each probability p[b,h,i,j] is kept with probability 1-rate and
/// scaled by 1/(1-rate). The mask is a hash of (seed, b, h, i, j), so backward regenerates
/// it exactly and results do not depend on the thread count. rate == 0 disables it.
struct AttentionDropout {
  float rate = 0.0f;
  uint64_t seed = 0;
};

/// qkv (B,T,3C): per token [q | k | v], head h at columns h*hs..(h+1)*hs of each part.
/// Writes y (B,T,C) and lse (B,H,T) (lse may be null when no backward follows).
void attention_forward(float* y, float* lse, const float* qkv, int B, int T, int C, int NH,
                       AttentionDropout dropout = {});

/// Writes (not accumulates) dqkv (B,T,3C) from dy (B,T,C), using the forward's inputs,
/// its output y and lse.
void attention_backward(float* dqkv, const float* dy, const float* qkv, const float* y, const float* lse,
                        int B, int T, int C, int NH, AttentionDropout dropout = {});

/// Plain double-precision reference of attention_forward (no dropout), materialising the
/// full T x T matrix per head. lse may be null.
void attention_forward_ref(float* y, float* lse, const float* qkv, int B, int T, int C, int NH);

/// One head of attention over a key/value sequence, the building block shared with
/// inference (KV cache): Tq query rows attend causally to Tk >= Tq keys, query i seeing keys
/// 0 .. i + (Tk - Tq). Row strides in floats. lse may be null. scratch needs
/// attention_head_scratch_floats(Tk, hs) floats.
void attention_head_forward(float* y, int y_stride, float* lse, const float* q, int q_stride, const float* k,
                            int k_stride, const float* v, int v_stride, int Tq, int Tk, int hs, float* scratch,
                            AttentionDropout dropout = {}, uint64_t dropout_stream = 0);

/// Scratch size (floats) attention_head_forward needs.
long attention_head_scratch_floats(int Tk, int hs);

}  // namespace nexus::kernels
