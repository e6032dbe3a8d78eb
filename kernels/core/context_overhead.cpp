// measure_cuda_fixed_overhead: device memory outside the allocator, read at each stage of starting up.
//
// The CUDA context itself exists before anything can ask the runtime for free memory (cudaMemGetInfo
// needs a context), so its size comes from NVML, which reads the device's used memory without one.
// NVML and the driver API are loaded with dlopen (both ship with the driver): nnuc links neither.
#include <memory>
#include <string>
#include <utility>

#include "kernels/core/allocator.h"
#include "kernels/core/context.h"
#include "kernels/core/error.h"

#ifdef NNUC_WITH_CUDA
#include <dlfcn.h>

#include "kernels/core/cuda_check.h"
#endif

namespace nnuc {

#ifdef NNUC_WITH_CUDA
namespace {

// A shared library opened with dlopen, closed with the object.
class Library {
 public:
  explicit Library(const char* name) : handle_(dlopen(name, RTLD_NOW | RTLD_LOCAL)) {}
  ~Library() {
    if (handle_ != nullptr) dlclose(handle_);
  }
  Library(const Library&) = delete;
  Library& operator=(const Library&) = delete;
  template <typename Function>
  Function symbol(const char* name) const {
    return handle_ == nullptr ? nullptr : reinterpret_cast<Function>(dlsym(handle_, name));
  }

 private:
  void* handle_;
};

// Used device memory by NVML, for the device at a PCI bus id. Every call answers nullopt when NVML
// is missing.
class NvmlMemory {
 public:
  explicit NvmlMemory(std::string pci_bus_id) : nvml_("libnvidia-ml.so.1"), pci_bus_id_(std::move(pci_bus_id)) {
    init_ = nvml_.symbol<Init>("nvmlInit_v2");
    shutdown_ = nvml_.symbol<Shutdown>("nvmlShutdown");
    by_pci_ = nvml_.symbol<ByPci>("nvmlDeviceGetHandleByPciBusId_v2");
    memory_ = nvml_.symbol<Memory>("nvmlDeviceGetMemoryInfo");
    ready_ = init_ && shutdown_ && by_pci_ && memory_ && init_() == 0 && by_pci_(pci_bus_id_.c_str(), &device_) == 0;
  }
  ~NvmlMemory() {
    if (init_ && shutdown_ && ready_) shutdown_();
  }
  std::optional<std::uint64_t> used() const {
    if (!ready_) return std::nullopt;
    Info info{};
    if (memory_(device_, &info) != 0) return std::nullopt;
    return info.used;
  }

 private:
  struct Info {  // nvmlMemory_t
    unsigned long long total, free, used;
  };
  using Init = int (*)();
  using Shutdown = int (*)();
  using ByPci = int (*)(const char*, void**);
  using Memory = int (*)(void*, Info*);
  Library nvml_;
  std::string pci_bus_id_;
  Init init_ = nullptr;
  Shutdown shutdown_ = nullptr;
  ByPci by_pci_ = nullptr;
  Memory memory_ = nullptr;
  void* device_ = nullptr;
  bool ready_ = false;
};

// Whether this process already holds the primary context of CUDA device `index` (driver API);
// nullopt when the driver library cannot be asked.
std::optional<bool> primary_context_active(int index) {
  const Library driver("libcuda.so.1");
  using Init = int (*)(unsigned);
  using DeviceGet = int (*)(int*, int);
  using GetState = int (*)(int, unsigned*, int*);
  const auto init = driver.symbol<Init>("cuInit");
  const auto device_get = driver.symbol<DeviceGet>("cuDeviceGet");
  const auto get_state = driver.symbol<GetState>("cuDevicePrimaryCtxGetState");
  int device = 0, active = 0;
  unsigned flags = 0;
  if (!init || !device_get || !get_state || init(0) != 0 || device_get(&device, index) != 0 ||
      get_state(device, &flags, &active) != 0)
    return std::nullopt;
  return active != 0;
}

std::uint64_t free_device_bytes() {
  std::size_t free_bytes = 0, total_bytes = 0;
  CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  return free_bytes;
}

std::uint64_t pool_reserved() {
  const std::optional<CudaMemoryState> state = cuda_memory_state();
  return state ? state->pool_reserved : 0;
}

std::uint64_t drop(std::uint64_t before, std::uint64_t after) { return before > after ? before - after : 0; }

}  // namespace

CudaFixedOverhead measure_cuda_fixed_overhead(int index, const std::function<void(const Context&)>& warm_up) {
  if (!cuda_available()) NNUC_THROW(CudaError, "measure_cuda_fixed_overhead: no CUDA device is available");
  CudaFixedOverhead overhead;
  char pci_bus_id[64] = {};
  CUDA_CHECK(cudaDeviceGetPCIBusId(pci_bus_id, static_cast<int>(sizeof pci_bus_id), index));
  const NvmlMemory nvml{std::string(pci_bus_id)};
  const std::optional<bool> had_context = primary_context_active(index);
  const std::optional<std::uint64_t> used_before = nvml.used();
  CUDA_CHECK(cudaSetDevice(index));
  CUDA_CHECK(cudaFree(nullptr));  // creates the primary context if there is none
  const std::optional<std::uint64_t> used_after = nvml.used();
  if (had_context && !*had_context && used_before && used_after)
    overhead.context_bytes = drop(*used_after, *used_before);

  std::size_t free_bytes = 0, total_bytes = 0;
  CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  overhead.device_total_bytes = total_bytes;
  const std::uint64_t free_with_context = free_bytes;
  std::unique_ptr<Context> context = Context::cuda(index);
  const std::uint64_t free_with_handles = free_device_bytes();
  overhead.handles_bytes = drop(free_with_context, free_with_handles);

  Allocator& allocator = allocator_for(Device::CUDA);
  allocator.release_cached();
  const std::uint64_t reserved_before = pool_reserved();
  const std::uint64_t free_before = free_device_bytes();
  if (warm_up) warm_up(*context);
  context->synchronize();
  allocator.release_cached();  // what the step's tensors left cached goes back to the driver
  const std::uint64_t pool_growth = drop(pool_reserved(), reserved_before);
  overhead.first_use_bytes = drop(drop(free_before, free_device_bytes()), pool_growth);
  return overhead;
}

#else

CudaFixedOverhead measure_cuda_fixed_overhead(int, const std::function<void(const Context&)>&) {
  NNUC_THROW(CudaError, "measure_cuda_fixed_overhead: nnuc was built without CUDA (configure with -DNNUC_CUDA=ON)");
}

#endif

}  // namespace nnuc
