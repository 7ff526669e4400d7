// `nexus bench matmul`: measures a register-only FMA peak, then our gemm() on training
// shapes, side by side with OpenBLAS when libopenblas.so.0 can be dlopen'ed.
#include "matmul_bench.h"

#include <dlfcn.h>
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/cpu.h"
#include "core/error.h"
#include "core/kernels/matmul.h"
#include "core/rng.h"

namespace nexus::bench {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// ---------------------------------------------------------------------------------------
// FMA peak: 16 independent accumulator chains per thread, nothing but FMAs on registers.
// The multiplier < 1 keeps values bounded; the result is summed so nothing is optimized out.

constexpr int kPeakChains = 16;

__attribute__((target("avx512f,fma"))) float fma_loop_avx512(long iters) {
  __m512 acc[kPeakChains];
  for (int i = 0; i < kPeakChains; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  const __m512 m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-6f);
  for (long it = 0; it < iters; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < kPeakChains; ++i) acc[i] = _mm512_fmadd_ps(acc[i], m, a);
  }
  __m512 s = acc[0];
  for (int i = 1; i < kPeakChains; ++i) s = _mm512_add_ps(s, acc[i]);
  float out[16];
  _mm512_storeu_ps(out, s);
  return out[0] + out[15];
}

__attribute__((target("avx2,fma"))) float fma_loop_avx2(long iters) {
  __m256 acc[kPeakChains];
  for (int i = 0; i < kPeakChains; ++i) acc[i] = _mm256_set1_ps(static_cast<float>(i));
  const __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-6f);
  for (long it = 0; it < iters; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < kPeakChains; ++i) acc[i] = _mm256_fmadd_ps(acc[i], m, a);
  }
  __m256 s = acc[0];
  for (int i = 1; i < kPeakChains; ++i) s = _mm256_add_ps(s, acc[i]);
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0] + out[7];
}

// GFLOP/s of the FMA loop on `threads` threads at once (best of a few trials).
double measure_peak_gflops(int threads, bool avx512) {
  const int lanes = avx512 ? 16 : 8;
  const double flops_per_iter = 2.0 * lanes * kPeakChains;
  auto run = [&](long iters) {
    float sum = 0.0f;
    const auto t0 = Clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : sum)
    sum += avx512 ? fma_loop_avx512(iters) : fma_loop_avx2(iters);
    const double t = seconds_since(t0);
    volatile float sink = sum;  // keeps the loops from being optimized away
    (void)sink;
    return t;
  };
  // Calibrate to ~100 ms per trial.
  const long probe = 200000;
  const double t_probe = std::max(1e-6, run(probe));
  const long iters = std::max(probe, static_cast<long>(probe * 0.1 / t_probe));
  double best = 0.0;
  for (int trial = 0; trial < 3; ++trial) {
    const double t = run(iters);
    best = std::max(best, flops_per_iter * iters * threads / t / 1e9);
  }
  return best;
}

// ---------------------------------------------------------------------------------------
// Shapes.

struct Shape {
  int M = 0, N = 0, K = 0;
  bool ta = false, tb = true;
  float beta = 0.0f;
  std::string layout = "nt";
};

Shape make_shape(int M, int N, int K, const std::string& layout) {
  Shape s;
  s.M = M, s.N = N, s.K = K, s.layout = layout;
  s.ta = layout == "tn";
  s.tb = layout == "nt";
  s.beta = layout == "tn" ? 1.0f : 0.0f;  // weight gradients accumulate
  return s;
}

Shape parse_shape(const std::string& text) {
  std::string dims = text, layout = "nt";
  if (auto colon = text.find(':'); colon != std::string::npos) {
    dims = text.substr(0, colon);
    layout = text.substr(colon + 1);
  }
  require(layout == "nt" || layout == "nn" || layout == "tn",
          "matmul bench: layout in '" + text + "' must be nt, nn or tn");
  int v[3] = {0, 0, 0};
  size_t pos = 0;
  for (int d = 0; d < 3; ++d) {
    size_t used = 0;
    long x = 0;
    try {
      x = std::stol(dims.substr(pos), &used);
    } catch (const std::exception&) {
      used = 0;
    }
    require(used > 0 && x > 0 && x <= (1L << 20), "matmul bench: bad shape '" + text + "', want MxNxK[:nt|nn|tn]");
    v[d] = static_cast<int>(x);
    pos += used;
    if (d < 2) {
      require(pos < dims.size() && dims[pos] == 'x', "matmul bench: bad shape '" + text + "', want MxNxK[:nt|nn|tn]");
      ++pos;
    }
  }
  require(pos == dims.size(), "matmul bench: bad shape '" + text + "', want MxNxK[:nt|nn|tn]");
  return make_shape(v[0], v[1], v[2], layout);
}

// Forward shapes (M = tokens, N = out features, K = in features) and, for each, the two
// backward products: dinp = dout (M,N) @ W (N,K) and dW += dout^T (N,M) @ inp (M,K).
std::vector<Shape> training_shapes() {
  const int fwd[][3] = {{768, 384, 128},    {768, 128, 128},     {768, 512, 128},
                        {768, 128, 512},    {16384, 1152, 384},  {16384, 384, 1536},
                        {16384, 1536, 384}, {256, 2304, 768},    {256, 3072, 768},
                        {256, 768, 3072},   {256, 50304, 768}};
  std::vector<Shape> out;
  for (const auto& f : fwd) out.push_back(make_shape(f[0], f[1], f[2], "nt"));
  for (const auto& f : fwd) out.push_back(make_shape(f[0], f[2], f[1], "nn"));
  for (const auto& f : fwd) out.push_back(make_shape(f[1], f[2], f[0], "tn"));
  return out;
}

// ---------------------------------------------------------------------------------------
// OpenBLAS, loaded at run time only.

using CblasSgemm = void (*)(int order, int ta, int tb, int M, int N, int K, float alpha,
                            const float* A, int lda, const float* B, int ldb, float beta,
                            float* C, int ldc);
constexpr int kCblasRowMajor = 101, kCblasNoTrans = 111, kCblasTrans = 112;

struct OpenBlas {
  CblasSgemm sgemm = nullptr;
  std::string description;
};

// The handle is intentionally never closed: OpenBLAS keeps worker threads alive.
OpenBlas load_openblas(int threads, std::string* why_not) {
  OpenBlas ob;
  // Pick OpenBLAS's fastest kernels for this CPU unless the user chose a core type.
  const CpuFeatures& f = cpu_features();
  setenv("OPENBLAS_CORETYPE", f.avx512f ? "SkylakeX" : "Haswell", /*overwrite=*/0);
  void* h = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
  if (h == nullptr) {
    const char* err = dlerror();
    *why_not = err ? err : "dlopen failed";
    return ob;
  }
  ob.sgemm = reinterpret_cast<CblasSgemm>(dlsym(h, "cblas_sgemm"));
  auto set_threads = reinterpret_cast<void (*)(int)>(dlsym(h, "openblas_set_num_threads"));
  auto corename = reinterpret_cast<char* (*)()>(dlsym(h, "openblas_get_corename"));
  auto config = reinterpret_cast<char* (*)()>(dlsym(h, "openblas_get_config"));
  if (ob.sgemm == nullptr) {
    *why_not = "libopenblas.so.0 has no cblas_sgemm";
    return ob;
  }
  if (set_threads) set_threads(threads);
  ob.description = std::string(config ? config() : "OpenBLAS") +
                   " core=" + (corename ? corename() : "?");
  return ob;
}

// ---------------------------------------------------------------------------------------
// Timing.

using GemmFn = std::function<void(const Shape&, const float*, const float*, float*)>;

// Seconds per call of one measurement: the median sample (what is reported) and the best.
struct Timing {
  double median = 0, best = 0;
};

// The first calls of a shape pay for page faults, packing buffers growing, OpenMP workers
// waking and the clock ramping up, so each shape runs for ~20 ms (at least twice) before it
// is timed. Returns the fastest warm-up call, which sizes the timed batches.
double warm_up(const GemmFn& fn, const Shape& s, const float* A, const float* B, float* C) {
  constexpr double kWarmupSeconds = 0.02;
  const auto start = Clock::now();
  double fastest = 1e9;
  for (int calls = 0; calls < 2 || seconds_since(start) < kWarmupSeconds; ++calls) {
    const auto t0 = Clock::now();
    fn(s, A, B, C);
    fastest = std::min(fastest, seconds_since(t0));
  }
  return std::max(1e-7, fastest);
}

// `reps` samples, each a batch of calls lasting >= ~5 ms so that small shapes are not
// dominated by timer resolution.
Timing time_calls(const GemmFn& fn, const Shape& s, const float* A, const float* B, float* C, int reps) {
  const double once = warm_up(fn, s, A, B, C);
  const int batch = std::max(1, static_cast<int>(std::ceil(0.005 / once)));
  std::vector<double> samples;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    for (int b = 0; b < batch; ++b) fn(s, A, B, C);
    samples.push_back(seconds_since(t0) / batch);
  }
  std::sort(samples.begin(), samples.end());
  return {samples[samples.size() / 2], samples[0]};
}

std::vector<float> random_vector(size_t n, uint64_t seed) {
  std::vector<float> v(n);
  Rng rng(seed);
  for (float& x : v) x = 2.0f * hash_to_unit_float(rng.next_u64()) - 1.0f;
  return v;
}

struct Result {
  Shape shape;
  double ms = 0, gflops = 0, pct_peak = 0;  // pct_peak is filled in at the end
  double blas_ms = 0, blas_gflops = 0;  // 0 when OpenBLAS is absent
  bool noisy = false;  // our median is over kNoisyRatio x our best sample
  int tries = 1;       // measurements of this shape (suspicious rows are measured again)
  bool slow = false;   // under half the table's median GFLOP/s after the retries, not noisy
};

constexpr double kNoisyRatio = 1.25;

Result bench_shape(const Shape& s, int reps, const OpenBlas& ob) {
  // Stored operand sizes: A is (M,K) or (K,M) when transposed; B is (K,N) or (N,K).
  const size_t a_size = static_cast<size_t>(s.M) * s.K, b_size = static_cast<size_t>(s.K) * s.N;
  const std::vector<float> A = random_vector(a_size, 1), B = random_vector(b_size, 2);
  std::vector<float> C = random_vector(static_cast<size_t>(s.M) * s.N, 3);
  const int lda = s.ta ? s.M : s.K, ldb = s.tb ? s.K : s.N;
  const GemmFn ours = [&](const Shape& sh, const float* a, const float* b, float* c) {
    kernels::gemm(sh.ta, sh.tb, sh.M, sh.N, sh.K, 1.0f, a, lda, b, ldb, sh.beta, c, sh.N);
  };
  const double flops = 2.0 * s.M * s.N * s.K;
  Result r;
  r.shape = s;
  const Timing t = time_calls(ours, s, A.data(), B.data(), C.data(), reps);
  r.ms = t.median * 1e3, r.gflops = flops / t.median / 1e9;
  r.noisy = t.median > kNoisyRatio * t.best;
  if (ob.sgemm != nullptr) {
    // Let our OpenMP workers stop spinning so they do not steal the cores from OpenBLAS.
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    const GemmFn blas = [&](const Shape& sh, const float* a, const float* b, float* c) {
      ob.sgemm(kCblasRowMajor, sh.ta ? kCblasTrans : kCblasNoTrans, sh.tb ? kCblasTrans : kCblasNoTrans,
               sh.M, sh.N, sh.K, 1.0f, a, lda, b, ldb, sh.beta, c, sh.N);
    };
    const Timing tb = time_calls(blas, s, A.data(), B.data(), C.data(), reps);
    r.blas_ms = tb.median * 1e3, r.blas_gflops = flops / tb.median / 1e9;
    // OpenBLAS workers spin for a while after each call; let them go to sleep.
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
  }
  return r;
}

// Another process taking the cores for a while shows as a row whose samples disagree or that
// runs far below the others: a neighbour's burst during the first shapes once made 768x384x128
// run at 9.5 GFLOP/s (two 4 ms scheduler ticks per call) in a table of ~190, and `nice` does
// not help against other sessions when the kernel schedules by session
// (/proc/sys/kernel/sched_autogroup_enabled). Such rows are measured again after all shapes,
// up to twice, keeping the fastest measurement: a disturbed row recovers, while a row that
// stays under half the typical GFLOP/s with agreeing samples is marked slow (a real slow path).
void remeasure_suspicious(std::vector<Result>& results, int reps, const OpenBlas& ob) {
  std::vector<double> gflops;
  for (const Result& r : results) gflops.push_back(r.gflops);
  std::nth_element(gflops.begin(), gflops.begin() + gflops.size() / 2, gflops.end());
  const double typical = gflops[gflops.size() / 2];
  for (int round = 0; round < 2; ++round)
    for (Result& r : results) {
      if (!r.noisy && r.gflops >= 0.5 * typical) continue;
      const Result again = bench_shape(r.shape, reps, ob);
      const int tries = r.tries + 1;
      if (again.gflops > r.gflops) r = again;
      r.tries = tries;
    }
  for (Result& r : results) r.slow = !r.noisy && r.gflops < 0.5 * typical;
}

// Other runnable processes beyond the cores the benchmark leaves free, from the 1-minute
// load average (0 when unknown).
double competing_load(int threads) {
  double load = 0.0;
  if (getloadavg(&load, 1) != 1) return 0.0;
  const int cpus = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::max(0.0, load - std::max(0, cpus - threads));
}

double round2(double x) { return std::round(x * 100.0) / 100.0; }

nlohmann::json to_json(const Result& r, bool have_blas) {
  nlohmann::json j = {{"m", r.shape.M},          {"n", r.shape.N},
                      {"k", r.shape.K},          {"layout", r.shape.layout},
                      {"beta", r.shape.beta},    {"ms", std::round(r.ms * 1000.0) / 1000.0},
                      {"gflops", round2(r.gflops)}, {"pct_peak", round2(r.pct_peak)},
                      {"tries", r.tries},        {"noisy", r.noisy},
                      {"slow", r.slow}};
  if (have_blas) {
    j["openblas_gflops"] = round2(r.blas_gflops);
    j["ratio_vs_openblas"] = round2(r.gflops / r.blas_gflops);
  }
  return j;
}

void print_row(const Result& r, bool have_blas) {
  char dims[48];
  std::snprintf(dims, sizeof dims, "%dx%dx%d", r.shape.M, r.shape.N, r.shape.K);
  std::printf("%-18s %-6s %9.4f %9.1f %7.1f%%", dims, r.shape.layout.c_str(), r.ms, r.gflops,
              r.pct_peak);
  if (have_blas) std::printf(" %11.1f %7.2f", r.blas_gflops, r.gflops / r.blas_gflops);
  if (r.tries > 1) std::printf("  tries=%d", r.tries);
  if (r.noisy) std::printf("  noisy");
  if (r.slow) std::printf("  slow");
  std::printf("\n");
  std::fflush(stdout);
}

// The table of results, then what its row marks mean when any row has them.
void print_rows(const std::vector<Result>& results, bool have_blas) {
  std::printf("%-18s %-6s %9s %9s %8s", "MxNxK", "layout", "ms", "GFLOP/s", "%peak");
  if (have_blas) std::printf(" %11s %7s", "OpenBLAS", "ratio");
  std::printf("\n");
  for (const Result& r : results) print_row(r, have_blas);
  auto any = [&](bool Result::*flag) {
    return std::any_of(results.begin(), results.end(), [&](const Result& r) { return r.*flag; });
  };
  if (any(&Result::noisy))
    std::printf("noisy: the samples of that row still disagree by over %.2fx after retries (other processes "
                "were using the cores): rerun on an idle machine\n", kNoisyRatio);
  if (any(&Result::slow))
    std::printf("slow: that row stays under half the table's median GFLOP/s in every try, with agreeing "
                "samples: a slow path of gemm for that shape, not noise\n");
}

}  // namespace

int run_matmul_bench(const MatmulBenchOptions& options) {
  require(options.repetitions >= 1, "matmul bench: repetitions must be >= 1");
  std::vector<Shape> shapes;
  for (const std::string& text : options.shapes) shapes.push_back(parse_shape(text));
  if (shapes.empty()) shapes = training_shapes();

  // gemm() uses the OpenMP default thread count; restore the caller's afterwards.
  struct ThreadsGuard {
    int saved = omp_get_max_threads();
    ~ThreadsGuard() { omp_set_num_threads(saved); }
  } guard;
  const int threads = options.threads > 0 ? options.threads : guard.saved;
  omp_set_num_threads(threads);
  const kernels::Isa isa = kernels::active_isa();
  const bool avx512 = isa == kernels::Isa::Avx512;

  std::string why_not;
  const OpenBlas ob = load_openblas(threads, &why_not);
  const bool have_blas = ob.sgemm != nullptr;
  const double load = competing_load(threads);
  if (!options.json_only) {
    std::fprintf(stderr, "matmul bench: %zu shapes, %d threads...\n", shapes.size(), threads);
    if (load > 0.5)
      std::fprintf(stderr, "matmul bench: load average %.1f over the free cores: other processes may compete, "
                   "figures may be noisy\n", load);
  }

  // The machine may be shared: measure the peak before and after and keep the best, so
  // a neighbour's burst during one measurement does not inflate every %peak.
  double peak = measure_peak_gflops(threads, avx512);
  std::vector<Result> results;
  for (const Shape& s : shapes) results.push_back(bench_shape(s, options.repetitions, ob));
  remeasure_suspicious(results, options.repetitions, ob);
  peak = std::max(peak, measure_peak_gflops(threads, avx512));
  for (Result& r : results) r.pct_peak = 100.0 * r.gflops / peak;

  if (!options.json_only) {
    std::printf("matmul bench: %s\n", cpu_description().c_str());
    std::printf("isa=%s threads=%d repetitions=%d (median)  FMA peak %.1f GFLOP/s (%s)\n",
                kernels::isa_name(isa).c_str(), threads, options.repetitions, peak,
                avx512 ? "zmm" : "ymm");
    if (have_blas)
      std::printf("peer: %s (OPENBLAS_CORETYPE=%s)\n", ob.description.c_str(),
                  std::getenv("OPENBLAS_CORETYPE"));
    else
      std::printf("OpenBLAS not found, peer skipped (%s)\n", why_not.c_str());
    print_rows(results, have_blas);
  }
  nlohmann::json rows = nlohmann::json::array();
  for (const Result& r : results) rows.push_back(to_json(r, have_blas));
  const nlohmann::json out = {{"bench", "matmul"},
                              {"isa", kernels::isa_name(isa)},
                              {"threads", threads},
                              {"peak_gflops", round2(peak)},
                              {"competing_load", round2(load)},
                              {"cpu", cpu_description()},
                              {"openblas", have_blas ? ob.description : std::string()},
                              {"results", rows}};
  std::printf("%s\n", out.dump().c_str());
  std::fflush(stdout);
  return 0;
}

}  // namespace nexus::bench
