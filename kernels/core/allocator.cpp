#include "kernels/core/allocator.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <iterator>
#include <new>

#include "kernels/core/error.h"

#ifdef NNUC_WITH_CUDA
#include <cuda_runtime.h>

#include "kernels/core/cuda_check.h"
#endif

namespace nnuc {

namespace {
constexpr std::size_t kHostAlignment = 64;

#ifdef NNUC_WITH_CUDA
// The current device's default pool keeps what is freed into it (release threshold: everything), set
// once per device on its first raw allocation. Not std::call_once: a failure is thrown to the caller
// and the next allocation tries again (a call_once whose callable throws can block the next caller
// where pthread_once is intercepted), and each device has its own default pool.
void keep_pool_cached() {
  static std::mutex mutex;
  static std::vector<bool> configured;  // by device index
  int device = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  const auto index = static_cast<std::size_t>(device);
  std::lock_guard<std::mutex> lock(mutex);
  if (index < configured.size() && configured[index]) return;
  cudaMemPool_t pool;
  CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, device));
  std::uint64_t keep_everything = UINT64_MAX;
  CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep_everything));
  if (configured.size() <= index) configured.resize(index + 1, false);
  configured[index] = true;
}
#endif
}  // namespace

namespace {
std::size_t default_host_cache_limit() {
  constexpr std::size_t kAtMost = std::size_t{2} << 30;
  const long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page_size <= 0) return kAtMost / 4;
  return std::min(kAtMost, static_cast<std::size_t>(pages) * static_cast<std::size_t>(page_size) / 8);
}
}  // namespace

Allocator::Allocator(Device device, HostMemory host_memory)
    : device_(device), host_memory_(host_memory), host_cache_limit_(default_host_cache_limit()) {}

// At exit only pageable host blocks are released: the CUDA runtime may already be unloading (so
// neither device memory nor page-locked blocks can be given back through it), and the system takes
// both back with the process anyway.
Allocator::~Allocator() {
  if (host_memory_ == HostMemory::pageable) release_host_blocks();
}

void Allocator::free_host_block(void* pointer) noexcept {
  if (host_memory_ == HostMemory::pageable) {
    std::free(pointer);
    return;
  }
#ifdef NNUC_WITH_CUDA
  CUDA_CHECK_PRINT(cudaFreeHost(pointer));
#endif
}

void* Allocator::take_cached(std::size_t rounded) {
  if (device_ != Device::CPU) return nullptr;
  std::lock_guard<std::mutex> lock(mutex_);
  auto cached = free_blocks_.find(rounded);
  if (cached == free_blocks_.end()) return nullptr;
  const auto block = cached->second.back();
  void* pointer = block->pointer;
  cached->second.pop_back();
  if (cached->second.empty()) free_blocks_.erase(cached);
  freed_order_.erase(block);
  stats_.cached_bytes -= rounded;
  return pointer;
}

void* Allocator::try_allocate(std::size_t rounded, [[maybe_unused]] void* stream) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (failures_to_inject_ > 0) {
      --failures_to_inject_;
      return nullptr;
    }
  }
  switch (device_) {
    case Device::Meta: return nullptr;
    case Device::CPU: {
      if (host_memory_ == HostMemory::pageable) return std::aligned_alloc(kHostAlignment, rounded);
#ifdef NNUC_WITH_CUDA
      if (!cuda_available()) return nullptr;
      void* pointer = nullptr;  // page-aligned, so kHostAlignment holds
      const cudaError_t status = cudaHostAlloc(&pointer, rounded, cudaHostAllocPortable);
      if (status == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();
        return nullptr;
      }
      CUDA_CHECK(status);
      return pointer;
#else
      return nullptr;
#endif
    }
    case Device::CUDA: {
#ifdef NNUC_WITH_CUDA
      keep_pool_cached();
      {
        std::lock_guard<std::mutex> lock(mutex_);
        cuda_pool_used_ = true;
      }
      void* pointer = nullptr;
      const cudaError_t status = cudaMallocAsync(&pointer, rounded, static_cast<cudaStream_t>(stream));
      if (status == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();  // not sticky: clear it and report exhaustion
        return nullptr;
      }
      CUDA_CHECK(status);
      return pointer;
#else
      NNUC_THROW(CudaError, "nnuc was built without CUDA: cannot allocate on the CUDA device");
#endif
    }
  }
  return nullptr;
}

std::string Allocator::state_text() const {
  const AllocatorStats now = stats();
  std::string text = detail::concat("nnuc holds ", now.current_bytes, " bytes in live tensors");
  if (device_ == Device::CPU)
    return text + detail::concat(", ", now.cached_bytes, " bytes cached", page_locked() ? " (page-locked)" : "");
  if (device_ == Device::CUDA) {
    if (const std::optional<CudaMemoryState> state = cuda_memory_state()) {
      return text + detail::concat("; memory pool reserved ", state->pool_reserved, " bytes, in use ", state->pool_used,
                                   ", cached ", state->pool_cached(), "; device free ", state->device_free, " of ",
                                   state->device_total, " bytes");
    }
    return text + "; the CUDA pool state could not be read";
  }
  return text;
}

void* Allocator::allocate(std::size_t bytes, void* stream) {
  const std::size_t rounded = rounded_allocation_bytes(bytes);
  void* pointer = nullptr;
  if (rounded != 0 && device_ != Device::Meta) {
    pointer = take_cached(rounded);
    if (pointer == nullptr) pointer = try_allocate(rounded, stream);
    if (pointer == nullptr) {
      release_cached();  // CUDA: waits for the device first, so pending stream-ordered frees count
      pointer = try_allocate(rounded, stream);
    }
    if (pointer == nullptr) {
      throw OutOfMemory(
          detail::concat(device_name(device_), " out of memory allocating ", rounded,
                         " bytes (after releasing the allocator's cache and retrying once): ", state_text()),
          __FILE__, __LINE__, rounded);
    }
  }
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.current_bytes += rounded;
  if (stats_.current_bytes > stats_.peak_bytes) stats_.peak_bytes = stats_.current_bytes;
  ++stats_.allocations;
  return pointer;
}

void Allocator::deallocate(void* pointer, std::size_t bytes, [[maybe_unused]] void* stream) noexcept {
  const std::size_t rounded = rounded_allocation_bytes(bytes);
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.current_bytes -= rounded;
  if (pointer == nullptr) return;
  switch (device_) {
    case Device::Meta: break;
    case Device::CPU:
      if (rounded > host_cache_limit_ / 4) {
        free_host_block(pointer);
        break;
      }
      try {
        freed_order_.push_back(HostBlock{rounded, pointer});
        try {
          free_blocks_[rounded].push_back(std::prev(freed_order_.end()));
        } catch (...) {
          freed_order_.pop_back();
          throw;
        }
        stats_.cached_bytes += rounded;
        evict_host_blocks_above(host_cache_limit_);
      } catch (...) {
        free_host_block(pointer);
      }
      break;
    case Device::CUDA: {
#ifdef NNUC_WITH_CUDA
      // A destroyed Context's stream was synchronized before it went: free on the legacy stream.
      const bool live = stream != nullptr && live_streams_.count(stream) != 0;
      CUDA_CHECK_PRINT(cudaFreeAsync(pointer, live ? static_cast<cudaStream_t>(stream) : nullptr));
#endif
      break;
    }
  }
}

AllocatorStats Allocator::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void Allocator::reset_peak() {
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.peak_bytes = stats_.current_bytes;
  stats_.allocations = 0;
}

void Allocator::evict_host_blocks_above(std::size_t limit) noexcept {
  while (stats_.cached_bytes > limit && !freed_order_.empty()) {
    const HostBlock oldest = freed_order_.front();
    // The least recently freed block of a size is the first of that size's list.
    auto same_size = free_blocks_.find(oldest.bytes);
    same_size->second.erase(same_size->second.begin());
    if (same_size->second.empty()) free_blocks_.erase(same_size);
    freed_order_.pop_front();
    free_host_block(oldest.pointer);
    stats_.cached_bytes -= oldest.bytes;
  }
}

void Allocator::release_host_blocks() noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  evict_host_blocks_above(0);
}

void Allocator::set_host_cache_limit(std::size_t bytes) noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  host_cache_limit_ = bytes;
  evict_host_blocks_above(bytes);
}

std::size_t Allocator::host_cache_limit() const noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  return host_cache_limit_;
}

void Allocator::release_cached_before(std::size_t bytes) noexcept {
  if (device_ != Device::CPU) return;
  std::lock_guard<std::mutex> lock(mutex_);
  if (rounded_allocation_bytes(bytes) > host_cache_limit_ / 4) evict_host_blocks_above(0);
}

void Allocator::release_cached() noexcept {
  release_host_blocks();
#ifdef NNUC_WITH_CUDA
  if (device_ != Device::CUDA) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!cuda_pool_used_) return;
  }
  CUDA_CHECK_PRINT(cudaDeviceSynchronize());
  int device = 0;
  cudaMemPool_t pool = nullptr;
  CUDA_CHECK_PRINT(cudaGetDevice(&device));
  CUDA_CHECK_PRINT(cudaDeviceGetDefaultMemPool(&pool, device));
  if (pool != nullptr) CUDA_CHECK_PRINT(cudaMemPoolTrimTo(pool, 0));
#endif
}

void Allocator::fail_next_allocations(int count) {
  std::lock_guard<std::mutex> lock(mutex_);
  failures_to_inject_ = count > 0 ? count : 0;
}

void Allocator::register_stream(void* stream) noexcept {
  if (stream == nullptr) return;
  std::lock_guard<std::mutex> lock(mutex_);
  try {
    live_streams_.insert(stream);
  } catch (...) {
    // Without the entry, blocks of this stream are freed on the legacy stream: correct, less overlap.
  }
}

void Allocator::unregister_stream(void* stream) noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  live_streams_.erase(stream);
}

Allocator& page_locked_host_allocator() {
  static Allocator page_locked(Device::CPU, HostMemory::page_locked);
  return page_locked;
}

Allocator& allocator_for(Device device) {
  static Allocator cpu(Device::CPU);
  static Allocator cuda(Device::CUDA);
  static Allocator meta(Device::Meta);
  switch (device) {
    case Device::CPU: return cpu;
    case Device::CUDA: return cuda;
    case Device::Meta: return meta;
  }
  return meta;
}

std::optional<CudaMemoryState> cuda_memory_state() {
#ifdef NNUC_WITH_CUDA
  if (!cuda_available()) return std::nullopt;
  CudaMemoryState state;
  std::size_t free_bytes = 0, total_bytes = 0;
  int device = 0;
  cudaMemPool_t pool = nullptr;
  std::uint64_t reserved = 0, used = 0;
  if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess || cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetDefaultMemPool(&pool, device) != cudaSuccess ||
      cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReservedMemCurrent, &reserved) != cudaSuccess ||
      cudaMemPoolGetAttribute(pool, cudaMemPoolAttrUsedMemCurrent, &used) != cudaSuccess) {
    (void)cudaGetLastError();
    return std::nullopt;
  }
  state.pool_reserved = reserved;
  state.pool_used = used;
  state.device_free = free_bytes;
  state.device_total = total_bytes;
  return state;
#else
  return std::nullopt;
#endif
}

}  // namespace nnuc
