#include "core/kernels/linear.h"

#include <omp.h>

#include <algorithm>
#include <cstring>

#include "core/kernels/matmul.h"

namespace nexus::kernels {

void linear_forward(float* out, const float* inp, const float* weight, const float* bias, int N, int C, int OC,
                    bool accumulate) {
  float beta = accumulate ? 1.0f : 0.0f;
  if (bias) {
    // Seed every row with the bias (or add it), then let gemm accumulate onto it.
#pragma omp parallel for schedule(static) if ((long)N * OC >= 65536 && !omp_in_parallel())
    for (int i = 0; i < N; i++) {
      float* row = out + (size_t)i * OC;
      if (accumulate) {
#pragma omp simd
        for (int o = 0; o < OC; o++) row[o] += bias[o];
      } else {
        std::memcpy(row, bias, sizeof(float) * OC);
      }
    }
    beta = 1.0f;
  }
  gemm(false, true, N, OC, C, 1.0f, inp, C, weight, C, beta, out, OC);
}

void linear_forward_residual(float* out, const float* residual, const float* inp, const float* weight,
                             const float* bias, int N, int C, int OC) {
#pragma omp parallel for schedule(static) if ((long)N * OC >= 16384 && !omp_in_parallel())
  for (int i = 0; i < N; i++) {
    float* row = out + (size_t)i * OC;
    const float* res = residual + (size_t)i * OC;
    if (bias) {
#pragma omp simd
      for (int o = 0; o < OC; o++) row[o] = res[o] + bias[o];
    } else if (row != res) {
      std::memcpy(row, res, sizeof(float) * OC);
    }
  }
  gemm(false, true, N, OC, C, 1.0f, inp, C, weight, C, 1.0f, out, OC);
}

void linear_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int N, int C, int OC, bool accumulate_dinp) {
  if (dinp) gemm(false, false, N, C, OC, 1.0f, dout, OC, weight, C, accumulate_dinp ? 1.0f : 0.0f, dinp, C);
  gemm(true, false, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f, dweight, C);
  if (dbias) {
    // Column sums; threads split the output channels so no reduction is needed.
#pragma omp parallel if ((long)N * OC >= 65536 && !omp_in_parallel())
    {
      int nt = omp_get_num_threads(), tid = omp_get_thread_num();
      int chunk = (OC + nt - 1) / nt;
      int o0 = std::min(OC, tid * chunk), o1 = std::min(OC, o0 + chunk);
      for (int i = 0; i < N; i++) {
        const float* row = dout + (size_t)i * OC;
#pragma omp simd
        for (int o = o0; o < o1; o++) dbias[o] += row[o];
      }
    }
  }
}

}  // namespace nexus::kernels
