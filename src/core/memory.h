#pragma once
// How much memory this machine can give a process, and the one check every loader runs
// before allocating memory sized by a file or a config: a model too large for the machine
// (or a config.json edited to describe one) fails at once with both figures, instead of
// pushing a machine without swap into the OOM killer after minutes of paging.
#include <cstdint>
#include <string>

namespace nexus {

/// Memory figures of the machine, in bytes.
struct MemoryInfo {
  uint64_t available = 0;  ///< what new allocations can still get without the OOM killer
  uint64_t total = 0;      ///< physical memory plus swap
};

/// MemAvailable + SwapFree (and MemTotal + SwapTotal) from /proc/meminfo: MemAvailable counts
/// the page cache that can be reclaimed, so a model file already in the cache is not counted
/// against itself. Where /proc/meminfo cannot be read: sysconf's available and total pages.
MemoryInfo system_memory();

/// Throws InvalidArgument "<what> needs 14.2 GB, this machine has 9.8 GB available" when
/// needed_bytes > mem.available. `needed_bytes` should be a lower bound of what the caller
/// will allocate (a double, so that absurd configs cannot overflow it): the check then never
/// refuses work that could have fitted.
void require_memory(double needed_bytes, const std::string& what, const MemoryInfo& mem = system_memory());

/// "14.2 GB", "350.0 MB" (decimal units, as the figures of `free -g` and of our reports).
std::string format_bytes(double bytes);

}  // namespace nexus
