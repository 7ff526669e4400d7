#include "core/kernels/embedding.h"

#include <omp.h>

#include <algorithm>

namespace nexus::kernels {

void embedding_forward(float* out, const int32_t* tokens, const float* wte, const float* wpe, int B, int T,
                       int C) {
#pragma omp parallel for collapse(2) schedule(static) if ((long)B * T * C >= 65536 && !omp_in_parallel())
  for (int b = 0; b < B; b++) {
    for (int t = 0; t < T; t++) {
      float* o = out + ((size_t)b * T + t) * C;
      const float* te = wte + (size_t)tokens[b * T + t] * C;
      const float* pe = wpe + (size_t)t * C;
#pragma omp simd
      for (int c = 0; c < C; c++) o[c] = te[c] + pe[c];
    }
  }
}

void embedding_backward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens, int B, int T,
                        int C) {
  int nthreads = omp_in_parallel() ? 1 : omp_get_max_threads();
#pragma omp parallel num_threads(nthreads)
  {
    // Each thread owns a contiguous slice of channels [c0, c1) of every row.
    int tid = omp_get_thread_num(), nt = omp_get_num_threads();
    int chunk = (C + nt - 1) / nt;
    int c0 = std::min(C, tid * chunk), c1 = std::min(C, c0 + chunk);
    for (int b = 0; b < B; b++) {
      for (int t = 0; t < T; t++) {
        const float* d = dout + ((size_t)b * T + t) * C;
        float* te = dwte + (size_t)tokens[b * T + t] * C;
        float* pe = dwpe + (size_t)t * C;
#pragma omp simd
        for (int c = c0; c < c1; c++) {
          te[c] += d[c];
          pe[c] += d[c];
        }
      }
    }
  }
}

}  // namespace nexus::kernels
