// The decode-step attention kernel (one query against the KV cache) against its
// double-precision reference. (The weight matmuls of inference are qlinear_forward, tested
// in test_qlinear.cpp.)
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace nexus
