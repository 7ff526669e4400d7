// Low-precision weights (qlinear.h): bf16 rounding, Q8 block quantization and llama.cpp
// Q8_0 block round trips; qlinear_forward on every ISA path against (a) an exact double
// emulation of its documented arithmetic (tight) and (b) the f32 reference with the error
// bound of rounding x (loose); batch-size, thread-count and ISA invariance; bad arguments.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/half.h"
#include "core/kernels/qlinear.h"
#include "kernel_test_util.h"

namespace nexus::kernels {
namespace {

using testutil::IsaGuard;
using testutil::supported_isas;
using testutil::uniform;

// --------------------------------------------------------------------------------------
// Formats.

TEST(QLinearFormat, F32RoundTripsAnyShape) {
  for (auto [rows, cols] : std::vector<std::pair<int, int>>{{1, 1}, {15, 3}, {16, 16}, {17, 33}, {50, 7}}) {
    const std::vector<float> w = uniform(static_cast<size_t>(rows) * cols, rows * 100 + cols);
    const F32Matrix m = F32Matrix::from_f32(w.data(), rows, cols);
    EXPECT_EQ(m.bytes(), static_cast<size_t>((rows + 15) / 16) * 16 * cols * sizeof(float));
    std::vector<float> back(w.size());
    m.to_f32(back.data());
    EXPECT_EQ(back, w) << rows << "x" << cols;
    std::vector<float> row(cols);
    m.row_f32(rows - 1, row.data());
    EXPECT_EQ(0, std::memcmp(row.data(), &w[static_cast<size_t>(rows - 1) * cols], sizeof(float) * cols));
    // Padding rows of the last group are zero (kernels read them).
    const float* p = m.packed();
    for (int k = 0; k < cols; ++k)
      for (int r = rows % 16 == 0 ? 16 : rows % 16; r < 16; ++r)
        ASSERT_EQ(p[(static_cast<size_t>((rows - 1) / 16) * cols + k) * 16 + r], 0.0f);
  }
  EXPECT_THROW(F32Matrix::from_f32(nullptr, 0, 4), InvalidArgument);
}

TEST(QLinearFormat, Bf16RoundsToNearestEven) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<std::pair<float, uint16_t>> cases = {
      {1.0f, 0x3F80},
      {-2.5f, 0xC020},
      {1.0f + 0x1p-8f, 0x3F80},            // halfway, even neighbour below
      {1.0f + 3 * 0x1p-8f, 0x3F82},        // halfway, even neighbour above
      {1.0f + 0x1p-8f + 0x1p-20f, 0x3F81},  // just above halfway
      {0.0f, 0x0000},
      {-0.0f, 0x8000},
      {inf, 0x7F80},
      {-inf, 0xFF80},
      {3.4028235e38f, 0x7F80},  // max float rounds up to infinity
  };
  std::vector<float> w;
  for (const auto& c : cases) w.push_back(c.first);
  const Bf16Matrix m = Bf16Matrix::from_f32(w.data(), 1, static_cast<int>(w.size()));
  std::vector<uint16_t> bits(w.size());
  m.to_bf16(bits.data());
  for (size_t i = 0; i < cases.size(); ++i) EXPECT_EQ(bits[i], cases[i].second) << "value " << cases[i].first;
  // NaN stays NaN (quiet).
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Bf16Matrix n = Bf16Matrix::from_f32(&nan, 1, 1);
  uint16_t nb;
  n.to_bf16(&nb);
  EXPECT_TRUE(std::isnan(bf16_to_float(nb)));
}

TEST(QLinearFormat, Bf16RoundTripsAnyShape) {
  for (auto [rows, cols] : {std::pair{1, 1}, {17, 7}, {33, 64}, {5, 129}}) {
    Rng rng(rows * 1000 + cols);
    std::vector<uint16_t> bits(static_cast<size_t>(rows) * cols), back(bits.size());
    for (auto& b : bits) b = static_cast<uint16_t>(rng.next_u64());
    const Bf16Matrix m = Bf16Matrix::from_bf16(bits.data(), rows, cols);
    m.to_bf16(back.data());
    EXPECT_EQ(bits, back) << rows << "x" << cols;
    std::vector<float> f(bits.size()), row(cols);
    m.to_f32(f.data());
    m.row_f32(rows - 1, row.data());
    for (size_t i = 0; i < bits.size(); ++i) {
      const float want = bf16_to_float(bits[i]);
      if (!std::isnan(want)) {
        EXPECT_EQ(f[i], want);
      }
    }
    EXPECT_EQ(0, std::memcmp(row.data(), f.data() + static_cast<size_t>(rows - 1) * cols, sizeof(float) * cols));
  }
}

// Checks the Q8 contract on one block: |q| <= 127, d is amax/127 rounded up to fp16, and
// every value is within d/2 (up to the float rounding of w/d).
void expect_good_block(const float* w, uint16_t d16, const int8_t* q) {
  float amax = 0.0f;
  for (int i = 0; i < kQ8Block; ++i) amax = std::max(amax, std::fabs(w[i]));
  const float d = fp16_to_float(d16);
  EXPECT_GE(d * 127.0f, amax);
  if (d16 > 0) {
    EXPECT_LT(fp16_to_float(d16 - 1) * 127.0f, amax) << "scale not the smallest fp16 >= amax/127";
  }
  for (int i = 0; i < kQ8Block; ++i) {
    EXPECT_LE(std::abs(q[i]), 127);
    EXPECT_LE(std::fabs(w[i] - d * q[i]), 0.5 * d * (1 + 1e-5)) << "w=" << w[i] << " q=" << int(q[i]) << " d=" << d;
  }
}

TEST(QLinearFormat, Q8QuantizationErrorWithinHalfScale) {
  std::vector<std::vector<float>> blocks;
  blocks.push_back(std::vector<float>(kQ8Block, 0.0f));  // all zero: d = 0
  blocks.push_back(uniform(kQ8Block, 1, -1.0f, 1.0f));
  blocks.push_back(uniform(kQ8Block, 2, -1e-7f, 1e-7f));  // fp16-subnormal scale
  blocks.push_back(uniform(kQ8Block, 3, -3000.0f, 3000.0f));
  std::vector<float> spike(kQ8Block, 0.01f);
  spike[5] = -40.0f;  // one outlier sets the scale
  blocks.push_back(spike);
  for (const auto& b : blocks) {
    uint16_t d;
    int8_t q[kQ8Block];
    quantize_block_q8(b.data(), &d, q);
    expect_good_block(b.data(), d, q);
  }
  // The matrix applies the same rule to every block.
  const int rows = 19, cols = 96;
  const std::vector<float> w = testutil::normal(static_cast<size_t>(rows) * cols, 4, 0.05f);
  const Q8Matrix m = Q8Matrix::from_f32(w.data(), rows, cols);
  std::vector<float> deq(w.size());
  m.to_f32(deq.data());
  for (int n = 0; n < rows; ++n)
    for (int b = 0; b < cols / kQ8Block; ++b) {
      int8_t q[kQ8Block];
      for (int i = 0; i < kQ8Block; ++i) q[i] = m.value(n, b * kQ8Block + i);
      expect_good_block(&w[static_cast<size_t>(n) * cols + b * kQ8Block], m.scale_bits(n, b), q);
      for (int i = 0; i < kQ8Block; ++i)
        EXPECT_EQ(deq[static_cast<size_t>(n) * cols + b * kQ8Block + i], fp16_to_float(m.scale_bits(n, b)) * q[i]);
    }
}

TEST(QLinearFormat, Q8_0BlocksRoundTripExactly) {
  const int rows = 21, cols = 128, nblocks = rows * cols / kQ8Block;
  Rng rng(7);
  std::vector<uint8_t> blocks(static_cast<size_t>(nblocks) * kQ8_0BlockBytes);
  for (int b = 0; b < nblocks; ++b) {
    uint8_t* blk = &blocks[static_cast<size_t>(b) * kQ8_0BlockBytes];
    const uint16_t d = float_to_fp16(0.001f + 0.01f * rng.uniform());
    std::memcpy(blk, &d, 2);
    for (int i = 0; i < kQ8Block; ++i) blk[2 + i] = static_cast<uint8_t>(rng.next_u64());  // includes -128
  }
  const Q8Matrix m = Q8Matrix::from_q8_0(blocks.data(), rows, cols);
  std::vector<uint8_t> back(blocks.size());
  m.to_q8_0(back.data());
  EXPECT_EQ(blocks, back);
  // Values are d * q of the block read in.
  std::vector<float> row(cols);
  m.row_f32(rows - 1, row.data());
  for (int k = 0; k < cols; ++k) {
    const uint8_t* blk = &blocks[(static_cast<size_t>(rows - 1) * cols + k) / kQ8Block * kQ8_0BlockBytes];
    uint16_t d;
    std::memcpy(&d, blk, 2);
    EXPECT_EQ(row[k], fp16_to_float(d) * static_cast<int8_t>(blk[2 + k % kQ8Block]));
  }
  // f32 -> Q8Matrix -> Q8_0 -> Q8Matrix keeps every value.
  const std::vector<float> w = uniform(static_cast<size_t>(rows) * cols, 8);
  const Q8Matrix a = Q8Matrix::from_f32(w.data(), rows, cols);
  a.to_q8_0(back.data());
  const Q8Matrix b = Q8Matrix::from_q8_0(back.data(), rows, cols);
  std::vector<float> fa(w.size()), fb(w.size());
  a.to_f32(fa.data());
  b.to_f32(fb.data());
  EXPECT_EQ(fa, fb);
}

TEST(QLinearFormat, RejectsBadShapesAndValues) {
  std::vector<float> w(48 * 2, 0.5f);
  EXPECT_THROW(Q8Matrix::from_f32(w.data(), 2, 48), InvalidArgument);
  std::vector<uint8_t> blocks(4 * kQ8_0BlockBytes);
  EXPECT_THROW(Q8Matrix::from_q8_0(blocks.data(), 2, 48), InvalidArgument);
  EXPECT_THROW(Q8Matrix::from_f32(w.data(), 0, 32), InvalidArgument);
  EXPECT_THROW(Bf16Matrix::from_f32(w.data(), 2, 0), InvalidArgument);
  w[3] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(Q8Matrix::from_f32(w.data(), 1, 32), InvalidArgument);
  w[3] = 1e7f;  // scale above the fp16 range
  EXPECT_THROW(Q8Matrix::from_f32(w.data(), 1, 32), InvalidArgument);
  const Q8Matrix m = Q8Matrix::from_f32(w.data() + 32, 1, 32);
  std::vector<float> row(32), out(4), x(64);
  EXPECT_THROW(m.row_f32(1, row.data()), InvalidArgument);
  EXPECT_THROW(qlinear_forward(out.data(), x.data(), m, nullptr, -1), InvalidArgument);
  EXPECT_THROW(qlinear_forward(out.data(), x.data(), Q8Matrix(), nullptr, 1), InvalidArgument);
  EXPECT_THROW(qlinear_forward(out.data(), x.data(), Bf16Matrix(), nullptr, 1), InvalidArgument);
}

// --------------------------------------------------------------------------------------
// Forward.

// What a forward pass must produce: the documented arithmetic evaluated in double (value),
// the f32 accumulation error it may add (tight), and its distance bound from the f32
// reference qlinear_forward_ref (loose: tight + the exact effect of rounding x).
struct Expected {
  std::vector<double> value, tight, loose;
};

// Adds bias, accumulate and the tolerance terms common to both formats.
void finish_expected(Expected& e, size_t i, double sum, double abs_terms, double terms, double x_err,
                     const float* bias, int n, const float* out0) {
  const double b = bias ? bias[n] : 0.0, o = out0 ? out0[i] : 0.0;
  e.value[i] = sum + b + o;
  e.tight[i] = 0x1p-23 * (terms + 2) * (abs_terms + std::fabs(b) + std::fabs(o)) + 1e-30;
  e.loose[i] = x_err * (1 + 1e-6) + e.tight[i] + 0x1p-23 * std::fabs(e.value[i]);
}

// Expected outputs of a dense (f32 or bf16) weight: x rounded by round_x as the kernels
// round it, then one chain of fmas per output, so the exact sum is within K roundings of it;
// x_err bounds what the rounding of x moved.
template <class Matrix, class RoundX>
Expected expect_dense(const float* x, const Matrix& w, const float* bias, int M, const float* out0, RoundX round_x) {
  const int N = w.rows(), K = w.cols();
  std::vector<float> wf(static_cast<size_t>(N) * K);
  w.to_f32(wf.data());
  Expected e{std::vector<double>(static_cast<size_t>(M) * N), {}, {}};
  e.tight = e.loose = e.value;
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      double sum = 0, abs_terms = 0, x_err = 0;
      for (int k = 0; k < K; ++k) {
        const float xk = x[static_cast<size_t>(m) * K + k], xr = round_x(xk);
        const double wk = wf[static_cast<size_t>(n) * K + k];
        sum += wk * xr;
        abs_terms += std::fabs(wk * xr);
        x_err += std::fabs(wk) * std::fabs(static_cast<double>(xk) - xr);
      }
      finish_expected(e, static_cast<size_t>(m) * N + n, sum, abs_terms, K, x_err, bias, n, out0);
    }
  return e;
}

// f32: x as given.
Expected expect_f32(const float* x, const F32Matrix& w, const float* bias, int M, const float* out0) {
  return expect_dense(x, w, bias, M, out0, [](float v) { return v; });
}

// bf16: x rounded to bf16 (nearest even).
Expected expect_bf16(const float* x, const Bf16Matrix& w, const float* bias, int M, const float* out0) {
  return expect_dense(x, w, bias, M, out0, [](float v) { return bf16_to_float(float_to_bf16(v)); });
}

Expected expect_q8(const float* x, const Q8Matrix& w, const float* bias, int M, const float* out0) {
  const int N = w.rows(), K = w.cols(), nb = K / kQ8Block;
  // x quantized as documented: dx = amax/127, qx = round-half-even(x * (127/amax)) in float.
  std::vector<int> qx(static_cast<size_t>(M) * K);
  std::vector<float> dx(static_cast<size_t>(M) * nb);
  for (int m = 0; m < M; ++m)
    for (int b = 0; b < nb; ++b) {
      const float* xb = x + static_cast<size_t>(m) * K + b * kQ8Block;
      float amax = 0.0f;
      for (int i = 0; i < kQ8Block; ++i) amax = std::max(amax, std::fabs(xb[i]));
      const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
      dx[static_cast<size_t>(m) * nb + b] = amax / 127.0f;
      for (int i = 0; i < kQ8Block; ++i)
        qx[static_cast<size_t>(m) * K + b * kQ8Block + i] = static_cast<int>(std::nearbyint(xb[i] * inv));
    }
  Expected e{std::vector<double>(static_cast<size_t>(M) * N), {}, {}};
  e.tight = e.loose = e.value;
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      double sum = 0, abs_terms = 0, x_err = 0;
      for (int b = 0; b < nb; ++b) {
        const float d = fp16_to_float(w.scale_bits(n, b)), dxb = dx[static_cast<size_t>(m) * nb + b];
        long dot = 0;
        for (int i = 0; i < kQ8Block; ++i) {
          const size_t k = static_cast<size_t>(b) * kQ8Block + i;
          const int q = qx[static_cast<size_t>(m) * K + k];
          dot += static_cast<long>(w.value(n, static_cast<int>(k))) * q;
          x_err += std::fabs(static_cast<double>(d) * w.value(n, static_cast<int>(k))) *
                   std::fabs(static_cast<double>(x[static_cast<size_t>(m) * K + k]) - static_cast<double>(dxb) * q);
        }
        const double term = static_cast<double>(dot) * static_cast<float>(d * dxb);  // the kernels' f32 scale
        sum += term;
        abs_terms += std::fabs(term);
      }
      finish_expected(e, static_cast<size_t>(m) * N + n, sum, abs_terms, nb, x_err, bias, n, out0);
    }
  return e;
}

// Reports how many outputs miss want by more than tol (and the worst one).
void expect_within(const std::string& what, const std::vector<float>& got, const std::vector<double>& want,
                   const std::vector<double>& tol) {
  size_t bad = 0, worst = 0;
  double worst_ratio = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double ratio = std::fabs(got[i] - want[i]) / tol[i];
    if (!(ratio <= 1.0)) ++bad;
    if (!(ratio <= worst_ratio)) worst_ratio = ratio, worst = i;
  }
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << got.size() << " outputs off; worst [" << worst << "] got "
                     << got[worst] << " want " << want[worst] << " (error/tolerance " << worst_ratio << ")";
}

struct Case {
  int M, N, K;
  bool bias, accumulate;
};

std::string describe(Isa isa, const Case& c) {
  return isa_name(isa) + " M=" + std::to_string(c.M) + " N=" + std::to_string(c.N) + " K=" + std::to_string(c.K) +
         (c.bias ? " bias" : "") + (c.accumulate ? " accumulate" : "");
}

std::vector<Case> cases(bool q8) {
  std::vector<Case> out;
  const std::vector<std::pair<int, int>> shapes =
      q8 ? std::vector<std::pair<int, int>>{{16, 32}, {37, 64}, {70, 96}, {130, 256}}
         : std::vector<std::pair<int, int>>{{16, 32}, {33, 7}, {50, 45}, {70, 96}, {130, 256}};
  for (int M : {1, 2, 3, 7, 12, 16, 64, 100, 512})
    for (auto [N, K] : shapes) {
      if (static_cast<long>(M) * N * K > 5'000'000) continue;  // keep the double emulation fast
      out.push_back({M, N, K, (M + N) % 2 == 0, M == 7});
    }
  out.push_back({1, 2304, 768, true, false});  // GPT-2-small-shaped: many groups over both threads
  out.push_back({3, 2304, 768, false, true});
  if (!q8) out.push_back({16, 100, 2500, true, true});  // f32 cuts K > 1024 into blocks (two row tiles)
  return out;
}

template <class Matrix, class Expect>
void run_cases(bool q8, const Expect& expect) {
  IsaGuard guard;
  for (const Case& c : cases(q8)) {
    const std::vector<float> wf = testutil::normal(static_cast<size_t>(c.N) * c.K, c.N * 31 + c.K, 0.2f);
    const Matrix w = Matrix::from_f32(wf.data(), c.N, c.K);
    const std::vector<float> x = uniform(static_cast<size_t>(c.M) * c.K, c.M * 7 + c.K, -2.0f, 2.0f);
    const std::vector<float> bias = uniform(c.N, c.N, -1.0f, 1.0f);
    const std::vector<float> out0 = uniform(static_cast<size_t>(c.M) * c.N, 99);
    const float* b = c.bias ? bias.data() : nullptr;
    const Expected e = expect(x.data(), w, b, c.M, c.accumulate ? out0.data() : nullptr);
    std::vector<float> ref = out0;
    qlinear_forward_ref(ref.data(), x.data(), w, b, c.M, c.accumulate);
    for (Isa isa : supported_isas()) {
      set_active_isa(isa);
      std::vector<float> got = c.accumulate ? out0 : std::vector<float>(out0.size(), NAN);
      qlinear_forward(got.data(), x.data(), w, b, c.M, c.accumulate);
      expect_within(describe(isa, c) + " vs exact emulation", got, e.value, e.tight);
      expect_within(describe(isa, c) + " vs f32 reference", got, std::vector<double>(ref.begin(), ref.end()), e.loose);
    }
  }
}

TEST(QLinearForward, F32MatchesReference) { run_cases<F32Matrix>(false, expect_f32); }

TEST(QLinearForward, Bf16MatchesEmulationAndReference) { run_cases<Bf16Matrix>(false, expect_bf16); }

TEST(QLinearForward, Q8MatchesEmulationAndReference) { run_cases<Q8Matrix>(true, expect_q8); }

// The same row of x gives bit-identical outputs at any batch size, thread count, from inside
// a parallel region and on any ISA path: every path performs the same float operations per
// output (q8: exact integer block dots, then one fma per block; bf16: exact products added
// odd-then-even per pair, which is how vdpbf16ps is specified).
template <class Matrix>
void check_invariance(int K = 320) {
  IsaGuard guard;
  const int M = 64, N = 200;
  const std::vector<float> wf = testutil::normal(static_cast<size_t>(N) * K, 5, 0.2f);
  const Matrix w = Matrix::from_f32(wf.data(), N, K);
  const std::vector<float> x = uniform(static_cast<size_t>(M) * K, 6), bias = uniform(N, 7);
  std::vector<float> first;
  for (Isa isa : supported_isas()) {
    set_active_isa(isa);
    std::vector<float> all(static_cast<size_t>(M) * N), one(N), inside(all.size());
    qlinear_forward(all.data(), x.data(), w, bias.data(), M);
    for (int m = 0; m < M; m += 13) {
      qlinear_forward(one.data(), x.data() + static_cast<size_t>(m) * K, w, bias.data(), 1);
      EXPECT_EQ(0, std::memcmp(one.data(), &all[static_cast<size_t>(m) * N], sizeof(float) * N))
          << isa_name(isa) << " row " << m << " differs between M=1 and M=" << M;
    }
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    std::vector<float> single(all.size());
    qlinear_forward(single.data(), x.data(), w, bias.data(), M);
    omp_set_num_threads(saved);
    EXPECT_EQ(all, single) << isa_name(isa) << ": 1 thread differs";
#pragma omp parallel for num_threads(2) schedule(static)
    for (int m = 0; m < M; m += 8)
      qlinear_forward(&inside[static_cast<size_t>(m) * N], x.data() + static_cast<size_t>(m) * K, w, bias.data(), 8);
    EXPECT_EQ(all, inside) << isa_name(isa) << ": calls inside a parallel region differ";
    if (first.empty()) {
      first = all;
    } else {
      EXPECT_EQ(first, all) << isa_name(isa) << " differs from the scalar path";
    }
  }
}

TEST(QLinearForward, F32InvariantToBatchThreadsAndIsa) { check_invariance<F32Matrix>(); }

// K = 2500 is cut into three blocks when there are several row tiles (M = 64) and not at
// M = 1: the partial sums carried between blocks must continue each chain exactly.
TEST(QLinearForward, F32KBlocksContinueTheSameChain) { check_invariance<F32Matrix>(2500); }

TEST(QLinearForward, Bf16InvariantToBatchThreadsAndIsa) { check_invariance<Bf16Matrix>(); }

TEST(QLinearForward, Q8InvariantToBatchThreadsAndIsa) { check_invariance<Q8Matrix>(); }

// Found by fuzz_gguf_model: a NaN or an infinity in x became INT_MIN in the 8-bit activation
// block, whose sum overflowed int32 (undefined behaviour, UBSan) and whose outputs were finite
// garbage or infinities. A row holding one now gives NaN on every path, as in f32; the other
// rows are unchanged.
TEST(QLinearForward, Q8RowsWithNonFiniteInputAreNaN) {
  IsaGuard guard;
  const int M = 4, N = 40, K = 96;
  const std::vector<float> wf = testutil::normal(static_cast<size_t>(N) * K, 8, 0.2f);
  const Q8Matrix w = Q8Matrix::from_f32(wf.data(), N, K);
  std::vector<float> x = uniform(static_cast<size_t>(M) * K, 9);
  x[1 * K + 40] = NAN;
  x[2 * K + 5] = INFINITY;
  x[3 * K + 95] = -INFINITY;
  for (Isa isa : supported_isas()) {
    set_active_isa(isa);
    std::vector<float> got(static_cast<size_t>(M) * N), row0(N);
    qlinear_forward(got.data(), x.data(), w, nullptr, M);
    qlinear_forward(row0.data(), x.data(), w, nullptr, 1);
    for (int n = 0; n < N; ++n) {
      EXPECT_EQ(got[n], row0[n]) << isa_name(isa);
      EXPECT_TRUE(std::isfinite(got[n])) << isa_name(isa);
      for (int m = 1; m < M; ++m)
        EXPECT_TRUE(std::isnan(got[static_cast<size_t>(m) * N + n])) << isa_name(isa) << " row " << m;
    }
  }
}

}  // namespace
}  // namespace nexus::kernels
