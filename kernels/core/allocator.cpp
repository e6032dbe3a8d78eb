#include "kernels/core/allocator.h"

#include <cstdlib>
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
void keep_pool_cached() {
  static std::once_flag once;
  std::call_once(once, [] {
    int device = 0;
    CUDA_CHECK(cudaGetDevice(&device));
    cudaMemPool_t pool;
    CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, device));
    std::uint64_t keep_everything = UINT64_MAX;
    CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep_everything));
  });
}
#endif
}  // namespace

Allocator::~Allocator() { release_cached(); }

void* Allocator::allocate(std::size_t bytes, void* stream) {
  const std::size_t rounded = rounded_allocation_bytes(bytes);
  void* pointer = nullptr;
  if (rounded != 0) {
    switch (device_) {
      case Device::Meta:
        break;
      case Device::CPU: {
        std::lock_guard<std::mutex> lock(mutex_);
        auto cached = free_blocks_.find(rounded);
        if (cached != free_blocks_.end() && !cached->second.empty()) {
          pointer = cached->second.back();
          cached->second.pop_back();
          stats_.cached_bytes -= rounded;
        }
        break;
      }
      case Device::CUDA:
        break;
    }
    if (device_ == Device::CPU && pointer == nullptr) {
      pointer = std::aligned_alloc(kHostAlignment, rounded);
      if (pointer == nullptr) {
        release_cached();
        pointer = std::aligned_alloc(kHostAlignment, rounded);
      }
      if (pointer == nullptr) NNUC_THROW(Error, "out of host memory allocating ", rounded, " bytes");
    }
    if (device_ == Device::CUDA) {
#ifdef NNUC_WITH_CUDA
      keep_pool_cached();
      cudaError_t status = cudaMallocAsync(&pointer, rounded, static_cast<cudaStream_t>(stream));
      if (status == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();
        const AllocatorStats now = stats();
        NNUC_THROW(CudaError, "CUDA out of memory allocating ", rounded, " bytes (", now.current_bytes,
                   " bytes held by live tensors)");
      }
      CUDA_CHECK(status);
#else
      (void)stream;
      NNUC_THROW(CudaError, "nnuc was built without CUDA: cannot allocate on the CUDA device");
#endif
    }
  }
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.current_bytes += rounded;
  if (stats_.current_bytes > stats_.peak_bytes) stats_.peak_bytes = stats_.current_bytes;
  ++stats_.allocations;
  return pointer;
}

void Allocator::deallocate(void* pointer, std::size_t bytes, void* stream) noexcept {
  const std::size_t rounded = rounded_allocation_bytes(bytes);
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.current_bytes -= rounded;
  if (pointer == nullptr) return;
  switch (device_) {
    case Device::Meta:
      break;
    case Device::CPU:
      try {
        free_blocks_[rounded].push_back(pointer);
        stats_.cached_bytes += rounded;
      } catch (...) {
        std::free(pointer);
      }
      break;
    case Device::CUDA:
#ifdef NNUC_WITH_CUDA
      CUDA_CHECK_PRINT(cudaFreeAsync(pointer, static_cast<cudaStream_t>(stream)));
#else
      (void)stream;
#endif
      break;
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

void Allocator::release_cached() noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& [size, blocks] : free_blocks_)
    for (void* block : blocks) std::free(block);
  free_blocks_.clear();
  stats_.cached_bytes = 0;
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

}  // namespace nnuc
