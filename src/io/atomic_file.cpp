#include "io/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <streambuf>

#include "core/error.h"

namespace nexus {
namespace {

std::string errno_text(int err) { return std::strerror(err); }

// Directory holding `path` ("." for a bare file name), used for the directory fsync.
std::string parent_dir(const std::string& path) {
  std::string parent = std::filesystem::path(path).parent_path().string();
  return parent.empty() ? std::string(".") : parent;
}

// fsyncs a directory so a rename inside it is durable. Filesystems that cannot sync
// directories (EINVAL/EROFS/EACCES on open) are tolerated: the rename has already happened.
void sync_directory(const std::string& dir, const std::string& target) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0 && err == EIO)
    throw IoError("wrote " + target + " but syncing directory " + dir + " failed: " + errno_text(err));
}

// Owns the temporary file until it is renamed; removes it on every failure path.
class TempFile {
 public:
  explicit TempFile(const std::string& target)
      : target_(target), tmp_(target + ".tmp." + std::to_string(::getpid())) {
    int fd = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0)
      throw IoError("cannot write " + target_ + ": cannot create temporary file " + tmp_ + ": " +
                    errno_text(errno));
    file_ = ::fdopen(fd, "wb");
    if (!file_) {
      int err = errno;
      ::close(fd);
      ::unlink(tmp_.c_str());
      throw IoError("cannot write " + target_ + ": fdopen failed: " + errno_text(err));
    }
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (file_) std::fclose(file_);
    if (!committed_) ::unlink(tmp_.c_str());
  }

  std::FILE* file() { return file_; }

  // Flushes, fsyncs, closes and renames over the target; throws IoError on any failure.
  void commit() {
    if (std::ferror(file_)) fail("write error");
    if (std::fflush(file_) != 0) fail("flush failed");
    if (::fsync(::fileno(file_)) != 0) fail("fsync failed");
    std::FILE* f = file_;
    file_ = nullptr;
    if (std::fclose(f) != 0) fail("close failed");
    if (std::rename(tmp_.c_str(), target_.c_str()) != 0) fail("rename of " + tmp_ + " failed");
    committed_ = true;
    sync_directory(parent_dir(target_), target_);
  }

 private:
  [[noreturn]] void fail(const std::string& what) {
    throw IoError("cannot write " + target_ + ": " + what + ": " + errno_text(errno));
  }

  std::string target_;
  std::string tmp_;
  std::FILE* file_ = nullptr;
  bool committed_ = false;
};

// Minimal unbuffered streambuf forwarding to a (buffered) FILE*.
class FileStreamBuf : public std::streambuf {
 public:
  explicit FileStreamBuf(std::FILE* f) : f_(f) {}

 protected:
  int_type overflow(int_type c) override {
    if (traits_type::eq_int_type(c, traits_type::eof())) return traits_type::not_eof(c);
    return std::fputc(c, f_) == EOF ? traits_type::eof() : c;
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    return static_cast<std::streamsize>(std::fwrite(s, 1, static_cast<size_t>(n), f_));
  }
  int sync() override { return std::fflush(f_) == 0 ? 0 : -1; }

 private:
  std::FILE* f_;
};

}  // namespace

void write_file_atomic(const std::string& path, const std::function<void(std::FILE*)>& writer) {
  if (path.empty()) throw InvalidArgument("write_file_atomic: empty path");
  TempFile tmp(path);
  writer(tmp.file());
  tmp.commit();
}

void write_file_atomic(const std::string& path, std::string_view bytes) {
  write_file_atomic(path, std::function<void(std::FILE*)>([&](std::FILE* f) {
                      if (!bytes.empty()) std::fwrite(bytes.data(), 1, bytes.size(), f);
                    }));
}

void write_file_atomic_stream(const std::string& path, const std::function<void(std::ostream&)>& writer) {
  write_file_atomic(path, std::function<void(std::FILE*)>([&](std::FILE* f) {
                      FileStreamBuf buf(f);
                      std::ostream os(&buf);
                      writer(os);
                      os.flush();
                      if (!os) throw IoError("cannot write " + path + ": stream write failed");
                    }));
}

std::string read_file(const std::string& path, uint64_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw IoError("cannot open " + path + ": " + errno_text(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw IoError("cannot read " + path + ": not a regular file");
  }
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    ::close(fd);
    throw FormatError(path + " is " + std::to_string(st.st_size) + " bytes, more than the " +
                      std::to_string(max_bytes) + " such a file may have");
  }
  std::string out;
  out.reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      throw IoError("cannot read " + path + ": " + errno_text(err));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

void ensure_directory(const std::string& dir) {
  if (dir.empty()) return;
  std::error_code ec;
  if (std::filesystem::is_directory(dir, ec)) return;
  if (std::filesystem::exists(dir, ec))
    throw IoError("cannot create directory " + dir + ": a non-directory with that name exists");
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir))
    throw IoError("cannot create directory " + dir + ": " + (ec ? ec.message() : "unknown error"));
}

}  // namespace nexus
