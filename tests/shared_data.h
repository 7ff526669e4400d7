#pragma once
// Where the tests find the shared data (tinyshakespeare.txt, gpt2/encoder.json + vocab.bpe):
// $NEXUS_SHARED_DATA as set when the test runs, else the folder `shared/data` beside the
// source tree. A test that needs a file there and cannot find it is skipped with the reason
// (CTest lists it as skipped) — and fails when CI=true, so a green CI always means the
// data-dependent checks ran. tests/e2e_common.bash follows the same rule for the scripts.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace nexus_test {

inline std::string shared_data_dir() {
  const char* env = std::getenv("NEXUS_SHARED_DATA");
  if (env && *env) return env;
  return std::string(NEXUS_SOURCE_DIR) + "/../shared/data";
}

/// The path of `relative` under the shared data folder, or "" when it is not there.
inline std::string shared_data_file(const std::string& relative) {
  const std::filesystem::path p = std::filesystem::path(shared_data_dir()) / relative;
  std::error_code ec;
  return std::filesystem::exists(p, ec) ? p.string() : std::string();
}

inline bool running_in_ci() {
  const char* ci = std::getenv("CI");
  return ci && std::string(ci) == "true";
}

}  // namespace nexus_test

/// Declares `const std::string var` = the path of `relative` under the shared data folder;
/// when the file is missing, skips the test (fails it under CI=true) saying what is missing.
#define NEXUS_NEED_SHARED_FILE(var, relative)                                                              \
  const std::string var = nexus_test::shared_data_file(relative);                                        \
  if (var.empty()) {                                                                                      \
    const std::string nexus_missing_ = nexus_test::shared_data_dir() + "/" + (relative) +                 \
                                       " not found (set NEXUS_SHARED_DATA to the folder that holds it)"; \
    if (nexus_test::running_in_ci()) FAIL() << "CI=true and " << nexus_missing_;                          \
    GTEST_SKIP() << nexus_missing_;                                                                       \
  }
