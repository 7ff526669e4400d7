#pragma once
// Fully connected layer in PyTorch's weight layout, built on gemm().
namespace nexus::kernels {

/// out(N,OC) = inp(N,C) @ weight(OC,C)^T + bias(OC); with accumulate, out += instead
/// (used to add a projection straight into the residual stream). bias may be null.
void linear_forward(float* out, const float* inp, const float* weight, const float* bias, int N, int C, int OC,
                    bool accumulate = false);

/// out(N,OC) = residual(N,OC) + inp(N,C) @ weight(OC,C)^T + bias(OC): a projection added
/// to the residual stream in one pass over out (out may equal residual). bias may be null.
void linear_forward_residual(float* out, const float* residual, const float* inp, const float* weight,
                             const float* bias, int N, int C, int OC);

/// dinp(N,C) = dout @ weight (or += with accumulate_dinp); accumulates dweight(OC,C) +=
/// dout^T @ inp and dbias(OC) += column sums of dout. dinp and dbias may be null.
void linear_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int N, int C, int OC, bool accumulate_dinp = true);

}  // namespace nexus::kernels
