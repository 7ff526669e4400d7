#pragma once
// Typed errors thrown by library code. Only main() turns them into a message and an
// exit code; no code outside src/cli ends the process.
#include <stdexcept>
#include <string>

namespace nexus {

/// Base of every error Nexus throws on purpose. what() is one line a user can act on.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A caller passed a value that is out of range or inconsistent (bad flag, bad config).
class InvalidArgument : public Error {
 public:
  using Error::Error;
};

/// A file could not be opened, read, written or renamed.
class IoError : public Error {
 public:
  using Error::Error;
};

/// A file was read but its contents are malformed (truncated, corrupt, wrong dtype/shape).
class FormatError : public Error {
 public:
  using Error::Error;
};

/// A computation produced a non-finite number it cannot go on from (a diverging training run).
class NumericError : public Error {
 public:
  using Error::Error;
};

/// Throws InvalidArgument(message) when cond is false. For argument checks in library code.
inline void require(bool cond, const std::string& message) {
  if (!cond) throw InvalidArgument(message);
}
/// The same for a fixed message: no string is built unless the check fails (hot paths).
inline void require(bool cond, const char* message) {
  if (!cond) throw InvalidArgument(message);
}

}  // namespace nexus
