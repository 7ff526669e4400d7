#pragma once
// One-block, 64-byte-aligned float storage. Parameters, gradients, optimizer moments and
// activations each live in one FloatBuffer; named views point into it.
#include <sys/mman.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

namespace nexus {

/// Zeroed storage of at least `bytes` bytes (free with std::free), 64-byte aligned. Blocks of
/// 2 MiB or more are 2 MiB aligned and advised to use transparent huge pages: weights,
/// gradients, optimizer moments and KV caches are streamed whole, and with 4 KiB pages every
/// 4 KiB of a stream costs a TLB miss (measured here: ~10-15% of memory-bound kernels).
/// Throws std::bad_alloc.
inline void* allocate_zeroed(size_t bytes) {
  constexpr size_t kHuge = size_t{2} << 20;
  const size_t align = bytes >= kHuge ? kHuge : 64;
  const size_t rounded = std::max((bytes + align - 1) / align * align, align);
  void* p = std::aligned_alloc(align, rounded);
  if (!p) throw std::bad_alloc();
  if (align == kHuge) ::madvise(p, rounded, MADV_HUGEPAGE);  // advice only: plain pages if refused
  std::memset(p, 0, rounded);
  return p;
}

/// Owning, aligned, zero-initialised array of floats. Movable, not copyable.
class FloatBuffer {
 public:
  FloatBuffer() = default;
  explicit FloatBuffer(size_t count) { resize(count); }

  /// Replaces the contents with `count` zeros (old contents are dropped).
  void resize(size_t count) {
    data_.reset();
    size_ = count;
    if (count == 0) return;
    data_.reset(static_cast<float*>(allocate_zeroed(count * sizeof(float))));
  }
  void zero() {
    if (size_) std::memset(data_.get(), 0, size_ * sizeof(float));
  }
  float* data() { return data_.get(); }
  const float* data() const { return data_.get(); }
  size_t size() const { return size_; }
  size_t bytes() const { return size_ * sizeof(float); }
  float& operator[](size_t i) { return data_[i]; }
  const float& operator[](size_t i) const { return data_[i]; }

 private:
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  std::unique_ptr<float[], Free> data_;
  size_t size_ = 0;
};

}  // namespace nexus
