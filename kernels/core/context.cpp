#include "kernels/core/context.h"

#include <cstdio>
#include <cstring>

#include "kernels/core/allocator.h"
#include "kernels/core/error.h"
#include "kernels/core/tensor.h"

#ifdef NNUC_WITH_CUDA
#include "kernels/core/cuda_check.h"
#endif

namespace nnuc {

namespace detail {
void print_error(const char* file, int line, const std::string& message) noexcept {
  std::fprintf(stderr, "nnuc: %s (%s:%d)\n", message.c_str(), file, line);
}
}  // namespace detail

const char* device_name(Device device) {
  switch (device) {
    case Device::CPU: return "CPU";
    case Device::CUDA: return "CUDA";
    case Device::Meta: return "Meta";
  }
  return "unknown";
}

bool cuda_available() {
#ifdef NNUC_WITH_CUDA
  static const bool available = [] {
    int count = 0;
    cudaError_t status = cudaGetDeviceCount(&count);
    if (status != cudaSuccess) {
      (void)cudaGetLastError();  // no driver or no device: clear the sticky error and say no
      return false;
    }
    return count > 0;
  }();
  return available;
#else
  return false;
#endif
}

Context::Context(Device device, Device models) : device_(device), models_(models) {}

const Context& Context::cpu() {
  static const Context context(Device::CPU, Device::CPU);
  return context;
}

std::unique_ptr<Context> Context::meta(Device models) {
  NNUC_CHECK(models != Device::Meta, "a Meta context models CPU or CUDA, not Meta");
  return std::unique_ptr<Context>(new Context(Device::Meta, models));
}

std::unique_ptr<Context> Context::cuda(int index) {
#ifdef NNUC_WITH_CUDA
  if (!cuda_available()) NNUC_THROW(CudaError, "no CUDA device is available (no driver or no GPU)");
  int count = 0;
  CUDA_CHECK(cudaGetDeviceCount(&count));
  NNUC_CHECK(index >= 0 && index < count, "CUDA device index ", index, " out of range: ", count, " devices");
  std::unique_ptr<Context> context(new Context(Device::CUDA, Device::CUDA));
  context->cuda_index_ = index;
  CUDA_CHECK(cudaSetDevice(index));
  cudaStream_t stream = nullptr;
  CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  context->stream_ = stream;
  allocator_for(Device::CUDA).register_stream(stream);
  CUDNN_CHECK(cudnnCreate(&context->cudnn_));
  CUDNN_CHECK(cudnnSetStream(context->cudnn_, stream));
  return context;
#else
  (void)index;
  NNUC_THROW(CudaError, "nnuc was built without CUDA (configure with -DNNUC_CUDA=ON)");
#endif
}

Context::~Context() {
#ifdef NNUC_WITH_CUDA
  if (device_ == Device::CUDA) {
    conv_plans_.reset();
    if (stream_) CUDA_CHECK_PRINT(cudaStreamSynchronize(static_cast<cudaStream_t>(stream_)));
    allocator_for(Device::CUDA).unregister_stream(stream_);  // tensors that outlive us free elsewhere
    if (cudnn_) CUDNN_CHECK_PRINT(cudnnDestroy(cudnn_));
    if (stream_) CUDA_CHECK_PRINT(cudaStreamDestroy(static_cast<cudaStream_t>(stream_)));
  }
#endif
}

void Context::set_conv_element_limit(std::int64_t elements) {
  NNUC_CHECK(elements >= 1, "Context::set_conv_element_limit: ", elements, " elements; expected >= 1");
  conv_element_limit_ = elements;
}

void Context::synchronize() const {
#ifdef NNUC_WITH_CUDA
  if (device_ == Device::CUDA) CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(stream_)));
#endif
}

Tensor Tensor::copy_to(const Context& ctx) const {
  check_defined(*this, "tensor");
  Tensor out = Tensor::empty(shape_, dtype_, ctx);
  out.copy_from(*this, ctx);
  return out;
}

void Tensor::copy_from(const Tensor& source, const Context& ctx) {
  check_defined(*this, "destination");
  check_defined(source, "source");
  NNUC_CHECK(source.shape_ == shape_ && source.dtype_ == dtype_, "copy_from: source ", source.describe(),
             " does not match destination ", describe());
  const std::size_t count = bytes();
  if (count == 0 || device_ == Device::Meta || source.device_ == Device::Meta) return;
  if (device_ == Device::CPU && source.device_ == Device::CPU) {
    std::memcpy(raw(), source.raw(), count);
    return;
  }
#ifdef NNUC_WITH_CUDA
  // A copy touching the GPU runs on ctx's stream when ctx is CUDA, else on the legacy stream; a
  // copy from the device first waits for all device work so the values are final.
  cudaStream_t stream = ctx.device() == Device::CUDA ? static_cast<cudaStream_t>(ctx.stream()) : nullptr;
  if (source.device_ == Device::CUDA) CUDA_CHECK(cudaDeviceSynchronize());
  CUDA_CHECK(cudaMemcpyAsync(raw(), source.raw(), count, cudaMemcpyDefault, stream));
  CUDA_CHECK(cudaStreamSynchronize(stream));
#else
  (void)ctx;
  NNUC_THROW(CudaError, "nnuc was built without CUDA: cannot copy ", source.describe(), " to ", describe());
#endif
}

void Tensor::copy_from_async(const Tensor& source, const Context& ctx) {
  check_defined(*this, "destination");
  check_defined(source, "source");
  if (!(device_ == Device::CUDA && source.device_ == Device::CPU && ctx.device() == Device::CUDA)) {
    copy_from(source, ctx);
    return;
  }
  NNUC_CHECK(source.shape_ == shape_ && source.dtype_ == dtype_, "copy_from_async: source ", source.describe(),
             " does not match destination ", describe());
  if (bytes() == 0) return;
#ifdef NNUC_WITH_CUDA
  CUDA_CHECK(
      cudaMemcpyAsync(raw(), source.raw(), bytes(), cudaMemcpyHostToDevice, static_cast<cudaStream_t>(ctx.stream())));
#endif
}

Tensor Tensor::copy_to_async(const Context& ctx) const {
  check_defined(*this, "tensor");
  Tensor out = Tensor::empty(shape_, dtype_, ctx);
  out.copy_from_async(*this, ctx);
  return out;
}

}  // namespace nnuc
