#include "core/memory.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace nexus {

MemoryInfo system_memory() {
  std::ifstream in("/proc/meminfo");
  uint64_t avail = 0, total = 0, swap_free = 0, swap_total = 0;
  bool have_avail = false, have_total = false;
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string key;
    uint64_t kb = 0;
    if (!(fields >> key >> kb)) continue;
    if (key == "MemAvailable:") avail = kb * 1024, have_avail = true;
    else if (key == "MemTotal:") total = kb * 1024, have_total = true;
    else if (key == "SwapFree:") swap_free = kb * 1024;
    else if (key == "SwapTotal:") swap_total = kb * 1024;
  }
  if (have_avail && have_total) return {avail + swap_free, total + swap_total};
  const auto page = (uint64_t)sysconf(_SC_PAGESIZE);
  return {(uint64_t)sysconf(_SC_AVPHYS_PAGES) * page, (uint64_t)sysconf(_SC_PHYS_PAGES) * page};
}

void require_memory(double needed_bytes, const std::string& what, const MemoryInfo& mem) {
  if (needed_bytes <= (double)mem.available) return;
  throw InvalidArgument(what + " needs " + format_bytes(needed_bytes) + ", this machine has " +
                        format_bytes((double)mem.available) + " available (of " + format_bytes((double)mem.total) +
                        ")");
}

std::string format_bytes(double bytes) {
  char buf[64];
  if (bytes >= 1e9) std::snprintf(buf, sizeof buf, "%.1f GB", bytes / 1e9);
  else std::snprintf(buf, sizeof buf, "%.1f MB", bytes / 1e6);
  return buf;
}

}  // namespace nexus
