#pragma once
// LayerNorm over the last dimension (eps 1e-5, biased variance, as torch.nn.LayerNorm).
namespace nexus::kernels {

constexpr float kLayerNormEps = 1e-5f;

/// out(N,C) = (inp - mean) * rstd * weight + bias. Saves mean(N) and rstd(N) for backward.
/// bias may be null (nanoGPT's bias=False).
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                       const float* bias, int N, int C);

/// Accumulates: dinp(N,C) += ..., dweight(C) += ..., dbias(C) += ... (dbias may be null).
void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int N, int C);

/// Plain double-precision reference of layernorm_forward (mean/rstd may be null).
void layernorm_forward_ref(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                           const float* bias, int N, int C);

}  // namespace nexus::kernels
