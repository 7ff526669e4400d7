#pragma once
// GELU, tanh approximation (GPT-2; torch.nn.GELU(approximate="tanh")).
namespace nexus::kernels {

/// out(N) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). out may equal inp.
void gelu_forward(float* out, const float* inp, long N);

/// Writes (not accumulates) dinp(N) = gelu'(inp) * dout. dinp may equal dout.
void gelu_backward(float* dinp, const float* inp, const float* dout, long N);

/// Plain double-precision reference of gelu_forward.
void gelu_forward_ref(float* out, const float* inp, long N);

}  // namespace nexus::kernels
