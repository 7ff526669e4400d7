#pragma once
// Thread control. Nexus uses one thread pool, OpenMP's; kernels never start another.
namespace nexus {

/// Number of CPUs this process may run on (affinity mask), at least 1.
int available_cores();

/// Sets the OpenMP thread count for all later kernels; n <= 0 means available_cores().
void set_num_threads(int n);

/// Current OpenMP thread count.
int num_threads();

}  // namespace nexus
