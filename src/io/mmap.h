#pragma once
// Read-only memory map of a whole file.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace nexus {

/// RAII read-only, private memory map of an entire regular file. Movable, not copyable.
/// An empty file is not mapped at all: size() is 0 and data() is nullptr.
/// The file must not be truncated by another process while mapped (that raises SIGBUS,
/// as with any mmap); replacing it via rename, as write_file_atomic does, is safe.
class MappedFile {
 public:
  /// An empty mapping (size 0), e.g. as a moved-from state.
  MappedFile() = default;
  /// Maps `path`; throws IoError naming it if it is missing, not a regular file, or unmappable.
  explicit MappedFile(const std::string& path);
  /// Unmaps the file.
  ~MappedFile();
  /// Takes over another mapping, leaving it empty.
  MappedFile(MappedFile&& other) noexcept;
  /// Releases the current mapping and takes over another one.
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  /// First byte of the file (page-aligned), or nullptr when size() == 0.
  const uint8_t* data() const { return data_; }
  /// Size of the file in bytes.
  size_t size() const { return size_; }
  /// The whole file as a string_view.
  std::string_view view() const { return {reinterpret_cast<const char*>(data_), size_}; }
  /// Path the file was opened from.
  const std::string& path() const { return path_; }
  /// Gives back the whole pages inside bytes [offset, offset + bytes) of the map (see
  /// release_pages); InvalidArgument if the range is not inside the file.
  void release(size_t offset, size_t bytes) const;

 private:
  void unmap() noexcept;

  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

/// Gives the whole pages inside [data, data + bytes) back to the kernel (madvise
/// MADV_DONTNEED) so that they stop counting in this process's resident memory; pages only
/// partly inside the range are kept. On a read-only file map this is always safe (a later
/// read faults the page in again from the page cache). Anonymous memory reads back as zeros
/// afterwards, so only pass memory that will not be read again. Best effort: errors ignored.
void release_pages(const void* data, size_t bytes);

}  // namespace nexus
