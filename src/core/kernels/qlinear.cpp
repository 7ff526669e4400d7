// Weight formats of qlinear.h (conversion to and from the packed layouts, llama.cpp's Q8_0
// blocks) and the plain reference forward passes. The fast forward is in qlinear_kernels.cpp.
#include "core/kernels/qlinear.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "core/buffer.h"
#include "core/error.h"
#include "core/half.h"

namespace nexus::kernels {

namespace detail {
void AlignedFreeBytes::operator()(uint8_t* p) const { std::free(p); }
}  // namespace detail

namespace {

constexpr int kQ8ChunkBytes = 64;                   // one vpdpbusd operand: 16 rows x 4 values
constexpr int kQ8GroupBlockBytes = 16 * kQ8Block;   // one group (16 rows) x one block (32 values)

// Zeroed storage of at least n bytes (huge-page advised when large: core/buffer.h).
detail::AlignedBytes allocate_bytes(size_t n) {
  return detail::AlignedBytes(static_cast<uint8_t*>(allocate_zeroed(n)));
}

int groups_of(int rows) { return (rows + kQRowGroup - 1) / kQRowGroup; }

void check_shape(const char* who, int rows, int cols) {
  require(rows > 0 && cols > 0, std::string(who) + ": weight shape must be positive, got " + std::to_string(rows) +
                                    " x " + std::to_string(cols));
}

void check_q8_cols(const char* who, int cols) {
  require(cols % kQ8Block == 0, std::string(who) + ": 8-bit weights need K (columns) a multiple of 32, got " +
                                    std::to_string(cols));
}

// Index of W(n, k) in the packed bf16 layout (np = pairs per row).
size_t bf16_index(int n, int k, int np) {
  const size_t g = n / kQRowGroup, r = n % kQRowGroup;
  return ((g * np + k / 2) * kQRowGroup + r) * 2 + (k & 1);
}

// Index of W(n, k) in the packed q8 values (nb = blocks per row).
size_t q8_index(int n, int k, int nb) {
  const size_t g = n / kQRowGroup, r = n % kQRowGroup, b = k / kQ8Block, j = (k % kQ8Block) / 4;
  return (g * nb + b) * kQ8GroupBlockBytes + j * kQ8ChunkBytes + r * 4 + (k & 3);
}

// Index of the scale of row n, block b.
size_t q8_scale_index(int n, int b, int nb) {
  const size_t g = n / kQRowGroup, r = n % kQRowGroup;
  return (g * nb + b) * kQRowGroup + r;
}

// Block quantization without throwing (used inside OpenMP loops): false on bad input.
bool quantize_block(const float* w, uint16_t* d_out, int8_t* q) {
  float amax = 0.0f;
  for (int i = 0; i < kQ8Block; ++i) {
    if (!std::isfinite(w[i])) return false;
    amax = std::max(amax, std::fabs(w[i]));
  }
  // d = amax/127 rounded to fp16, then raised by ulps until 127*d >= amax, so |w/d| <= 127
  // and every q fits without clamping (fp16 * 127 is exact in float).
  uint16_t d16 = float_to_fp16(amax / 127.0f);
  while (fp16_to_float(d16) * 127.0f < amax && d16 < 0x7C00u) ++d16;
  if (d16 >= 0x7C00u) return false;  // scale overflows fp16
  const float d = fp16_to_float(d16);
  *d_out = d16;
  for (int i = 0; i < kQ8Block; ++i) q[i] = d == 0.0f ? 0 : static_cast<int8_t>(std::nearbyint(w[i] / d));
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// F32Matrix

F32Matrix F32Matrix::from_f32(const float* w, int rows, int cols) {
  check_shape("F32Matrix::from_f32", rows, cols);
  F32Matrix m;
  m.rows_ = rows;
  m.cols_ = cols;
  m.bytes_ = static_cast<size_t>(groups_of(rows)) * kQRowGroup * cols * sizeof(float);
  m.data_ = allocate_bytes(m.bytes_);
  float* p = m.mutable_packed();
  const int groups = groups_of(rows);
  // Group g: (K, 16) = the transpose of rows 16g..16g+15, written sequentially.
#pragma omp parallel for schedule(static) if ((long)rows * cols >= (1 << 20) && !omp_in_parallel())
  for (int g = 0; g < groups; ++g) {
    float* dst = p + static_cast<size_t>(g) * cols * kQRowGroup;
    const int r_end = std::min(kQRowGroup, rows - g * kQRowGroup);
    for (int r = 0; r < r_end; ++r) {
      const float* src = w + static_cast<size_t>(g * kQRowGroup + r) * cols;
      for (int k = 0; k < cols; ++k) dst[static_cast<size_t>(k) * kQRowGroup + r] = src[k];
    }
  }
  return m;
}

void F32Matrix::to_f32(float* out) const {
  for (int n = 0; n < rows_; ++n) row_f32(n, out + static_cast<size_t>(n) * cols_);
}

void F32Matrix::row_f32(int n, float* out) const {
  require(n >= 0 && n < rows_, "F32Matrix::row_f32: row " + std::to_string(n) + " out of range");
  const float* g = packed() + static_cast<size_t>(n / kQRowGroup) * cols_ * kQRowGroup + n % kQRowGroup;
  for (int k = 0; k < cols_; ++k) out[k] = g[static_cast<size_t>(k) * kQRowGroup];
}

// ---------------------------------------------------------------------------------------
// Bf16Matrix

void Bf16Matrix::allocate(int rows, int cols) {
  rows_ = rows;
  cols_ = cols;
  bytes_ = static_cast<size_t>(groups_of(rows)) * kQRowGroup * padded_cols() * sizeof(uint16_t);
  data_ = allocate_bytes(bytes_);
}

Bf16Matrix Bf16Matrix::from_f32(const float* w, int rows, int cols) {
  check_shape("Bf16Matrix::from_f32", rows, cols);
  Bf16Matrix m;
  m.allocate(rows, cols);
  const int np = m.padded_cols() / 2;
  uint16_t* p = m.mutable_packed();
#pragma omp parallel for schedule(static) if ((long)rows * cols >= (1 << 20) && !omp_in_parallel())
  for (int n = 0; n < rows; ++n)
    for (int k = 0; k < cols; ++k) p[bf16_index(n, k, np)] = float_to_bf16(w[static_cast<size_t>(n) * cols + k]);
  return m;
}

Bf16Matrix Bf16Matrix::from_bf16(const uint16_t* w, int rows, int cols) {
  check_shape("Bf16Matrix::from_bf16", rows, cols);
  Bf16Matrix m;
  m.allocate(rows, cols);
  const int np = m.padded_cols() / 2;
  uint16_t* p = m.mutable_packed();
  for (int n = 0; n < rows; ++n)
    for (int k = 0; k < cols; ++k) p[bf16_index(n, k, np)] = w[static_cast<size_t>(n) * cols + k];
  return m;
}

void Bf16Matrix::to_bf16(uint16_t* out) const {
  const int np = padded_cols() / 2;
  for (int n = 0; n < rows_; ++n)
    for (int k = 0; k < cols_; ++k) out[static_cast<size_t>(n) * cols_ + k] = packed()[bf16_index(n, k, np)];
}

void Bf16Matrix::to_f32(float* out) const {
  for (int n = 0; n < rows_; ++n) row_f32(n, out + static_cast<size_t>(n) * cols_);
}

void Bf16Matrix::row_f32(int n, float* out) const {
  require(n >= 0 && n < rows_, "Bf16Matrix::row_f32: row " + std::to_string(n) + " out of range");
  const int np = padded_cols() / 2;
  for (int k = 0; k < cols_; ++k) out[k] = bf16_to_float(packed()[bf16_index(n, k, np)]);
}

// ---------------------------------------------------------------------------------------
// Q8Matrix

void quantize_block_q8(const float* w, uint16_t* d, int8_t* q) {
  require(quantize_block(w, d, q), "quantize_block_q8: weights must be finite and below 8.3e6 in magnitude");
}

void Q8Matrix::allocate(int rows, int cols) {
  rows_ = rows;
  cols_ = cols;
  const size_t blocks = static_cast<size_t>(groups_of(rows)) * (cols / kQ8Block);
  scales_offset_ = blocks * kQ8GroupBlockBytes;
  bytes_ = scales_offset_ + blocks * kQRowGroup * sizeof(uint16_t);
  data_ = allocate_bytes(bytes_);
  // Padding rows must hold q = 0, i.e. the stored byte 0 + 128.
  std::memset(data_.get(), 0x80, scales_offset_);
}

Q8Matrix Q8Matrix::from_f32(const float* w, int rows, int cols) {
  check_shape("Q8Matrix::from_f32", rows, cols);
  check_q8_cols("Q8Matrix::from_f32", cols);
  Q8Matrix m;
  m.allocate(rows, cols);
  const int nb = cols / kQ8Block;
  std::atomic<bool> bad{false};
#pragma omp parallel for schedule(static) if ((long)rows * cols >= (1 << 18) && !omp_in_parallel())
  for (int n = 0; n < rows; ++n) {
    for (int b = 0; b < nb; ++b) {
      int8_t q[kQ8Block];
      uint16_t d = 0;
      if (!quantize_block(w + static_cast<size_t>(n) * cols + b * kQ8Block, &d, q)) {
        bad.store(true, std::memory_order_relaxed);
        continue;
      }
      m.mutable_scales()[q8_scale_index(n, b, nb)] = d;
      for (int i = 0; i < kQ8Block; ++i)
        m.mutable_packed()[q8_index(n, b * kQ8Block + i, nb)] = static_cast<uint8_t>(q[i]) ^ 0x80u;
    }
  }
  require(!bad.load(), "Q8Matrix::from_f32: weights must be finite and below 8.3e6 in magnitude");
  return m;
}

Q8Matrix Q8Matrix::from_q8_0(const uint8_t* blocks, int rows, int cols) {
  check_shape("Q8Matrix::from_q8_0", rows, cols);
  check_q8_cols("Q8Matrix::from_q8_0", cols);
  Q8Matrix m;
  m.allocate(rows, cols);
  const int nb = cols / kQ8Block;
  for (int n = 0; n < rows; ++n) {
    for (int b = 0; b < nb; ++b) {
      const uint8_t* blk = blocks + (static_cast<size_t>(n) * nb + b) * kQ8_0BlockBytes;
      uint16_t d;
      std::memcpy(&d, blk, sizeof d);  // little-endian fp16, as on disk
      m.mutable_scales()[q8_scale_index(n, b, nb)] = d;
      for (int i = 0; i < kQ8Block; ++i) m.mutable_packed()[q8_index(n, b * kQ8Block + i, nb)] = blk[2 + i] ^ 0x80u;
    }
  }
  return m;
}

void Q8Matrix::to_q8_0(uint8_t* blocks) const {
  const int nb = cols_ / kQ8Block;
  for (int n = 0; n < rows_; ++n) {
    for (int b = 0; b < nb; ++b) {
      uint8_t* blk = blocks + (static_cast<size_t>(n) * nb + b) * kQ8_0BlockBytes;
      const uint16_t d = scale_bits(n, b);
      std::memcpy(blk, &d, sizeof d);
      for (int i = 0; i < kQ8Block; ++i) blk[2 + i] = packed()[q8_index(n, b * kQ8Block + i, nb)] ^ 0x80u;
    }
  }
}

uint16_t Q8Matrix::scale_bits(int n, int b) const { return packed_scales()[q8_scale_index(n, b, cols_ / kQ8Block)]; }

int8_t Q8Matrix::value(int n, int k) const {
  return static_cast<int8_t>(packed()[q8_index(n, k, cols_ / kQ8Block)] ^ 0x80u);
}

void Q8Matrix::to_f32(float* out) const {
  for (int n = 0; n < rows_; ++n) row_f32(n, out + static_cast<size_t>(n) * cols_);
}

void Q8Matrix::row_f32(int n, float* out) const {
  require(n >= 0 && n < rows_, "Q8Matrix::row_f32: row " + std::to_string(n) + " out of range");
  const int nb = cols_ / kQ8Block;
  for (int b = 0; b < nb; ++b) {
    const float d = fp16_to_float(scale_bits(n, b));
    for (int i = 0; i < kQ8Block; ++i) out[b * kQ8Block + i] = d * static_cast<float>(value(n, b * kQ8Block + i));
  }
}

// ---------------------------------------------------------------------------------------
// References: dequantize each weight row (exact), then double sums.

namespace {

template <class Matrix>
void forward_ref(float* out, const float* x, const Matrix& w, const float* bias, int M, bool accumulate) {
  require(M >= 0, "qlinear_forward_ref: negative M");
  const int N = w.rows(), K = w.cols();
  std::vector<float> row(K);
  for (int n = 0; n < N; ++n) {
    w.row_f32(n, row.data());
    for (int m = 0; m < M; ++m) {
      const float* xm = x + static_cast<size_t>(m) * K;
      double sum = bias ? bias[n] : 0.0;
      for (int k = 0; k < K; ++k) sum += static_cast<double>(row[k]) * xm[k];
      float& o = out[static_cast<size_t>(m) * N + n];
      o = static_cast<float>(accumulate ? sum + o : sum);
    }
  }
}

}  // namespace

void qlinear_forward_ref(float* out, const float* x, const F32Matrix& w, const float* bias, int M,
                         bool accumulate) {
  forward_ref(out, x, w, bias, M, accumulate);
}

void qlinear_forward_ref(float* out, const float* x, const Bf16Matrix& w, const float* bias, int M,
                         bool accumulate) {
  forward_ref(out, x, w, bias, M, accumulate);
}

void qlinear_forward_ref(float* out, const float* x, const Q8Matrix& w, const float* bias, int M,
                         bool accumulate) {
  forward_ref(out, x, w, bias, M, accumulate);
}

}  // namespace nexus::kernels
