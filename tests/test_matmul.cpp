// gemm() against gemm_ref() on every ISA path this CPU supports: all transpose
// combinations, alpha/beta cases, odd and cache-block-crossing sizes, padded leading
// dimensions, and calls from inside an OpenMP parallel region.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/cpu.h"
#include "core/error.h"
#include "core/kernels/matmul.h"
#include "core/rng.h"

namespace nexus::kernels {
namespace {

std::vector<Isa> supported_isas() {
  std::vector<Isa> isas{Isa::Scalar};
  const CpuFeatures& f = cpu_features();
  if (f.avx2 && f.fma) isas.push_back(Isa::Avx2);
  if (f.avx512f && f.avx512bw && f.avx512dq && f.avx512vl && f.fma) isas.push_back(Isa::Avx512);
  return isas;
}

// Restores the ISA chosen at start-up when a test ends.
class IsaGuard {
 public:
  IsaGuard() : saved_(active_isa()) {}
  ~IsaGuard() { set_active_isa(saved_); }

 private:
  Isa saved_;
};

std::vector<float> random_matrix(size_t n, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (float& x : v) x = 2.0f * hash_to_unit_float(rng.next_u64()) - 1.0f;
  return v;
}

struct Case {
  bool ta, tb;
  int M, N, K;
  float alpha, beta;
  int pad = 0;  // extra elements per row of A, B and C (leading dimension > width)
};

std::string describe(const Case& c, Isa isa) {
  return isa_name(isa) + (c.ta ? " T" : " N") + (c.tb ? "T" : "N") + " M=" + std::to_string(c.M) +
         " N=" + std::to_string(c.N) + " K=" + std::to_string(c.K) +
         " alpha=" + std::to_string(c.alpha) + " beta=" + std::to_string(c.beta) +
         " pad=" + std::to_string(c.pad);
}

// Runs gemm and gemm_ref on the same inputs; returns the number of mismatches (reported
// through EXPECT so the failing case and element are printed). Thread-safe: all state is
// local, so it can run on several OpenMP threads at once.
int check_case(const Case& c, uint64_t seed, bool report = true) {
  const int a_rows = c.ta ? c.K : c.M, a_cols = c.ta ? c.M : c.K;
  const int b_rows = c.tb ? c.N : c.K, b_cols = c.tb ? c.K : c.N;
  const int lda = a_cols + c.pad, ldb = b_cols + c.pad, ldc = c.N + c.pad;
  const std::vector<float> A = random_matrix(static_cast<size_t>(a_rows) * lda + 1, seed);
  const std::vector<float> B = random_matrix(static_cast<size_t>(b_rows) * ldb + 1, seed + 1);
  std::vector<float> C0 = random_matrix(static_cast<size_t>(c.M) * ldc + 1, seed + 2);
  if (c.beta == 0.0f)  // beta == 0 must not read C: NaN there must not leak into the result
    for (float& x : C0) x = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> C = C0, R = C0;
  gemm(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A.data(), lda, B.data(), ldb, c.beta, C.data(), ldc);
  gemm_ref(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A.data(), lda, B.data(), ldb, c.beta, R.data(), ldc);
  // Inputs are in [-1, 1], so |sum| <= K; float rounding error grows about linearly in K.
  const float tol = 1e-5f * (static_cast<float>(c.K) + 4.0f) * (std::fabs(c.alpha) + 1.0f) +
                    1e-6f * std::fabs(c.beta);
  int bad = 0;
  for (int i = 0; i < c.M; ++i)
    for (int j = 0; j < c.N + c.pad; ++j) {
      const size_t idx = static_cast<size_t>(i) * ldc + j;
      if (j >= c.N) {  // padding columns must be left untouched (bitwise; NaN-aware)
        const bool same = std::memcmp(&C[idx], &C0[idx], sizeof(float)) == 0;
        if (!same && report && bad < 5)
          ADD_FAILURE() << "padding written at (" << i << "," << j << ") " << describe(c, active_isa());
        bad += !same;
        continue;
      }
      const bool ok = std::isfinite(C[idx]) && std::fabs(C[idx] - R[idx]) <= tol;
      if (!ok && report && bad < 5)
        ADD_FAILURE() << "C(" << i << "," << j << ") = " << C[idx] << " expected " << R[idx]
                      << " tol " << tol << " " << describe(c, active_isa());
      bad += !ok;
    }
  return bad;
}

const int kOddSizes[] = {1, 2, 3, 7, 8, 16, 17, 31, 33, 65};

TEST(Gemm, ReferenceMatchesHandComputedProduct) {
  // [1 2; 3 4] * [5 6; 7 8] = [19 22; 43 50], then 2*AB + 1*C with C = 1.
  const float A[] = {1, 2, 3, 4}, B[] = {5, 6, 7, 8};
  float C[] = {1, 1, 1, 1};
  gemm_ref(false, false, 2, 2, 2, 2.0f, A, 2, B, 2, 1.0f, C, 2);
  EXPECT_FLOAT_EQ(C[0], 39.0f);
  EXPECT_FLOAT_EQ(C[1], 45.0f);
  EXPECT_FLOAT_EQ(C[2], 87.0f);
  EXPECT_FLOAT_EQ(C[3], 101.0f);
  // Transposed B: B^T where B (N,K) = [5 7; 6 8] gives the same product.
  const float Bt[] = {5, 7, 6, 8};
  float D[4];
  gemm_ref(false, true, 2, 2, 2, 1.0f, A, 2, Bt, 2, 0.0f, D, 2);
  EXPECT_FLOAT_EQ(D[0], 19.0f);
  EXPECT_FLOAT_EQ(D[3], 50.0f);
}

TEST(Gemm, AllPathsOddSizesAllLayouts) {
  IsaGuard guard;
  uint64_t seed = 1;
  for (Isa isa : supported_isas()) {
    set_active_isa(isa);
    ASSERT_EQ(active_isa(), isa);
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb)
        for (int M : kOddSizes)
          for (int N : kOddSizes)
            for (int K : {1, 3, 17, 64}) {
              const Case c{ta != 0, tb != 0, M, N, K, 1.0f, 0.0f};
              ASSERT_EQ(check_case(c, seed++), 0) << describe(c, isa);
            }
  }
}

TEST(Gemm, AllPathsAlphaBetaAndPadding) {
  IsaGuard guard;
  uint64_t seed = 1000;
  const float alphas[] = {1.0f, -0.5f, 2.0f};
  const float betas[] = {0.0f, 1.0f, 0.25f, -1.0f};
  for (Isa isa : supported_isas()) {
    set_active_isa(isa);
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb)
        for (float alpha : alphas)
          for (float beta : betas)
            for (int pad : {0, 5}) {
              const Case c{ta != 0, tb != 0, 37, 45, 29, alpha, beta, pad};
              ASSERT_EQ(check_case(c, seed++), 0) << describe(c, isa);
            }
  }
}

TEST(Gemm, AllPathsSizesLargerThanCacheBlocks) {
  // Crosses every blocking boundary: K > kc (several depth blocks, beta applied once),
  // M > mc and N > nc, with ragged edges in all three.
  IsaGuard guard;
  uint64_t seed = 2000;
  const Case cases[] = {
      {false, true, 129, 127, 801, 1.0f, 0.0f, 3},   {false, false, 400, 1100, 130, 1.0f, 1.0f, 0},
      {true, false, 131, 65, 1030, -1.0f, 0.5f, 1},  {true, true, 257, 1091, 33, 0.5f, 0.0f, 0},
      {false, true, 1043, 33, 391, 1.0f, 1.0f, 2},
  };
  for (Isa isa : supported_isas()) {
    set_active_isa(isa);
    for (const Case& c : cases) ASSERT_EQ(check_case(c, seed++), 0) << describe(c, isa);
  }
}

TEST(Gemm, TrainingShapes) {
  // A few real forward/backward layouts from training, at full size.
  IsaGuard guard;
  uint64_t seed = 3000;
  const Case cases[] = {
      {false, true, 768, 128, 128, 1.0f, 0.0f},   // forward, small model
      {false, false, 768, 128, 384, 1.0f, 0.0f},  // backward dinp
      {true, false, 384, 128, 768, 1.0f, 1.0f},   // backward dW, accumulate
  };
  for (Isa isa : supported_isas()) {
    set_active_isa(isa);
    for (const Case& c : cases) ASSERT_EQ(check_case(c, seed++), 0) << describe(c, isa);
  }
}

TEST(Gemm, InsideParallelRegionEachThreadOwnMatrices) {
  IsaGuard guard;
  for (Isa isa : supported_isas()) {
    set_active_isa(isa);
    int failures = 0;
#pragma omp parallel num_threads(4) reduction(+ : failures)
    {
      const int t = omp_get_thread_num();
      for (int r = 0; r < 3; ++r) {
        const Case c{(t + r) % 2 == 1, (t / 2 + r) % 2 == 1, 70 + 13 * t, 50 + 7 * r, 300 + t, 1.0f,
                     r == 1 ? 1.0f : 0.0f, t % 2};
        failures += check_case(c, 4000 + 10 * t + r, /*report=*/false) != 0;
      }
    }
    EXPECT_EQ(failures, 0) << isa_name(isa);
  }
}

TEST(Gemm, DegenerateSizes) {
  IsaGuard guard;
  for (Isa isa : supported_isas()) {
    set_active_isa(isa);
    // K == 0: C = beta * C; beta == 0 clears NaN.
    std::vector<float> C(6, std::numeric_limits<float>::quiet_NaN());
    gemm(false, false, 2, 3, 0, 1.0f, nullptr, 1, nullptr, 3, 0.0f, C.data(), 3);
    for (float x : C) EXPECT_EQ(x, 0.0f);
    std::vector<float> D(6, 2.0f);
    gemm(false, false, 2, 3, 0, 1.0f, nullptr, 1, nullptr, 3, 0.5f, D.data(), 3);
    for (float x : D) EXPECT_EQ(x, 1.0f);
    // alpha == 0 ignores A and B.
    const std::vector<float> A(6, 1.0f), B(9, 1.0f);
    std::vector<float> E(6, 4.0f);
    gemm(false, false, 2, 3, 3, 0.0f, A.data(), 3, B.data(), 3, 0.5f, E.data(), 3);
    for (float x : E) EXPECT_EQ(x, 2.0f);
    // M == 0 or N == 0: nothing to do, no access.
    gemm(false, false, 0, 3, 3, 1.0f, A.data(), 3, B.data(), 3, 0.0f, nullptr, 3);
  }
}

TEST(Gemm, RejectsBadArguments) {
  std::vector<float> A(16), B(16), C(16);
  EXPECT_THROW(gemm(false, false, -1, 2, 2, 1.0f, A.data(), 2, B.data(), 2, 0.0f, C.data(), 2),
               InvalidArgument);
  EXPECT_THROW(gemm(false, false, 2, 2, 4, 1.0f, A.data(), 3, B.data(), 2, 0.0f, C.data(), 2),
               InvalidArgument);  // lda < K
  EXPECT_THROW(gemm(false, true, 2, 2, 4, 1.0f, A.data(), 4, B.data(), 2, 0.0f, C.data(), 2),
               InvalidArgument);  // ldb < K for transposed B
  EXPECT_THROW(gemm(false, false, 2, 3, 2, 1.0f, A.data(), 2, B.data(), 3, 0.0f, C.data(), 2),
               InvalidArgument);  // ldc < N
  EXPECT_THROW(gemm_ref(true, false, 3, 2, 2, 1.0f, A.data(), 2, B.data(), 2, 0.0f, C.data(), 2),
               InvalidArgument);  // lda < M for transposed A
}

TEST(Gemm, IsaSelection) {
  IsaGuard guard;
  EXPECT_EQ(isa_name(Isa::Scalar), "scalar");
  EXPECT_EQ(isa_name(Isa::Avx2), "avx2");
  EXPECT_EQ(isa_name(Isa::Avx512), "avx512");
  for (Isa isa : supported_isas()) {
    set_active_isa(isa);
    EXPECT_EQ(active_isa(), isa);
  }
  if (!cpu_features().avx512f) {
    EXPECT_THROW(set_active_isa(Isa::Avx512), InvalidArgument);
  }
}

}  // namespace
}  // namespace nexus::kernels
