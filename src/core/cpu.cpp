// CPU feature detection with cpuid + xgetbv (GCC/Clang <cpuid.h>). We query the OS-enabled
// register state ourselves because a CPU can support AVX-512 while the kernel (or a VM)
// has not enabled ZMM state; executing AVX-512 then faults.
#include "core/cpu.h"

#include <cpuid.h>

#include <fstream>
#include <thread>

namespace nexus {
namespace {

// XCR0 (the OS-enabled state-component bitmap). Only valid when cpuid says OSXSAVE.
unsigned long long read_xcr0() {
  unsigned int eax = 0, edx = 0;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<unsigned long long>(edx) << 32) | eax;
}

CpuFeatures detect() {
  CpuFeatures f;
  unsigned int eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return f;
  const bool osxsave = (ecx >> 27) & 1u;
  const bool fma = (ecx >> 12) & 1u;
  const bool avx = (ecx >> 28) & 1u;
  if (!osxsave || !avx) return f;
  const unsigned long long xcr0 = read_xcr0();
  const bool ymm_state = (xcr0 & 0x6) == 0x6;    // SSE + AVX state
  const bool zmm_state = (xcr0 & 0xE6) == 0xE6;  // + opmask, ZMM_Hi256, Hi16_ZMM
  if (!ymm_state) return f;
  f.fma = fma;
  unsigned int max_leaf = __get_cpuid_max(0, nullptr);
  if (max_leaf < 7) return f;
  __cpuid_count(7, 0, eax, ebx, ecx, edx);
  f.avx2 = (ebx >> 5) & 1u;
  if (zmm_state) {
    f.avx512f = (ebx >> 16) & 1u;
    f.avx512dq = (ebx >> 17) & 1u;
    f.avx512bw = (ebx >> 30) & 1u;
    f.avx512vl = (ebx >> 31) & 1u;
    f.avx512vnni = f.avx512f && ((ecx >> 11) & 1u);
    unsigned int a1 = 0, b1 = 0, c1 = 0, d1 = 0;
    __cpuid_count(7, 1, a1, b1, c1, d1);
    f.avx512bf16 = f.avx512f && ((a1 >> 5) & 1u);
  }
  return f;
}

std::string model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon == std::string::npos) break;
      std::string name = line.substr(colon + 1);
      auto first = name.find_first_not_of(" \t");
      return first == std::string::npos ? std::string() : name.substr(first);
    }
  }
  return "unknown CPU";
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect();  // thread-safe static init
  return features;
}

std::string cpu_description() {
  const CpuFeatures& f = cpu_features();
  std::string s = model_name();
  s += " (" + std::to_string(std::thread::hardware_concurrency()) + " logical CPUs)";
  const std::pair<bool, const char*> flags[] = {
      {f.avx2, "avx2"},         {f.fma, "fma"},           {f.avx512f, "avx512f"},
      {f.avx512bw, "avx512bw"}, {f.avx512dq, "avx512dq"}, {f.avx512vl, "avx512vl"},
      {f.avx512bf16, "avx512bf16"}, {f.avx512vnni, "avx512vnni"}};
  for (const auto& [on, name] : flags)
    if (on) s += std::string(" ") + name;
  return s;
}

}  // namespace nexus
