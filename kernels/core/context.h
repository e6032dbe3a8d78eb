// Context: where and how ops run. Passed explicitly to every op; nnuc keeps no hidden globals
// besides the per-device allocators.
//
// A CUDA context owns one stream and the cuDNN and cuBLAS handles bound to it, the workspace cap
// under which convolution algorithms are chosen, and the cache of chosen algorithms. A Meta context
// models a real device (CPU or CUDA): ops on it allocate what that device would, compute nothing.
#pragma once

#include <cstddef>
#include <memory>

#include "kernels/core/device.h"

struct cudnnContext;
struct cublasContext;

namespace nnuc {

struct ConvPlanCache;  // kernels/conv: chosen algorithms and workspace sizes, per shape

// Default cap on convolution workspace: the most one conv may borrow on top of its tensors.
constexpr std::size_t kDefaultWorkspaceCap = std::size_t{256} << 20;

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

  void* stream() const { return stream_; }  // cudaStream_t; nullptr off CUDA
  cudnnContext* cudnn() const { return cudnn_; }
  cublasContext* cublas() const { return cublas_; }

  std::size_t workspace_cap() const { return workspace_cap_; }
  void set_workspace_cap(std::size_t bytes) { workspace_cap_ = bytes; }
  ConvPlanCache& conv_plans() const;

  // Blocks the host until all work queued on this context is done (no-op off CUDA).
  void synchronize() const;

 private:
  Context(Device device, Device models);

  Device device_;
  Device models_;
  int cuda_index_ = -1;
  void* stream_ = nullptr;
  cudnnContext* cudnn_ = nullptr;
  cublasContext* cublas_ = nullptr;
  std::size_t workspace_cap_ = kDefaultWorkspaceCap;
  mutable std::shared_ptr<ConvPlanCache> conv_plans_;  // created on first use by kernels/conv
};

}  // namespace nnuc
