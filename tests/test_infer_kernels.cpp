// The decode-step kernels against their double-precision references: gemv (on every ISA
// path, with bias, accumulation and strides, and its batch invariance: a row's result must
// not depend on how many other rows share the call or on the thread count, bit for bit) and
// single-query attention against the KV cache.
#include <gtest/gtest.h>
#include <omp.h>

#include <cstring>

#include "core/error.h"
#include "core/kernels/gemv.h"
#include "infer/attention_decode.h"
#include "kernel_test_util.h"

namespace nexus {
namespace {

using kernels::gemv;
using kernels::gemv_ref;

struct Shape {
  int M, N, K;
};

TEST(Gemv, MatchesReferenceOnEveryPath) {
  testutil::IsaGuard guard;
  const Shape shapes[] = {{1, 1, 1},   {1, 7, 5},    {3, 33, 17},  {4, 64, 64},  {5, 100, 40},
                          {1, 257, 96}, {9, 70, 129}, {16, 48, 768}, {2, 13, 3072}};
  for (kernels::Isa isa : testutil::supported_isas()) {
    kernels::set_active_isa(isa);
    for (const Shape& s : shapes) {
      for (int variant = 0; variant < 3; variant++) {  // plain, bias, bias + accumulate
        const bool use_bias = variant > 0, accumulate = variant == 2;
        const int ldx = s.K + 3, ldw = s.K + 1, ldy = s.N + 2;  // strides wider than the rows
        auto X = testutil::uniform((size_t)s.M * ldx, 1);
        auto W = testutil::uniform((size_t)s.N * ldw, 2);
        auto b = testutil::uniform(s.N, 3);
        auto Y = testutil::uniform((size_t)s.M * ldy, 4), Yref = Y;
        gemv(s.M, s.N, s.K, X.data(), ldx, W.data(), ldw, use_bias ? b.data() : nullptr, Y.data(), ldy, accumulate);
        gemv_ref(s.M, s.N, s.K, X.data(), ldx, W.data(), ldw, use_bias ? b.data() : nullptr, Yref.data(), ldy,
                 accumulate);
        testutil::expect_close(kernels::isa_name(isa) + " M" + std::to_string(s.M) + " N" + std::to_string(s.N) +
                                   " K" + std::to_string(s.K) + " v" + std::to_string(variant),
                               Y.data(), Yref.data(), Y.size(), 1e-5 * std::sqrt((double)s.K), 1e-5);
      }
    }
  }
}

TEST(Gemv, RowsDoNotDependOnBatchOrThreads) {
  testutil::IsaGuard guard;
  const int N = 203, K = 300, M = 13;
  auto X = testutil::uniform((size_t)M * K, 5);
  auto W = testutil::uniform((size_t)N * K, 6);
  auto b = testutil::uniform(N, 7);
  for (kernels::Isa isa : testutil::supported_isas()) {
    kernels::set_active_isa(isa);
    std::vector<float> all((size_t)M * N);
    gemv(M, N, K, X.data(), K, W.data(), K, b.data(), all.data(), N, false);
    const int saved = omp_get_max_threads();
    for (int threads : {1, 2, 3}) {
      omp_set_num_threads(threads);
      for (int m = 0; m < M; m++) {  // each row alone
        std::vector<float> one(N);
        gemv(1, N, K, X.data() + (size_t)m * K, K, W.data(), K, b.data(), one.data(), N, false);
        EXPECT_EQ(0, std::memcmp(one.data(), all.data() + (size_t)m * N, N * sizeof(float)))
            << kernels::isa_name(isa) << " row " << m << " threads " << threads;
      }
    }
    omp_set_num_threads(saved);
  }
}

TEST(Gemv, RejectsBadArguments) {
  std::vector<float> x(8), w(8), y(8);
  EXPECT_THROW(gemv(-1, 2, 2, x.data(), 2, w.data(), 2, nullptr, y.data(), 2, false), InvalidArgument);
  EXPECT_THROW(gemv(1, 2, 4, x.data(), 2, w.data(), 4, nullptr, y.data(), 2, false), InvalidArgument);
  EXPECT_THROW(gemv(1, 4, 2, x.data(), 2, w.data(), 2, nullptr, y.data(), 2, false), InvalidArgument);
  EXPECT_THROW(gemv(1, 2, 2, nullptr, 2, w.data(), 2, nullptr, y.data(), 2, false), InvalidArgument);
  EXPECT_NO_THROW(gemv(0, 2, 2, nullptr, 2, nullptr, 2, nullptr, nullptr, 2, false));
}

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
