#pragma once
// Attention of one new token (a decode step) against a sequence's cached keys and values.
// kernels::attention_head_forward is built for blocks of queries: it transposes the keys
// into scratch and multiplies tiles, which for a single query costs several times the
// product itself. Here the query meets each cached key row directly (a dot product per key),
// and the output accumulates the value rows weighted by the softmax, so the cache is read
// once, in order.
#include <cstddef>
#include <cstdint>

namespace nexus {

/// The keys and values the caller will attend to next (contiguous blocks of `bytes` each):
/// the kernel pulls them into L2 as it consumes its own, a line of theirs per line of its
/// own, so memory streams at an even rate (a burst of prefetches at the start of a head
/// stalls that head's loads behind them; none leaves each head waiting on DRAM latency).
struct DecodePrefetch {
  const void* keys = nullptr;
  const void* values = nullptr;
  size_t bytes = 0;
};

/// y(hs) = softmax(q . K^T / sqrt(hs)) V for one head: q (hs), K and V (Tk rows of hs floats,
/// row strides k_stride and v_stride). scores needs Tk floats of scratch. Tk >= 1.
void attention_decode_head(float* y, const float* q, const float* K, int k_stride, const float* V, int v_stride,
                           int Tk, int hs, float* scores, const DecodePrefetch& next = {});
/// The same over an fp16 cache (K and V hold fp16 bits; arithmetic in f32).
void attention_decode_head(float* y, const float* q, const uint16_t* K, int k_stride, const uint16_t* V,
                           int v_stride, int Tk, int hs, float* scores, const DecodePrefetch& next = {});

/// Plain double-precision reference of attention_decode_head.
void attention_decode_head_ref(float* y, const float* q, const float* K, int k_stride, const float* V, int v_stride,
                               int Tk, int hs);

}  // namespace nexus
