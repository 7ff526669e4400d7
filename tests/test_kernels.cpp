// Every forward kernel against a plain reference: the kernel's own `_ref` (double
// arithmetic) where one exists, otherwise a double-precision loop written here. Odd sizes
// exercise vector tails; large ones the OpenMP paths; gemm-based kernels run on every ISA.
#include <gtest/gtest.h>
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "core/kernels/adamw.h"
#include "core/kernels/attention.h"
#include "core/kernels/crossentropy.h"
#include "core/kernels/dropout.h"
#include "core/kernels/embedding.h"
#include "core/kernels/gelu.h"
#include "core/kernels/layernorm.h"
#include "core/kernels/linear.h"
#include "core/kernels/matmul.h"
#include "core/kernels/small_gemm.h"
#include "core/kernels/vecmath.h"
#include "kernel_test_util.h"

namespace nexus::kernels {
namespace {

using testutil::expect_close;
using testutil::IsaGuard;
using testutil::supported_isas;

std::string dims(std::initializer_list<std::pair<const char*, long>> kv) {
  std::string s;
  for (auto& [k, v] : kv) s += std::string(s.empty() ? "" : " ") + k + "=" + std::to_string(v);
  return s;
}

// Restores the OpenMP thread count when a test ends.
class ThreadGuard {
 public:
  ThreadGuard() : saved_(omp_get_max_threads()) {}
  ~ThreadGuard() { omp_set_num_threads(saved_); }

 private:
  int saved_;
};

// ---------------------------------------------------------------------------------------
// LayerNorm

TEST(LayerNorm, ForwardMatchesReference) {
  uint64_t seed = 1;
  for (int N : {1, 5, 64, 130})
    for (int C : {1, 3, 8, 67, 256})
      for (bool bias : {true, false})
        for (float offset : {0.0f, 20.0f}) {  // a large mean must not cost precision
          const std::string what = dims({{"N", N}, {"C", C}, {"bias", bias}, {"offset", (long)offset}});
          std::vector<float> x = testutil::normal((size_t)N * C, seed++, 2.0f);
          for (float& v : x) v += offset;
          const std::vector<float> w = testutil::uniform(C, seed++, 0.5f, 1.5f);
          const std::vector<float> b = testutil::uniform(C, seed++);
          std::vector<float> out((size_t)N * C), mean(N), rstd(N), rout((size_t)N * C), rmean(N), rrstd(N);
          layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(), bias ? b.data() : nullptr, N,
                            C);
          layernorm_forward_ref(rout.data(), rmean.data(), rrstd.data(), x.data(), w.data(),
                                bias ? b.data() : nullptr, N, C);
          expect_close("out " + what, out.data(), rout.data(), out.size(), 2e-5, 1e-5);
          expect_close("mean " + what, mean.data(), rmean.data(), N, 1e-6, 1e-6);
          expect_close("rstd " + what, rstd.data(), rrstd.data(), N, 1e-6, 2e-6);
        }
}

TEST(LayerNorm, ReferenceNormalisesRows) {
  // Unit weight, zero bias: every row of the output has mean 0 and variance ~1.
  const int N = 3, C = 50;
  std::vector<float> x = testutil::normal(N * C, 7, 3.0f), w(C, 1.0f), out(N * C);
  layernorm_forward_ref(out.data(), nullptr, nullptr, x.data(), w.data(), nullptr, N, C);
  for (int i = 0; i < N; i++) {
    double m = 0, v = 0;
    for (int c = 0; c < C; c++) m += out[i * C + c];
    m /= C;
    for (int c = 0; c < C; c++) v += (out[i * C + c] - m) * (out[i * C + c] - m);
    EXPECT_NEAR(m, 0.0, 1e-6);
    EXPECT_NEAR(v / C, 1.0, 1e-4);  // eps 1e-5 shrinks it by ~1e-5/var
  }
}

// ---------------------------------------------------------------------------------------
// GELU

TEST(Gelu, ForwardMatchesReference) {
  for (long N : {1L, 7L, 8L, 13L, 100003L}) {  // tails and the threaded path (N >= 16384)
    std::vector<float> x = testutil::uniform(N, 100 + N, -10.0f, 10.0f);
    if (N > 8) x[0] = 0.0f, x[1] = -30.0f, x[2] = 30.0f, x[3] = 1e-20f;
    std::vector<float> out(N), ref(N);
    gelu_forward(out.data(), x.data(), N);
    gelu_forward_ref(ref.data(), x.data(), N);
    // Absolute error: tanh near -1 comes from 1 - 2/(e^2u + 1), which cancels.
    expect_close("gelu N=" + std::to_string(N), out.data(), ref.data(), N, 3e-6, 1e-5);
    gelu_forward(x.data(), x.data(), N);  // in place gives the same bits
    EXPECT_EQ(0, std::memcmp(x.data(), out.data(), N * sizeof(float))) << "in-place gelu N=" << N;
  }
}

TEST(Gelu, ReferenceKnownValues) {
  const float x[] = {0.0f, 1.0f, -1.0f, 3.0f};
  float y[4];
  gelu_forward_ref(y, x, 4);
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_NEAR(y[1], 0.8411920f, 1e-6);  // torch.nn.functional.gelu(1, approximate="tanh")
  EXPECT_NEAR(y[2], -0.1588080f, 1e-6);
  EXPECT_NEAR(y[3], 2.9963627f, 1e-6);
}

// ---------------------------------------------------------------------------------------
// Cross-entropy

TEST(CrossEntropy, ForwardMatchesReference) {
  uint64_t seed = 10;
  for (int N : {1, 6, 300})
    for (int V : {1, 2, 7, 8, 65, 1001})
      for (float offset : {0.0f, 100.0f}) {  // logits far from 0 must not overflow exp
        std::vector<float> logits = testutil::uniform((size_t)N * V, seed++, -5.0f, 5.0f);
        for (float& v : logits) v += offset;
        const std::vector<int32_t> tg = testutil::tokens(N, seed++, V);
        std::vector<float> loss(N), ref(N);
        crossentropy_forward(loss.data(), logits.data(), tg.data(), N, V);
        crossentropy_forward_ref(ref.data(), logits.data(), tg.data(), N, V);
        expect_close("loss " + dims({{"N", N}, {"V", V}, {"offset", (long)offset}}), loss.data(), ref.data(), N,
                     2e-6 + 1e-7 * offset, 1e-5);
      }
}

TEST(CrossEntropy, ReferenceUniformLogitsGiveLogV) {
  const int V = 10;
  std::vector<float> logits(V, 3.0f), loss(1);
  const int32_t target = 4;
  crossentropy_forward_ref(loss.data(), logits.data(), &target, 1, V);
  EXPECT_NEAR(loss[0], std::log(10.0), 1e-6);
}

TEST(CrossEntropy, ForwardBackwardGivesSoftmaxMinusOneHot) {
  uint64_t seed = 50;
  for (int N : {1, 6, 300})
    for (int V : {1, 7, 65, 1001}) {
      const std::string what = dims({{"N", N}, {"V", V}});
      const std::vector<float> logits = testutil::uniform((size_t)N * V, seed++, -6.0f, 6.0f);
      const std::vector<int32_t> tg = testutil::tokens(N, seed++, V);
      const float scale = 1.0f / N;
      std::vector<float> d = logits, loss(N), ref(N);
      crossentropy_forward_backward(loss.data(), d.data(), tg.data(), N, V, scale);
      crossentropy_forward_ref(ref.data(), logits.data(), tg.data(), N, V);
      expect_close("loss " + what, loss.data(), ref.data(), N, 2e-6, 1e-5);
      // Analytic dlogits in double: (softmax - onehot) * scale.
      std::vector<double> want((size_t)N * V);
      for (int i = 0; i < N; i++) {
        const float* x = logits.data() + (size_t)i * V;
        double mx = *std::max_element(x, x + V), sum = 0;
        for (int v = 0; v < V; v++) sum += std::exp((double)x[v] - mx);
        for (int v = 0; v < V; v++)
          want[(size_t)i * V + v] = (std::exp((double)x[v] - mx) / sum - (v == tg[i])) * scale;
      }
      expect_close("dlogits " + what, d.data(), want.data(), want.size(), 1e-6 * scale, 1e-5);
    }
}

// ---------------------------------------------------------------------------------------
// Attention

struct AttnCase {
  int B, T, C, NH;
};

const AttnCase kAttnCases[] = {{1, 1, 8, 2},  {2, 7, 16, 2},  {1, 8, 8, 1},    {1, 64, 32, 4},
                               {2, 65, 24, 3}, {1, 130, 12, 1}, {1, 200, 64, 4}, {3, 33, 48, 6}};

TEST(Attention, ForwardMatchesReference) {
  uint64_t seed = 200;
  for (const AttnCase& c : kAttnCases) {
    const std::string what = dims({{"B", c.B}, {"T", c.T}, {"C", c.C}, {"NH", c.NH}});
    // Scores of std ~2 give peaked as well as flat softmax rows.
    const std::vector<float> qkv = testutil::normal((size_t)c.B * c.T * 3 * c.C, seed++, 1.5f);
    const size_t ny = (size_t)c.B * c.T * c.C, nl = (size_t)c.B * c.NH * c.T;
    std::vector<float> y(ny), lse(nl), ry(ny), rlse(nl), y2(ny);
    attention_forward(y.data(), lse.data(), qkv.data(), c.B, c.T, c.C, c.NH);
    attention_forward_ref(ry.data(), rlse.data(), qkv.data(), c.B, c.T, c.C, c.NH);
    expect_close("y " + what, y.data(), ry.data(), ny, 5e-6, 2e-5);
    expect_close("lse " + what, lse.data(), rlse.data(), nl, 2e-6, 1e-6);
    attention_forward(y2.data(), nullptr, qkv.data(), c.B, c.T, c.C, c.NH);  // lse is optional
    EXPECT_EQ(0, std::memcmp(y.data(), y2.data(), ny * sizeof(float))) << what;
  }
}

TEST(Attention, FirstRowCopiesValueAndTEqualsOneIsValue) {
  // Query 0 sees only key 0, so y[b,0] = v[b,0] for every head, whatever the scores.
  const int B = 2, T = 5, C = 12, NH = 3;
  const std::vector<float> qkv = testutil::normal((size_t)B * T * 3 * C, 3, 4.0f);
  std::vector<float> y((size_t)B * T * C);
  attention_forward(y.data(), nullptr, qkv.data(), B, T, C, NH);
  for (int b = 0; b < B; b++)
    for (int c = 0; c < C; c++) EXPECT_FLOAT_EQ(y[(size_t)b * T * C + c], qkv[(size_t)b * T * 3 * C + 2 * C + c]);
}

// Double reference of one head: query i attends to keys 0 .. i + Tk - Tq.
void head_ref(std::vector<double>& y, std::vector<double>& lse, const float* q, int qs, const float* k, int ks,
              const float* v, int vs, int Tq, int Tk, int hs) {
  y.assign((size_t)Tq * hs, 0.0);
  lse.assign(Tq, 0.0);
  std::vector<double> s(Tk);
  for (int i = 0; i < Tq; i++) {
    const int n = i + Tk - Tq + 1;
    double mx = -INFINITY, sum = 0;
    for (int j = 0; j < n; j++) {
      double d = 0;
      for (int c = 0; c < hs; c++) d += (double)q[(size_t)i * qs + c] * k[(size_t)j * ks + c];
      s[j] = d / std::sqrt((double)hs);
      mx = std::max(mx, s[j]);
    }
    for (int j = 0; j < n; j++) sum += (s[j] = std::exp(s[j] - mx));
    for (int j = 0; j < n; j++)
      for (int c = 0; c < hs; c++) y[(size_t)i * hs + c] += s[j] / sum * v[(size_t)j * vs + c];
    lse[i] = mx + std::log(sum);
  }
}

TEST(Attention, HeadForwardKvCacheMatchesReference) {
  uint64_t seed = 300;
  const int shapes[][3] = {{1, 1, 8}, {1, 17, 8}, {3, 70, 16}, {5, 200, 12}, {64, 129, 4}, {7, 7, 5}};
  for (const auto& sh : shapes) {
    const int Tq = sh[0], Tk = sh[1], hs = sh[2];
    const std::string what = dims({{"Tq", Tq}, {"Tk", Tk}, {"hs", hs}});
    // Distinct padded strides for q, k, v and y, as in a KV cache with other heads.
    const int qs = hs + 3, ks = 2 * hs + 1, vs = hs + 5, ys = hs + 2;
    const std::vector<float> q = testutil::normal((size_t)Tq * qs, seed++, 1.5f);
    const std::vector<float> k = testutil::normal((size_t)Tk * ks, seed++, 1.5f);
    const std::vector<float> v = testutil::normal((size_t)Tk * vs, seed++);
    std::vector<float> y((size_t)Tq * ys, 123.0f), lse(Tq), scratch(attention_head_scratch_floats(Tk, hs));
    attention_head_forward(y.data(), ys, lse.data(), q.data(), qs, k.data(), ks, v.data(), vs, Tq, Tk, hs,
                           scratch.data());
    std::vector<double> ry, rlse;
    head_ref(ry, rlse, q.data(), qs, k.data(), ks, v.data(), vs, Tq, Tk, hs);
    std::vector<float> packed((size_t)Tq * hs);
    for (int i = 0; i < Tq; i++) {
      for (int c = 0; c < hs; c++) packed[(size_t)i * hs + c] = y[(size_t)i * ys + c];
      for (int c = hs; c < ys; c++) EXPECT_EQ(y[(size_t)i * ys + c], 123.0f) << "padding written " << what;
    }
    expect_close("y " + what, packed.data(), ry.data(), packed.size(), 5e-6, 2e-5);
    expect_close("lse " + what, lse.data(), rlse.data(), Tq, 2e-6, 1e-6);
  }
}

TEST(Attention, HeadForwardOnCacheEqualsLastRowsOfFullForward) {
  // Decoding the last Tq tokens against the cached keys must reproduce the full pass.
  const int B = 1, T = 75, C = 16, NH = 2, hs = C / NH, Tq = 4;
  const std::vector<float> qkv = testutil::normal((size_t)T * 3 * C, 9, 1.5f);
  std::vector<float> y((size_t)T * C), ry((size_t)T * C);
  attention_forward(y.data(), nullptr, qkv.data(), B, T, C, NH);
  std::vector<float> scratch(attention_head_scratch_floats(T, hs));
  for (int h = 0; h < NH; h++) {
    const float* base = qkv.data() + h * hs;
    attention_head_forward(ry.data() + (size_t)(T - Tq) * C + h * hs, C, nullptr, base + (size_t)(T - Tq) * 3 * C,
                           3 * C, base + C, 3 * C, base + 2 * C, 3 * C, Tq, T, hs, scratch.data());
  }
  expect_close("cached rows", y.data() + (size_t)(T - Tq) * C, ry.data() + (size_t)(T - Tq) * C, (size_t)Tq * C,
               1e-6, 1e-6);
}

TEST(Attention, DropoutRateZeroIsNoDropoutAndMaskIsThreadIndependent) {
  ThreadGuard tg;
  const int B = 2, T = 70, C = 16, NH = 4;
  const std::vector<float> qkv = testutil::normal((size_t)B * T * 3 * C, 4, 1.5f);
  const size_t ny = (size_t)B * T * C;
  std::vector<float> y0(ny), yz(ny), y1(ny), y2(ny), y3(ny);
  attention_forward(y0.data(), nullptr, qkv.data(), B, T, C, NH);
  attention_forward(yz.data(), nullptr, qkv.data(), B, T, C, NH, {0.0f, 99});
  EXPECT_EQ(0, std::memcmp(y0.data(), yz.data(), ny * sizeof(float)));
  omp_set_num_threads(1);
  attention_forward(y1.data(), nullptr, qkv.data(), B, T, C, NH, {0.25f, 7});
  omp_set_num_threads(2);
  attention_forward(y2.data(), nullptr, qkv.data(), B, T, C, NH, {0.25f, 7});
  attention_forward(y3.data(), nullptr, qkv.data(), B, T, C, NH, {0.25f, 8});
  EXPECT_EQ(0, std::memcmp(y1.data(), y2.data(), ny * sizeof(float))) << "thread count changed the mask";
  EXPECT_NE(0, std::memcmp(y1.data(), y0.data(), ny * sizeof(float))) << "rate 0.25 dropped nothing";
  EXPECT_NE(0, std::memcmp(y1.data(), y3.data(), ny * sizeof(float))) << "seed did not change the mask";
}

// ---------------------------------------------------------------------------------------
// Embedding

TEST(Embedding, ForwardIsTokenPlusPositionRow) {
  // The last shape is large enough for the threaded path.
  for (auto [B, T, C, V] : {std::tuple{1, 1, 1, 3}, std::tuple{2, 5, 7, 4}, std::tuple{4, 64, 256, 50}}) {
    const std::vector<int32_t> tok = testutil::tokens((size_t)B * T, 11 + C, V);
    const std::vector<float> wte = testutil::uniform((size_t)V * C, 12), wpe = testutil::uniform((size_t)T * C, 13);
    std::vector<float> out((size_t)B * T * C), ref(out.size());
    embedding_forward(out.data(), tok.data(), wte.data(), wpe.data(), B, T, C);
    for (int b = 0; b < B; b++)
      for (int t = 0; t < T; t++)
        for (int c = 0; c < C; c++)
          ref[((size_t)b * T + t) * C + c] = wte[(size_t)tok[b * T + t] * C + c] + wpe[(size_t)t * C + c];
    EXPECT_EQ(0, std::memcmp(out.data(), ref.data(), out.size() * sizeof(float))) << dims({{"B", B}, {"C", C}});
  }
}

// ---------------------------------------------------------------------------------------
// Linear (gemm-based: every ISA path)

void linear_ref(std::vector<double>& out, const float* inp, const float* w, const float* b, int N, int C, int OC) {
  for (int i = 0; i < N; i++)
    for (int o = 0; o < OC; o++) {
      double s = b ? b[o] : 0.0;
      for (int c = 0; c < C; c++) s += (double)inp[(size_t)i * C + c] * w[(size_t)o * C + c];
      out[(size_t)i * OC + o] += s;
    }
}

TEST(Linear, ForwardMatchesReferenceOnEveryIsa) {
  IsaGuard guard;
  const int shapes[][3] = {{1, 1, 1}, {5, 7, 3}, {33, 65, 17}, {64, 128, 96}, {300, 24, 256}};
  for (Isa isa : supported_isas()) {
    set_active_isa(isa);
    uint64_t seed = 400;
    for (const auto& s : shapes)
      for (bool bias : {true, false})
        for (bool acc : {false, true}) {
          const int N = s[0], C = s[1], OC = s[2];
          const std::string what =
              isa_name(isa) + " " + dims({{"N", N}, {"C", C}, {"OC", OC}, {"bias", bias}, {"acc", acc}});
          const std::vector<float> inp = testutil::uniform((size_t)N * C, seed++);
          const std::vector<float> w = testutil::uniform((size_t)OC * C, seed++);
          const std::vector<float> b = testutil::uniform(OC, seed++);
          std::vector<float> out = testutil::uniform((size_t)N * OC, seed++);
          if (!acc) std::fill(out.begin(), out.end(), NAN);  // must be written, not read
          std::vector<double> ref(out.size(), 0.0);
          if (acc) std::copy(out.begin(), out.end(), ref.begin());
          linear_forward(out.data(), inp.data(), w.data(), bias ? b.data() : nullptr, N, C, OC, acc);
          linear_ref(ref, inp.data(), w.data(), bias ? b.data() : nullptr, N, C, OC);
          expect_close(what, out.data(), ref.data(), out.size(), 2e-7 * (C + 4), 1e-6);
        }
  }
}

TEST(Linear, BackwardMatchesReferenceOnEveryIsa) {
  IsaGuard guard;
  const int shapes[][3] = {{1, 1, 1}, {5, 7, 3}, {33, 65, 17}, {300, 24, 256}};
  for (Isa isa : supported_isas()) {
    set_active_isa(isa);
    uint64_t seed = 500;
    for (const auto& s : shapes)
      for (bool acc : {false, true}) {
        const int N = s[0], C = s[1], OC = s[2];
        const std::string what = isa_name(isa) + " " + dims({{"N", N}, {"C", C}, {"OC", OC}, {"acc", acc}});
        const std::vector<float> inp = testutil::uniform((size_t)N * C, seed++);
        const std::vector<float> w = testutil::uniform((size_t)OC * C, seed++);
        const std::vector<float> dout = testutil::uniform((size_t)N * OC, seed++);
        std::vector<float> dinp = testutil::uniform((size_t)N * C, seed++);
        std::vector<float> dw = testutil::uniform((size_t)OC * C, seed++), db = testutil::uniform(OC, seed++);
        std::vector<double> rdinp(dinp.size(), 0.0), rdw(dw.begin(), dw.end()), rdb(db.begin(), db.end());
        if (acc) std::copy(dinp.begin(), dinp.end(), rdinp.begin());
        else std::fill(dinp.begin(), dinp.end(), NAN);
        for (int i = 0; i < N; i++)
          for (int o = 0; o < OC; o++) {
            const double g = dout[(size_t)i * OC + o];
            rdb[o] += g;
            for (int c = 0; c < C; c++) {
              rdinp[(size_t)i * C + c] += g * w[(size_t)o * C + c];
              rdw[(size_t)o * C + c] += g * inp[(size_t)i * C + c];
            }
          }
        linear_backward(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(), w.data(), N, C, OC, acc);
        expect_close("dinp " + what, dinp.data(), rdinp.data(), dinp.size(), 2e-7 * (OC + 4), 1e-6);
        expect_close("dweight " + what, dw.data(), rdw.data(), dw.size(), 2e-7 * (N + 4), 1e-6);
        expect_close("dbias " + what, db.data(), rdb.data(), db.size(), 2e-7 * (N + 4), 1e-6);
      }
  }
}

// ---------------------------------------------------------------------------------------
// AdamW, gradient norm, scaling

TEST(AdamW, SeveralStepsMatchReference) {
  for (size_t n : {size_t{1}, size_t{13}, size_t{100003}})  // the large one is threaded
    for (float wd : {0.0f, 0.1f}) {
      std::vector<float> p = testutil::normal(n, 600 + n), m(n, 0.0f), v(n, 0.0f);
      std::vector<float> rp = p, rm = m, rv = v;
      AdamWParams hp;
      hp.lr = 3e-3f;
      hp.weight_decay = wd;
      for (long step = 1; step <= 5; step++) {
        hp.step = step;
        std::vector<float> g = testutil::normal(n, 700 + step, 0.1f);
        if (n > 8) g[0] = 0.0f, g[1] = 1e-6f, g[2] = -50.0f;  // zero, tiny and huge gradients
        adamw_update(p.data(), g.data(), m.data(), v.data(), n, hp);
        adamw_update_ref(rp.data(), g.data(), rm.data(), rv.data(), n, hp);
        const std::string what = "n=" + std::to_string(n) + " wd=" + std::to_string(wd) + " step " +
                                 std::to_string(step);
        expect_close("params " + what, p.data(), rp.data(), n, 1e-6, 2e-6);
        expect_close("m " + what, m.data(), rm.data(), n, 1e-8, 2e-6);  // m cancels: absolute part
        expect_close("v " + what, v.data(), rv.data(), n, 1e-12, 2e-6);
      }
    }
}

TEST(AdamW, FirstStepMovesEachParameterByLrTimesSignOfGradient) {
  // Step 1: m_hat = g and v_hat = g^2, so the update is lr * g / (|g| + eps) ~ lr * sign(g),
  // after the decoupled decay p *= 1 - lr * wd.
  const float p0[] = {1.0f, -2.0f, 0.5f}, g[] = {0.3f, -4.0f, 0.0f};
  AdamWParams hp;
  hp.lr = 0.01f;
  hp.weight_decay = 0.5f;
  for (auto update : {adamw_update, adamw_update_ref}) {
    float p[3] = {p0[0], p0[1], p0[2]}, m[3] = {}, v[3] = {};
    update(p, g, m, v, 3, hp);
    EXPECT_NEAR(p[0], 1.0f * 0.995f - 0.01f, 1e-6);
    EXPECT_NEAR(p[1], -2.0f * 0.995f + 0.01f, 1e-6);
    EXPECT_NEAR(p[2], 0.5f * 0.995f, 1e-6);
    EXPECT_NEAR(m[1], -0.4f, 1e-6);
    EXPECT_NEAR(v[1], 0.016f, 1e-6);  // 1 - 0.999f is 0.00099999 in float
  }
}

TEST(AdamW, L2NormAndScale) {
  for (size_t n : {size_t{0}, size_t{5}, size_t{100003}}) {
    std::vector<float> x = testutil::normal(n, 800 + n, 3.0f);
    double ss = 0;
    for (float v : x) ss += (double)v * v;
    // Float partial sums over blocks of 1024 (exact in double would be 1e-12 here).
    EXPECT_NEAR(l2_norm(x.data(), n), std::sqrt(ss), 1e-6 * (1.0 + std::sqrt(ss))) << "n=" << n;
    std::vector<float> y = x;
    scale_inplace(y.data(), n, 0.37f);
    for (size_t i = 0; i < n; i++) ASSERT_EQ(y[i], x[i] * 0.37f) << "i=" << i;
  }
  const float three_four[] = {3.0f, 4.0f};
  EXPECT_DOUBLE_EQ(l2_norm(three_four, 2), 5.0);
}

// ---------------------------------------------------------------------------------------
// Dropout

TEST(Dropout, RateZeroIsIdentity) {
  const std::vector<float> x = testutil::normal(1000, 1);
  std::vector<float> out(1000), y = x;
  dropout_forward(out.data(), x.data(), 1000, 0.0f, 5);
  EXPECT_EQ(out, x);
  dropout_forward(y.data(), y.data(), 1000, 0.0f, 5);
  EXPECT_EQ(y, x);
  dropout_backward(out.data(), x.data(), 1000, 0.0f, 5);
  EXPECT_EQ(out, x);
}

TEST(Dropout, KeepsAboutOneMinusRateAndScalesKeptValues) {
  const long n = 1 << 20;
  const std::vector<float> x = testutil::uniform(n, 2, 0.5f, 1.5f);  // never zero
  std::vector<float> out(n);
  for (float rate : {0.1f, 0.5f, 0.9f}) {
    dropout_forward(out.data(), x.data(), n, rate, 42);
    const float scale = 1.0f / (1.0f - rate);
    long kept = 0, wrong = 0;
    for (long i = 0; i < n; i++) {
      if (out[i] != 0.0f) {
        kept++;
        wrong += out[i] != x[i] * scale;
      }
    }
    EXPECT_EQ(wrong, 0) << "kept values must be inp / (1 - rate); rate " << rate;
    // Binomial std of the kept fraction is < 0.0005 here; 0.003 is > 6 sigma.
    EXPECT_NEAR((double)kept / n, 1.0 - rate, 0.003) << "rate " << rate;
  }
}

TEST(Dropout, MaskDependsOnSeedOnlyNotOnThreadsAndBackwardReusesIt) {
  ThreadGuard tg;
  const long n = 100003;  // above the threading threshold
  const std::vector<float> x = testutil::uniform(n, 3, 0.5f, 1.5f), dout = testutil::normal(n, 4);
  std::vector<float> a(n), b(n), c(n), din(n), inplace = x;
  omp_set_num_threads(1);
  dropout_forward(a.data(), x.data(), n, 0.3f, 77);
  omp_set_num_threads(2);
  dropout_forward(b.data(), x.data(), n, 0.3f, 77);
  dropout_forward(c.data(), x.data(), n, 0.3f, 78);
  EXPECT_EQ(a, b) << "thread count changed the mask";
  EXPECT_NE(a, c) << "seed did not change the mask";
  dropout_forward(inplace.data(), inplace.data(), n, 0.3f, 77);
  EXPECT_EQ(inplace, a) << "in-place differs";
  dropout_backward(din.data(), dout.data(), n, 0.3f, 77);
  long mismatched = 0;
  for (long i = 0; i < n; i++) mismatched += din[i] != dout[i] * (a[i] / x[i] != 0.0f ? 1.0f / 0.7f : 0.0f);
  EXPECT_EQ(mismatched, 0) << "backward must apply the forward's mask and scale";
  std::vector<float> din2 = dout;
  dropout_backward(din2.data(), din2.data(), n, 0.3f, 77);
  EXPECT_EQ(din2, din) << "in-place backward differs";
}

// ---------------------------------------------------------------------------------------
// vecmath

TEST(VecMath, Exp8AndExp1MatchStdExp) {
  // Relative accuracy over the range that does not underflow or overflow float.
  double worst = 0, worst_x = 0;
  for (double xd = -87.0; xd <= 88.0; xd += 0.001953125 * 3.1) {
    const float x = (float)xd;
    alignas(32) float in[8], out[8];
    for (int l = 0; l < 8; l++) in[l] = x + l * 1e-3f;
    _mm256_store_ps(out, exp8(_mm256_load_ps(in)));
    for (int l = 0; l < 8; l++) {
      const double want = std::exp((double)in[l]);
      const double rel = std::fabs(out[l] - want) / want;
      if (rel > worst) worst = rel, worst_x = in[l];
    }
    ASSERT_EQ(exp1(x), out[0]) << "exp1 and exp8 disagree at " << x;
  }
  EXPECT_LT(worst, 4 * 1.2e-7) << "worst relative error at x = " << worst_x;  // ~4 ulp
  EXPECT_EQ(exp1(0.0f), 1.0f);
  // Out of range: tiny (>= 0, < 2e-38) below, huge (>= 1e38 or inf) above.
  for (float x : {-88.0f, -100.0f, -1e30f, -INFINITY}) {
    EXPECT_GE(exp1(x), 0.0f) << x;
    EXPECT_LT(exp1(x), 2e-38f) << x;
  }
  for (float x : {88.5f, 100.0f, 1e30f}) EXPECT_GE(exp1(x), 1e38f) << x;
}

TEST(VecMath, ShiftedExpHelpersMatchDouble) {
  for (int n : {1, 3, 8, 13, 64, 67}) {
    const std::vector<float> x = testutil::uniform(n, 900 + n, -8.0f, 8.0f);
    const float shift = 2.5f, scale = 0.3f;
    std::vector<double> e(n);
    double sum = 0;
    for (int i = 0; i < n; i++) sum += (e[i] = std::exp((double)x[i] - shift));
    const std::string what = "n=" + std::to_string(n);
    EXPECT_NEAR(sum_exp_shifted(x.data(), n, shift), sum, 1e-6 * sum) << what;
    std::vector<float> out(n), scaled(n);
    EXPECT_NEAR(exp_shifted_sum(out.data(), x.data(), n, shift), sum, 1e-6 * sum) << what;
    expect_close("exp_shifted_sum " + what, out.data(), e.data(), n, 0.0, 1e-6);
    exp_shifted_scaled(scaled.data(), x.data(), n, shift, scale);
    for (double& v : e) v *= scale;
    expect_close("exp_shifted_scaled " + what, scaled.data(), e.data(), n, 0.0, 1e-6);
  }
}

// small_gemm against its reference on every ISA path: row-major and transposed A, overwrite
// and accumulate, row counts that exercise every tile height and ragged row groups, column
// counts with every tail (N % 64 = 8 .. 56). Every path computes each output as the same
// chain of FMAs, so the paths agree bit for bit.
TEST(SmallGemm, MatchesReferenceForBothALayoutsOnEveryPath) {
  IsaGuard guard;
  const int shapes[][3] = {{1, 8, 1},   {5, 16, 7},  {32, 64, 32}, {13, 24, 70}, {64, 32, 32},
                           {7, 40, 0},  {6, 72, 9},  {11, 120, 5}, {32, 128, 64}, {3, 56, 17}};
  for (const auto& sh : shapes) {
    const int M = sh[0], N = sh[1], K = sh[2];
    for (bool trans : {false, true}) {
      for (bool acc : {false, true}) {
        const int lda = trans ? M + 3 : K + 5, ldb = N + 8, ldc = N + 4;
        const long a_rs = trans ? 1 : lda, a_ks = trans ? lda : 1;
        auto a = testutil::uniform((size_t)(trans ? K : M) * lda + 8, 11 + M);
        auto b = testutil::uniform((size_t)K * ldb + 8, 12 + N);
        auto c0 = testutil::uniform((size_t)M * ldc, 13 + K);
        auto want = c0;
        small_gemm_ref(M, N, K, a.data(), a_rs, a_ks, b.data(), ldb, want.data(), ldc, acc);
        std::vector<float> first;
        for (Isa isa : supported_isas()) {
          if (isa == Isa::Scalar) continue;  // small_gemm has AVX2 and AVX-512 paths
          set_active_isa(isa);
          auto got = c0;
          small_gemm(M, N, K, a.data(), a_rs, a_ks, b.data(), ldb, got.data(), ldc, acc);
          const std::string what = isa_name(isa) + " small_gemm M" + std::to_string(M) + " N" + std::to_string(N) +
                                   " K" + std::to_string(K) + (trans ? " A^T" : " A") + (acc ? " +=" : " =");
          testutil::expect_close(what, got.data(), want.data(), got.size(), 1e-5, 1e-5);
          // Columns N..ldc of C are never touched.
          for (int i = 0; i < M; i++)
            for (int j = N; j < ldc; j++) ASSERT_EQ(got[(size_t)i * ldc + j], c0[(size_t)i * ldc + j]) << what;
          if (first.empty())
            first = got;
          else
            EXPECT_EQ(first, got) << what << ": differs from the AVX2 path";
        }
      }
    }
  }
}

}  // namespace
}  // namespace nexus::kernels
