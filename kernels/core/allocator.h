// Caching allocators, one per device, with byte counters that tests and the planner read.
//
// Every request is rounded up to a multiple of kAllocationGranularity (512 bytes, as PyTorch's CUDA
// caching allocator); current and peak count rounded bytes held by live tensors. The Meta allocator
// hands out no memory but counts exactly like the others, so a shape-only run of a step reports the
// same peak as the real run.
//
// CPU: 64-byte aligned host blocks kept in per-size free lists for reuse, at most host_cache_limit()
//      bytes of them: a freed block beyond the limit evicts the least recently freed ones, and a block
//      larger than a quarter of the limit goes straight back to the system. Without the limit, blocks of
//      sizes that never recur (one case's image, its logits) would pile up over a folder of cases; Linux
//      overcommits, so the out-of-memory retry below would never see the pile before the OOM killer.
//      A block that large comes with work of its size (a whole case, a batch of 128^3 tiles), beside
//      which the page faults of fresh memory are small.
//      The page-locked host allocator (page_locked_host_allocator()) is a second CPU allocator with the
//      same cache, whose blocks come from cudaHostAlloc (pinned, portable across devices): copies
//      between them and a GPU run at the bus's full speed and asynchronously (Tensor::empty_page_locked).
//      Its cache matters more than the ordinary one's: cudaFreeHost waits for the whole device.
// CUDA: stream-ordered cudaMallocAsync / cudaFreeAsync on the device's default memory pool with its
//       release threshold raised so freed memory stays cached in the pool.
//
// Out of memory (CPU and CUDA alike): when the system refuses a block, the allocator waits for the
// device (CUDA: cudaDeviceSynchronize, so that stream-ordered frees complete), releases its cache
// (release_cached) and tries once more; if that fails too it throws OutOfMemory naming the request
// and the pool state. fail_next_allocations() injects such failures, so tests drive this path on any
// machine.
//
// Streams: a CUDA block is freed on the stream it was allocated on. A Context registers its stream
// here and unregisters it (after synchronizing it) before destroying it; a tensor that outlives its
// Context is then freed on the legacy default stream instead of a destroyed one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "kernels/core/device.h"

namespace nnuc {

constexpr std::size_t kAllocationGranularity = 512;

// The bytes an allocation of `bytes` accounts for on every device (0 stays 0).
constexpr std::size_t rounded_allocation_bytes(std::size_t bytes) {
  return (bytes + kAllocationGranularity - 1) / kAllocationGranularity * kAllocationGranularity;
}

struct AllocatorStats {
  std::size_t current_bytes = 0;  // rounded bytes held by live allocations
  std::size_t peak_bytes = 0;     // highest current_bytes since the last reset_peak()
  std::size_t cached_bytes = 0;   // freed bytes kept for reuse (CPU); 0 on Meta and CUDA (see cuda_memory_state)
  std::uint64_t allocations = 0;  // number of allocate() calls since the last reset_peak()
};

// Where a CPU allocator's blocks come from.
enum class HostMemory {
  pageable,     // aligned_alloc
  page_locked,  // cudaHostAlloc (CUDA builds only)
};

class Allocator {
 public:
  explicit Allocator(Device device, HostMemory host_memory = HostMemory::pageable);
  ~Allocator();
  Allocator(const Allocator&) = delete;
  Allocator& operator=(const Allocator&) = delete;

  // Returns storage of at least `bytes` (nullptr on Meta, and for 0 bytes). `stream` is the
  // cudaStream_t the memory is first used on (CUDA only; ignored elsewhere).
  // Throws OutOfMemory when the memory cannot be had after releasing the cache and retrying once.
  void* allocate(std::size_t bytes, void* stream = nullptr);
  // Gives back what allocate() returned for the same `bytes` and `stream`. Never throws.
  void deallocate(void* pointer, std::size_t bytes, void* stream = nullptr) noexcept;

  AllocatorStats stats() const;
  void reset_peak();
  // Returns cached memory to the system. CPU: frees the cached host blocks. CUDA: synchronizes the
  // device and trims the memory pool to the blocks live allocations hold (cudaMemPoolTrimTo), which
  // gives the freed blocks back to the driver. Meta: nothing.
  void release_cached() noexcept;
  Device device() const { return device_; }
  bool page_locked() const { return host_memory_ == HostMemory::page_locked; }

  // CPU: the most freed bytes the cache keeps (default: 1/8 of the physical memory, at most 2 GiB).
  // Lowering it evicts at once. Other devices: ignored.
  void set_host_cache_limit(std::size_t bytes) noexcept;
  std::size_t host_cache_limit() const noexcept;
  // CPU: called before a whole case's host buffers of `bytes` in all (prediction's accumulators) are
  // allocated. When they are more than a quarter of the limit (the size the cache does not keep), the
  // cached blocks (from the steps before: reading, preprocessing) are given back first, instead of
  // staying resident beside the case's buffers until they are evicted. Smaller requests (a small
  // case, an embedded pipeline's repeated calls) keep the cache. Other devices: nothing.
  void release_cached_before(std::size_t bytes) noexcept;

  // Test hook: the next `count` allocations that need new memory from the system (CPU: blocks not
  // served from the cache; CUDA: cudaMallocAsync) fail as if the memory were exhausted.
  void fail_next_allocations(int count);

  // CUDA streams of live Contexts (see the header comment). Never throw.
  void register_stream(void* stream) noexcept;
  void unregister_stream(void* stream) noexcept;

 private:
  void* take_cached(std::size_t rounded);                 // CPU free list; nullptr on a miss
  void* try_allocate(std::size_t rounded, void* stream);  // nullptr when the memory is exhausted
  std::string state_text() const;                         // for OutOfMemory messages
  void release_host_blocks() noexcept;
  void free_host_block(void* pointer) noexcept;

  Device device_;
  HostMemory host_memory_;
  mutable std::mutex mutex_;
  AllocatorStats stats_;
  int failures_to_inject_ = 0;
  bool cuda_pool_used_ = false;
  void evict_host_blocks_above(std::size_t limit) noexcept;  // with mutex_ held

  // CPU cache: blocks in the order they were freed (front: least recent), and per rounded size the
  // positions of that size's blocks in it (back: most recent).
  struct HostBlock {
    std::size_t bytes;
    void* pointer;
  };
  std::list<HostBlock> freed_order_;
  std::map<std::size_t, std::vector<std::list<HostBlock>::iterator>> free_blocks_;
  std::size_t host_cache_limit_;
  std::set<void*> live_streams_;  // CUDA: streams of live Contexts
};

// The process's allocator for a device.
Allocator& allocator_for(Device device);
// The process's page-locked host allocator (a CPU allocator; see the header comment). Without CUDA
// (built without it, or no device) its allocations fail like exhausted memory.
Allocator& page_locked_host_allocator();

// The current CUDA device's memory as nnuc's allocator sees it: the default memory pool's reserved and
// in-use bytes (cudaMemPoolAttrReserved/UsedMemCurrent; reserved - used is cached for reuse) and the
// device's free and total bytes (cudaMemGetInfo). nullopt without CUDA or without a device.
struct CudaMemoryState {
  std::uint64_t pool_reserved = 0;
  std::uint64_t pool_used = 0;
  std::uint64_t device_free = 0;
  std::uint64_t device_total = 0;
  std::uint64_t pool_cached() const { return pool_reserved > pool_used ? pool_reserved - pool_used : 0; }
};
std::optional<CudaMemoryState> cuda_memory_state();

}  // namespace nnuc
