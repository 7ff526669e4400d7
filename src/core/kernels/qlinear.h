#pragma once
// Inference weights: a linear layer's weight W(N,K) (PyTorch layout: N output features, K
// input features) repacked for the kernels as float32 (F32Matrix), bfloat16 (Bf16Matrix) or
// 8-bit integers with one scale per block of 32 along K (Q8Matrix, the numbers of
// llama.cpp's Q8_0), and qlinear_forward: out(M,N) = x(M,K) @ W^T + bias for any M (decode
// M = 1..64 streams each weight once for all rows of x; prefill M = 512 runs the same
// register-tiled kernels, with no per-call packing of W).
//
// Arithmetic of the fast paths (identical on every ISA path, so batch size, thread count
// and CPU do not change a result beyond float summation order of whole blocks):
//   f32:  each output is one chain of fused multiply-adds over k = 0..K-1 in order, then
//         + bias, then + out (accumulate): bit-identical at any M, on every path.
//   bf16: x is rounded to bf16 (round to nearest even) and each product bf16(w)*bf16(x) is
//         accumulated in f32 (exact products: what AVX512_BF16's vdpbf16ps computes).
//   q8:   x is quantized per block of 32 to int8 (dx = max|x|/127, qx = round(x/dx)); the
//         block's integer dot product sum(qw*qx) is exact; out += (dw*dx) * dot in f32
//         (llama.cpp's q8_0 x q8_0 scheme; AVX512_VNNI vpdpbusd where the CPU has it).
// The _ref functions instead dequantize W exactly and use x unrounded, in double.
#include <cstddef>
#include <cstdint>
#include <memory>

namespace nexus::kernels {

/// Values per Q8 block along K (llama.cpp's QK8_0).
constexpr int kQ8Block = 32;
/// Bytes of one llama.cpp block_q8_0: fp16 scale d, then 32 int8 q (value = d * q).
constexpr int kQ8_0BlockBytes = 34;
/// Weight rows are stored in groups of this many (one 16-lane vector of outputs).
constexpr int kQRowGroup = 16;

namespace detail {
/// Free-on-destruction storage of 64-byte-aligned bytes (the packed weights).
struct AlignedFreeBytes {
  void operator()(uint8_t* p) const;
};
using AlignedBytes = std::unique_ptr<uint8_t[], AlignedFreeBytes>;
}  // namespace detail

/// W(N,K) in float32, repacked for the kernels (any K; movable, not copyable).
/// Packed layout: rows in groups of 16 (the last padded with zero rows); group g holds K
/// chunks of 64 bytes, chunk k = for r < 16 the value w[16g+r][k]: one zmm FMA operand.
class F32Matrix {
 public:
  F32Matrix() = default;
  /// Repacks row-major W(rows, cols).
  static F32Matrix from_f32(const float* w, int rows, int cols);
  /// N, the number of output features.
  int rows() const { return rows_; }
  /// K, the number of input features.
  int cols() const { return cols_; }
  /// Writes the row-major values (rows*cols floats).
  void to_f32(float* out) const;
  /// Writes row n (cols floats).
  void row_f32(int n, float* out) const;
  /// Bytes of packed weights held.
  size_t bytes() const { return bytes_; }
  /// Packed data (layout above).
  const float* packed() const { return reinterpret_cast<const float*>(data_.get()); }

 private:
  float* mutable_packed() { return reinterpret_cast<float*>(data_.get()); }
  int rows_ = 0, cols_ = 0;
  size_t bytes_ = 0;
  detail::AlignedBytes data_;
};

/// W(N,K) in bfloat16, repacked for the kernels (any K; movable, not copyable).
/// Packed layout: rows in groups of 16 (the last padded with zero rows), K padded to even
/// with zeros; group g holds K/2 chunks of 64 bytes, chunk j = for r < 16 the pair
/// {w[16g+r][2j], w[16g+r][2j+1]}: one vdpbf16ps operand.
class Bf16Matrix {
 public:
  Bf16Matrix() = default;
  /// Rounds f32 row-major W(rows, cols) to bf16 (nearest even; NaN stays NaN).
  static Bf16Matrix from_f32(const float* w, int rows, int cols);
  /// Takes row-major bf16 bits W(rows, cols) (e.g. a GGUF or safetensors BF16 tensor).
  static Bf16Matrix from_bf16(const uint16_t* w, int rows, int cols);
  /// N, the number of output features.
  int rows() const { return rows_; }
  /// K, the number of input features.
  int cols() const { return cols_; }
  /// Writes the row-major bf16 bits (rows*cols) for export.
  void to_bf16(uint16_t* out) const;
  /// Writes the row-major values as floats (exact).
  void to_f32(float* out) const;
  /// Writes row n (cols floats, exact): an embedding lookup from a tied weight.
  void row_f32(int n, float* out) const;
  /// Bytes of packed weights held.
  size_t bytes() const { return bytes_; }
  /// Packed data (layout above).
  const uint16_t* packed() const { return reinterpret_cast<const uint16_t*>(data_.get()); }
  /// K rounded up to even: twice the number of pairs per row.
  int padded_cols() const { return cols_ + (cols_ & 1); }

 private:
  uint16_t* mutable_packed() { return reinterpret_cast<uint16_t*>(data_.get()); }
  void allocate(int rows, int cols);
  int rows_ = 0, cols_ = 0;
  size_t bytes_ = 0;
  detail::AlignedBytes data_;
};

/// W(N,K) as int8 with one fp16 scale per block of 32 along K (K % 32 == 0), repacked for
/// the kernels (movable, not copyable). Converts losslessly to and from llama.cpp's Q8_0.
/// Packed layout: rows in groups of 16 (the last padded with zero rows). Values of group g,
/// block b (512 bytes at (g*K/32 + b)*512): chunk j < 8 of 64 bytes holds, for r < 16, the 4
/// bytes q[16g+r][32b+4j .. +3] XOR 0x80 (i.e. q + 128 as unsigned: the unsigned operand of
/// vpdpbusd). Scales: fp16 bits at (g*K/32 + b)*16 + r.
class Q8Matrix {
 public:
  Q8Matrix() = default;
  /// Quantizes f32 row-major W(rows, cols): per block d = max|w|/127 rounded up to fp16,
  /// q = round(w/d) (so |w - d*q| <= d/2). Throws InvalidArgument if cols % 32 != 0, a
  /// weight is not finite, or a scale overflows fp16 (|w| > 8.3e6).
  static Q8Matrix from_f32(const float* w, int rows, int cols);
  /// Takes rows*cols/32 llama.cpp block_q8_0 blocks (34 bytes each, row-major; bytes of a
  /// GGUF Q8_0 tensor) without changing any value. Throws InvalidArgument if cols % 32 != 0.
  static Q8Matrix from_q8_0(const uint8_t* blocks, int rows, int cols);
  /// N, the number of output features.
  int rows() const { return rows_; }
  /// K, the number of input features.
  int cols() const { return cols_; }
  /// Writes rows*cols/32 block_q8_0 blocks (34 bytes each): exactly the blocks read in.
  void to_q8_0(uint8_t* blocks) const;
  /// Writes the row-major dequantized values d*q as floats (exact).
  void to_f32(float* out) const;
  /// Writes row n dequantized (cols floats, exact): an embedding lookup from a tied weight.
  void row_f32(int n, float* out) const;
  /// fp16 bits of the scale of row n, block b.
  uint16_t scale_bits(int n, int b) const;
  /// Quantized value q of W(n, k), in [-128, 127].
  int8_t value(int n, int k) const;
  /// Bytes of packed weights and scales held.
  size_t bytes() const { return bytes_; }
  /// Packed values (layout above).
  const uint8_t* packed() const { return data_.get(); }
  /// Packed scales (layout above).
  const uint16_t* packed_scales() const { return reinterpret_cast<const uint16_t*>(data_.get() + scales_offset_); }

 private:
  uint8_t* mutable_packed() { return data_.get(); }
  uint16_t* mutable_scales() { return reinterpret_cast<uint16_t*>(data_.get() + scales_offset_); }
  void allocate(int rows, int cols);
  int rows_ = 0, cols_ = 0;
  size_t bytes_ = 0, scales_offset_ = 0;
  detail::AlignedBytes data_;
};

/// Quantizes one block of 32 floats: writes the fp16 scale bits to *d and 32 values to q
/// with the rule of Q8Matrix::from_f32 (throws InvalidArgument on non-finite or huge input).
void quantize_block_q8(const float* w, uint16_t* d, int8_t* q);

/// out(M,N) = x(M,K) @ W^T + bias(N), or out += that with accumulate; row-major, contiguous
/// (N = w.rows(), K = w.cols()); bias may be null; out must not overlap x. Uses all OpenMP
/// threads outside a parallel region, the calling thread alone inside one.
void qlinear_forward(float* out, const float* x, const F32Matrix& w, const float* bias, int M,
                     bool accumulate = false);
/// The same for bf16 weights (x is rounded to bf16, see above).
void qlinear_forward(float* out, const float* x, const Bf16Matrix& w, const float* bias, int M,
                     bool accumulate = false);
/// The same for 8-bit weights (x is quantized per block of 32 on the fly, see above).
void qlinear_forward(float* out, const float* x, const Q8Matrix& w, const float* bias, int M,
                     bool accumulate = false);

/// Plain reference: W as stored (dequantized exactly), x as given, sums in double.
void qlinear_forward_ref(float* out, const float* x, const F32Matrix& w, const float* bias, int M,
                         bool accumulate = false);
/// Plain reference for bf16 weights.
void qlinear_forward_ref(float* out, const float* x, const Bf16Matrix& w, const float* bias, int M,
                         bool accumulate = false);
/// Plain reference for 8-bit weights (W dequantized exactly, x not quantized, double sums).
void qlinear_forward_ref(float* out, const float* x, const Q8Matrix& w, const float* bias, int M,
                         bool accumulate = false);

}  // namespace nexus::kernels
