#pragma once
// Crash-safe file replacement and whole-file reads.
//
// write_file_atomic() writes to a temporary file in the same directory as the target
// (target + ".tmp.<pid>"), flushes and fsyncs it, renames it over the target and then
// fsyncs the directory. If anything fails before the rename, the temporary file is
// removed and IoError is thrown; the previous file at the target path is never touched.
// A reader therefore sees either the complete old file or the complete new one.
#include <cstdint>
#include <cstdio>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>

namespace nexus {

/// Atomically replaces (or creates) `path` with exactly `bytes`. Throws IoError on failure.
void write_file_atomic(const std::string& path, std::string_view bytes);

/// Atomically replaces `path` with whatever `writer` writes to the FILE* it is given.
/// Write errors are detected through ferror() after `writer` returns; an exception thrown
/// by `writer` removes the temporary file and propagates unchanged.
void write_file_atomic(const std::string& path, const std::function<void(std::FILE*)>& writer);

/// Atomically replaces `path` with whatever `writer` writes to the std::ostream it is given
/// (for large files produced piecewise). Same guarantees as the FILE* variant.
void write_file_atomic_stream(const std::string& path, const std::function<void(std::ostream&)>& writer);

/// Reads a whole regular file into a string. Throws IoError naming the path if it is
/// missing, is not a regular file, or cannot be read, and FormatError if it is larger than
/// `max_bytes` (checked before anything is read).
std::string read_file(const std::string& path, uint64_t max_bytes = UINT64_MAX);

/// Creates `dir` and any missing parents. No-op if it already exists as a directory or is
/// empty; throws IoError if it exists as something else or cannot be created.
void ensure_directory(const std::string& dir);

}  // namespace nexus
