#pragma once
// Helpers shared by the kernel tests (test_kernels.cpp, test_gradcheck.cpp): random
// inputs, the ISA paths this CPU supports, and closeness checks that report the worst
// element instead of flooding the log.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/cpu.h"
#include "core/kernels/matmul.h"
#include "core/rng.h"

namespace nexus::testutil {

/// n floats uniform in [lo, hi), reproducible from seed.
inline std::vector<float> uniform(size_t n, uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (float& x : v) x = lo + (hi - lo) * rng.uniform();
  return v;
}

/// n floats ~ N(0, stddev^2), reproducible from seed.
inline std::vector<float> normal(size_t n, uint64_t seed, float stddev = 1.0f) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (float& x : v) x = stddev * rng.normal();
  return v;
}

/// n token ids uniform in [0, vocab).
inline std::vector<int32_t> tokens(size_t n, uint64_t seed, int vocab) {
  Rng rng(seed);
  std::vector<int32_t> v(n);
  for (int32_t& t : v) t = (int32_t)rng.below((uint64_t)vocab);
  return v;
}

/// sum_i a[i] * b[i] in double (the scalar loss L = sum(out * R) of the gradient checks).
inline double dot(const float* a, const float* b, size_t n) {
  double s = 0.0;
  for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
  return s;
}

/// Every gemm path this CPU can run (Scalar always).
inline std::vector<kernels::Isa> supported_isas() {
  std::vector<kernels::Isa> isas{kernels::Isa::Scalar};
  const CpuFeatures& f = cpu_features();
  if (f.avx2 && f.fma) isas.push_back(kernels::Isa::Avx2);
  if (f.avx512f && f.avx512bw && f.avx512dq && f.avx512vl && f.fma) isas.push_back(kernels::Isa::Avx512);
  return isas;
}

/// Restores the ISA chosen at start-up when a test ends.
class IsaGuard {
 public:
  IsaGuard() : saved_(kernels::active_isa()) {}
  ~IsaGuard() { kernels::set_active_isa(saved_); }

 private:
  kernels::Isa saved_;
};

/// Expects |got[i] - want[i]| <= atol + rtol * |want[i]| (and got finite) for all i < n;
/// on failure reports how many elements failed and the worst one.
template <class T>
void expect_close(const std::string& what, const float* got, const T* want, size_t n, double atol, double rtol) {
  size_t bad = 0, worst = 0;
  double worst_ratio = -1.0;
  for (size_t i = 0; i < n; i++) {
    const double w = (double)want[i], err = std::fabs((double)got[i] - w);
    const double tol = atol + rtol * std::fabs(w);
    const double ratio = !std::isfinite(got[i]) ? INFINITY : tol > 0 ? err / tol : (err > 0 ? INFINITY : 0.0);
    bad += !(ratio <= 1.0);
    if (ratio > worst_ratio) worst_ratio = ratio, worst = i;
  }
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << n << " elements out of tolerance (atol " << atol
                     << ", rtol " << rtol << "); worst [" << worst << "] got " << got[worst] << " want "
                     << (double)want[worst] << " (error/tolerance " << worst_ratio << ")";
}

}  // namespace nexus::testutil
