// Caching allocators, one per device, with byte counters that tests and the planner read.
//
// Every request is rounded up to a multiple of kAllocationGranularity (512 bytes, as PyTorch's CUDA
// caching allocator); current and peak count rounded bytes held by live tensors. The Meta allocator
// hands out no memory but counts exactly like the others, so a shape-only run of a step reports the
// same peak as the real run.
//
// CPU: 64-byte aligned host blocks kept in per-size free lists for reuse.
// CUDA: stream-ordered cudaMallocAsync / cudaFreeAsync on the device's default memory pool with its
//       release threshold raised so freed memory stays cached in the pool.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

#include "kernels/core/device.h"

namespace nnuc {

constexpr std::size_t kAllocationGranularity = 512;

// The bytes an allocation of `bytes` accounts for on every device (0 stays 0).
constexpr std::size_t rounded_allocation_bytes(std::size_t bytes) {
  return (bytes + kAllocationGranularity - 1) / kAllocationGranularity * kAllocationGranularity;
}

struct AllocatorStats {
  std::size_t current_bytes = 0;   // rounded bytes held by live allocations
  std::size_t peak_bytes = 0;      // highest current_bytes since the last reset_peak()
  std::size_t cached_bytes = 0;    // freed bytes kept for reuse (CPU); 0 on Meta and CUDA
  std::uint64_t allocations = 0;   // number of allocate() calls since the last reset_peak()
};

class Allocator {
 public:
  explicit Allocator(Device device) : device_(device) {}
  ~Allocator();
  Allocator(const Allocator&) = delete;
  Allocator& operator=(const Allocator&) = delete;

  // Returns storage of at least `bytes` (nullptr on Meta, and for 0 bytes). `stream` is the
  // cudaStream_t the memory is first used on (CUDA only; ignored elsewhere).
  void* allocate(std::size_t bytes, void* stream = nullptr);
  // Gives back what allocate() returned for the same `bytes` and `stream`. Never throws.
  void deallocate(void* pointer, std::size_t bytes, void* stream = nullptr) noexcept;

  AllocatorStats stats() const;
  void reset_peak();
  // Returns cached host blocks to the system (CPU) or trims the CUDA pool.
  void release_cached() noexcept;
  Device device() const { return device_; }

 private:
  Device device_;
  mutable std::mutex mutex_;
  AllocatorStats stats_;
  std::map<std::size_t, std::vector<void*>> free_blocks_;  // CPU: rounded size -> cached blocks
};

// The process's allocator for a device.
Allocator& allocator_for(Device device);

}  // namespace nnuc
