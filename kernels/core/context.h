// Context: where and how ops run. Passed explicitly to every op; nnuc keeps no hidden globals
// besides the per-device allocators.
//
// A CUDA context owns one stream and the cuDNN handle bound to it, the workspace cap
// under which convolution algorithms are chosen, the cache of chosen algorithms, the deterministic
// switch and the element limit of one convolution library call. A Meta context models a real device
// (CPU or CUDA): ops on it allocate what that device would, compute nothing.
//
// Lifetime: tensors may outlive the Context that made them. Destroying a CUDA Context waits for its
// stream, unregisters it from the CUDA allocator (later frees of its tensors go to the legacy stream)
// and destroys the handle and the stream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "kernels/core/device.h"

struct cudnnContext;

namespace nnuc {

struct ConvPlanCache;  // kernels/conv: chosen algorithms and workspace sizes, per shape

// Default cap on convolution workspace: the most one conv may borrow on top of its tensors.
constexpr std::size_t kDefaultWorkspaceCap = std::size_t{256} << 20;

// Default of Context::conv_element_limit(): cuDNN's legacy descriptors take int sizes, so one tensor
// of one cuDNN call holds at most INT_MAX = 2^31 - 1 elements.
constexpr std::int64_t kDefaultConvElementLimit = 2147483647;

class Context {
 public:
  // The process's CPU context (OpenMP threads as configured by OMP_NUM_THREADS).
  static const Context& cpu();
  // A CUDA context on device `index` with its own stream and handles. Throws CudaError when CUDA
  // is unavailable (check cuda_available() first).
  static std::unique_ptr<Context> cuda(int index = 0);
  // A Meta context whose ops allocate (in accounting only) what they would on `models`.
  static std::unique_ptr<Context> meta(Device models);

  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  Device device() const { return device_; }
  // The real device whose memory rules apply: device() itself, or what a Meta context models.
  Device models() const { return models_; }
  bool is_meta() const { return device_ == Device::Meta; }

  void* stream() const { return stream_; }        // cudaStream_t; nullptr off CUDA
  int cuda_index() const { return cuda_index_; }  // the CUDA device's index; -1 off CUDA
  cudnnContext* cudnn() const { return cudnn_; }

  std::size_t workspace_cap() const { return workspace_cap_; }
  void set_workspace_cap(std::size_t bytes) { workspace_cap_ = bytes; }
  ConvPlanCache& conv_plans() const;

  // Deterministic mode (off by default): convolutions use only algorithms that cuDNN reports as
  // deterministic (cudnnConvolution*AlgoPerf_t::determinism), chosen by cuDNN's heuristics rather than
  // by timing (timings, and so the choice, vary between runs), so two runs of the same work on the
  // same device and library versions give bit-identical results. nnuc's own CUDA kernels reduce
  // without atomics and are deterministic either way (kernels/README.md). Plans are cached per mode.
  bool deterministic() const { return deterministic_; }
  void set_deterministic(bool on) { deterministic_ = on; }

  // The most elements one tensor of one convolution library call may have (CUDA, and Meta modelling
  // CUDA); larger convolutions run in pieces (kernels/conv/conv_chunk.h). Tests lower it to exercise
  // the splitting on small tensors. requires: elements >= 1.
  std::int64_t conv_element_limit() const { return conv_element_limit_; }
  void set_conv_element_limit(std::int64_t elements);

  // Blocks the host until all work queued on this context is done (no-op off CUDA).
  void synchronize() const;

 private:
  Context(Device device, Device models);

  Device device_;
  Device models_;
  int cuda_index_ = -1;
  void* stream_ = nullptr;
  cudnnContext* cudnn_ = nullptr;
  std::size_t workspace_cap_ = kDefaultWorkspaceCap;
  bool deterministic_ = false;
  std::int64_t conv_element_limit_ = kDefaultConvElementLimit;
  mutable std::shared_ptr<ConvPlanCache> conv_plans_;  // created on first use by kernels/conv
};

// Device memory that a CUDA process of nnuc holds outside its allocator (what the memory model adds as
// kCudaFixedOverheadBytes, nn/training_step.h), measured on device `index`:
struct CudaFixedOverhead {
  // The CUDA context: the device's used memory (NVML) before and after creating it. nullopt when NVML
  // (libnvidia-ml.so.1, part of the driver) cannot be loaded or this process already had the context.
  std::optional<std::uint64_t> context_bytes;
  std::uint64_t handles_bytes = 0;    // nnuc's Context: stream and cuDNN handle (cudaMemGetInfo)
  std::uint64_t first_use_bytes = 0;  // taken by running `warm_up`, beyond the allocator's pool: kernel
                                      // modules loaded on first launch, libraries' internal buffers
  std::uint64_t device_total_bytes = 0;
  std::uint64_t total() const { return context_bytes.value_or(0) + handles_bytes + first_use_bytes; }
};

// Measures CudaFixedOverhead: creates the CUDA context and a Context on device `index`, runs
// `warm_up` on it (a small training step loads the kernels a step uses), waits, trims the allocator's
// pool and reads the device's free memory at each stage. Meaningful in a process that has not used
// the device before and with no other process starting on it meanwhile.
// Throws CudaError when no CUDA device is available.
CudaFixedOverhead measure_cuda_fixed_overhead(int index, const std::function<void(const Context&)>& warm_up);

}  // namespace nnuc
