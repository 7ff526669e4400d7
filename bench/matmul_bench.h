#pragma once
// `nexus bench matmul`: GEMM throughput on the shapes training uses, against the machine's
// measured FMA peak and, when libopenblas.so.0 is installed, against OpenBLAS (loaded at
// run time with dlopen; Nexus never links it).
#include <string>
#include <vector>

namespace nexus::bench {

struct MatmulBenchOptions {
  int threads = 0;      // OpenMP threads for our GEMM and OpenBLAS; <= 0: OpenMP default
  int repetitions = 7;  // timed samples per shape; the median is reported
  // Shapes "MxNxK[:nt|nn|tn]" (default layout nt = A (M,K) times B^T, B (N,K)). Empty: the
  // training shapes, each in its forward (nt) and backward (nn dinp, tn dW) layout.
  std::vector<std::string> shapes;
  bool json_only = false;  // print only the JSON result line
};

/// Runs the benchmark and prints a table (unless json_only) and then one JSON line
/// {"bench":"matmul","isa":...,"threads":...,"peak_gflops":...,"results":[...]}.
/// Returns 0. Throws InvalidArgument for a malformed shape or bad option.
int run_matmul_bench(const MatmulBenchOptions& options);

}  // namespace nexus::bench
