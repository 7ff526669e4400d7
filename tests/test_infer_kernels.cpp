// The decode-step attention kernel (one query against the KV cache) against its
// double-precision reference. (The weight matmuls of inference are qlinear_forward, tested
// in test_qlinear.cpp.)
#include <gtest/gtest.h>

#include "core/half.h"
#include "infer/attention_decode.h"
#include "kernel_test_util.h"

namespace nexus {
namespace {

TEST(AttentionDecode, MatchesReference) {
  for (int hs : {1, 5, 8, 16, 24, 64, 72, 128}) {
    for (int Tk : {1, 2, 7, 64, 300}) {
      const int stride = 3 * hs + 5;  // rows of a wider cache, as in (T, C) with several heads
      auto q = testutil::uniform(hs, 11, -2, 2);
      auto K = testutil::uniform((size_t)Tk * stride, 12, -2, 2);
      auto V = testutil::uniform((size_t)Tk * stride, 13);
      std::vector<float> y(hs), want(hs), scores(Tk);
      attention_decode_head(y.data(), q.data(), K.data(), stride, V.data(), stride, Tk, hs, scores.data());
      attention_decode_head_ref(want.data(), q.data(), K.data(), stride, V.data(), stride, Tk, hs);
      testutil::expect_close("hs " + std::to_string(hs) + " Tk " + std::to_string(Tk), y.data(), want.data(), hs, 2e-6,
                             2e-5);
    }
  }
}

// Over an fp16 cache: the reference sees the same fp16 values widened to floats.
TEST(AttentionDecode, F16CacheMatchesReferenceOnTheRoundedValues) {
  for (int hs : {1, 5, 8, 16, 24, 64, 72, 128}) {
    for (int Tk : {1, 2, 7, 64, 300}) {
      const int stride = 3 * hs + 5;
      auto q = testutil::uniform(hs, 11, -2, 2);
      auto K = testutil::uniform((size_t)Tk * stride, 12, -2, 2);
      auto V = testutil::uniform((size_t)Tk * stride, 13);
      std::vector<uint16_t> Kh(K.size()), Vh(V.size());
      float_to_fp16_row(K.data(), Kh.data(), (int64_t)K.size());
      float_to_fp16_row(V.data(), Vh.data(), (int64_t)V.size());
      fp16_to_float_row(Kh.data(), K.data(), (int64_t)K.size());
      fp16_to_float_row(Vh.data(), V.data(), (int64_t)V.size());
      std::vector<float> y(hs), want(hs), scores(Tk);
      attention_decode_head(y.data(), q.data(), Kh.data(), stride, Vh.data(), stride, Tk, hs, scores.data());
      attention_decode_head_ref(want.data(), q.data(), K.data(), stride, V.data(), stride, Tk, hs);
      testutil::expect_close("f16 hs " + std::to_string(hs) + " Tk " + std::to_string(Tk), y.data(), want.data(), hs,
                             2e-6, 2e-5);
    }
  }
}

// Streaming the next head's keys and values ahead (shorter, longer or as long as this
// head's) only moves memory: the output is bit-identical to a call without it.
TEST(AttentionDecode, PrefetchingTheNextHeadChangesNothing) {
  const int hs = 64, Tk = 37;
  auto q = testutil::uniform(hs, 21, -2, 2);
  auto K = testutil::uniform((size_t)Tk * hs, 22, -2, 2);
  auto V = testutil::uniform((size_t)Tk * hs, 23);
  auto other = testutil::uniform((size_t)100 * hs, 24);
  std::vector<float> plain(hs), scores(Tk);
  attention_decode_head(plain.data(), q.data(), K.data(), hs, V.data(), hs, Tk, hs, scores.data());
  for (int next_rows : {1, Tk, 100}) {
    std::vector<float> y(hs);
    const DecodePrefetch next{other.data(), other.data() + 50 * hs, (size_t)next_rows / 2 * hs * sizeof(float)};
    attention_decode_head(y.data(), q.data(), K.data(), hs, V.data(), hs, Tk, hs, scores.data(), next);
    EXPECT_EQ(plain, y) << "next rows " << next_rows;
  }
}

}  // namespace
}  // namespace nexus
