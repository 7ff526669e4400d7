#pragma once
// Run-time CPU feature detection. The whole build targets x86-64-v3 (AVX2+FMA); faster
// paths (AVX-512) live in separately compiled files and are only entered when the CPU
// reports the features here, so one binary runs on every x86-64-v3 machine.
#include <string>

namespace nexus {

/// Instruction-set extensions Nexus kernels care about. An AVX-512 flag is only set when
/// the OS also saves the ZMM/opmask state (XCR0), i.e. when the instructions really work.
struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512dq = false;
  bool avx512vl = false;
  bool avx512bf16 = false;
  bool avx512vnni = false;  // AVX512_VNNI: vpdpbusd int8 dot products
};

/// Features of the CPU this process runs on (detected once, then cached).
const CpuFeatures& cpu_features();

/// One line for benchmark headers: model name (from /proc/cpuinfo when readable), the
/// number of logical CPUs, and the detected feature list, e.g.
/// "AMD EPYC 9R14 (2 logical CPUs) avx2 fma avx512f avx512bw ...".
std::string cpu_description();

}  // namespace nexus
