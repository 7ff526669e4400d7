#pragma once
// The fuzz input as a file for loaders that only open paths (SafetensorsFile,
// InferenceModel::load): an in-memory file (memfd: no disk I/O per input) reached through
// /proc/self/fd, and a scratch directory on tmpfs for files a target writes.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace nexus::fuzz {

/// Replaces the contents of this process's in-memory input file with `data` and returns its
/// path. Each call invalidates what the previous one wrote (one input at a time).
inline std::string input_file(const uint8_t* data, size_t size) {
  static const int fd = ::memfd_create("nexus_fuzz_input", MFD_CLOEXEC);
  if (fd < 0 || ::ftruncate(fd, 0) != 0) std::abort();
  for (size_t done = 0; done < size;) {
    const ssize_t n = ::pwrite(fd, data + done, size - done, static_cast<off_t>(done));
    if (n <= 0) std::abort();
    done += static_cast<size_t>(n);
  }
  return "/proc/self/fd/" + std::to_string(fd);
}

/// A directory of this process for files a target writes (/dev/shm when present: fsync
/// there costs nothing), created on first use and removed at exit.
inline const std::filesystem::path& scratch_dir() {
  struct Dir {
    std::filesystem::path path;
    Dir() {
      const std::filesystem::path shm = "/dev/shm";
      path = (std::filesystem::is_directory(shm) ? shm : std::filesystem::temp_directory_path()) /
             ("nexus_fuzz_" + std::to_string(::getpid()));
      std::filesystem::create_directories(path);
    }
    ~Dir() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  static const Dir dir;
  return dir.path;
}

}  // namespace nexus::fuzz
