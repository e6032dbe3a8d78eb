#include "kernels/core/tensor.h"

#include <cstdint>
#include <cstring>
#include <sstream>

#include "kernels/core/allocator.h"
#include "kernels/core/context.h"

#ifdef NNUC_WITH_CUDA
#include "kernels/core/cuda_check.h"
#endif

namespace nnuc {

Storage::Storage(Device device, std::size_t bytes, void* stream) : Storage(allocator_for(device), bytes, stream) {}

Storage::Storage(Allocator& allocator, std::size_t bytes, void* stream)
    : allocator_(&allocator),
      device_(allocator.device()),
      bytes_(bytes),
      stream_(stream),
      data_(allocator.allocate(bytes, stream)) {}

Storage::~Storage() { allocator_->deallocate(data_, bytes_, stream_); }

bool Storage::page_locked() const { return allocator_->page_locked(); }

namespace {
std::size_t checked_bytes(const Shape& shape, DType dtype) {
  const std::int64_t count = shape.numel();
  NNUC_CHECK(static_cast<std::uint64_t>(count) <= SIZE_MAX / dtype_size(dtype), "tensor ", shape.str(),
             " is too large to address");
  return static_cast<std::size_t>(count) * dtype_size(dtype);
}
}  // namespace

Tensor Tensor::empty(const Shape& shape, DType dtype, const Context& ctx) {
  Tensor out;
  out.shape_ = shape;
  out.dtype_ = dtype;
  out.device_ = ctx.device();
  out.storage_ = std::make_shared<Storage>(ctx.device(), checked_bytes(shape, dtype), ctx.stream());
  return out;
}

Tensor Tensor::empty_cpu(const Shape& shape, DType dtype) { return empty(shape, dtype, Context::cpu()); }

Tensor Tensor::empty_page_locked(const Shape& shape, DType dtype, [[maybe_unused]] int cuda_device) {
  const std::size_t bytes = checked_bytes(shape, dtype);
#ifdef NNUC_WITH_CUDA
  if (cuda_available()) {
    int count = 0;
    CUDA_CHECK(cudaGetDeviceCount(&count));
    NNUC_CHECK(cuda_device >= 0 && cuda_device < count, "page-locked host tensor for CUDA device ", cuda_device,
               ": out of range, ", count, " devices");
    CUDA_CHECK(cudaSetDevice(cuda_device));
    try {
      Tensor out;
      out.shape_ = shape;
      out.dtype_ = dtype;
      out.device_ = Device::CPU;
      out.storage_ = std::make_shared<Storage>(page_locked_host_allocator(), bytes, nullptr);
      return out;
    } catch (const OutOfMemory&) {
      // Page-locked memory exhausted: ordinary host memory holds the same values; copies are slower.
    }
  }
#endif
  return empty_cpu(shape, dtype);
}

template <typename T>
Tensor Tensor::from_vector(const Shape& shape, const std::vector<T>& values) {
  NNUC_CHECK(static_cast<std::int64_t>(values.size()) == shape.numel(), "from_vector: ", values.size(),
             " values for shape ", shape.str());
  Tensor out = empty_cpu(shape, dtype_of<T>());
  if (!values.empty()) std::memcpy(out.raw(), values.data(), values.size() * sizeof(T));
  return out;
}

Tensor Tensor::reshape(const Shape& shape) const {
  NNUC_CHECK(shape.numel() == numel(), "cannot reshape ", shape_.str(), " to ", shape.str());
  Tensor out = *this;
  out.shape_ = shape;
  return out;
}

Tensor Tensor::to_cpu() const { return copy_to(Context::cpu()); }

namespace {
template <typename Out>
Out element_as(const void* base, DType dtype, std::int64_t index) {
  switch (dtype) {
    case DType::f32: return static_cast<Out>(static_cast<const float*>(base)[index]);
    case DType::f64: return static_cast<Out>(static_cast<const double*>(base)[index]);
    case DType::bf16: return static_cast<Out>(bf16_to_float(static_cast<const bf16*>(base)[index]));
    case DType::f16: return static_cast<Out>(f16_to_float(static_cast<const f16*>(base)[index]));
    case DType::i16: return static_cast<Out>(static_cast<const std::int16_t*>(base)[index]);
    case DType::i32: return static_cast<Out>(static_cast<const std::int32_t*>(base)[index]);
    case DType::i64: return static_cast<Out>(static_cast<const std::int64_t*>(base)[index]);
    case DType::u8: return static_cast<Out>(static_cast<const std::uint8_t*>(base)[index]);
  }
  return Out{};
}
}  // namespace

template <typename T>
std::vector<T> Tensor::to_vector() const {
  check_defined(*this, "tensor");
  NNUC_CHECK(device_ != Device::Meta, "to_vector: a Meta tensor has no values");
  const Tensor host = device_ == Device::CPU ? *this : to_cpu();
  std::vector<T> values(static_cast<std::size_t>(numel()));
  for (std::int64_t index = 0; index < numel(); ++index)
    values[static_cast<std::size_t>(index)] = element_as<T>(host.raw(), dtype_, index);
  return values;
}

std::string Tensor::describe() const {
  std::ostringstream out;
  out << dtype_name(dtype_) << ' ' << shape_.str() << " on " << device_name(device_);
  return out.str();
}

#define NNUC_INSTANTIATE(T)                                                    \
  template Tensor Tensor::from_vector<T>(const Shape&, const std::vector<T>&); \
  template std::vector<T> Tensor::to_vector<T>() const;
NNUC_INSTANTIATE(float)
NNUC_INSTANTIATE(double)
NNUC_INSTANTIATE(std::int16_t)
NNUC_INSTANTIATE(std::int32_t)
NNUC_INSTANTIATE(std::int64_t)
NNUC_INSTANTIATE(std::uint8_t)
#undef NNUC_INSTANTIATE

void check_defined(const Tensor& tensor, const char* name) {
  NNUC_CHECK(tensor.defined(), name, " is an undefined tensor");
}

void check_dtype(const Tensor& tensor, DType dtype, const char* name) {
  check_defined(tensor, name);
  NNUC_CHECK(tensor.dtype() == dtype, name, " must be ", dtype_name(dtype), ", got ", tensor.describe());
}

void check_shape(const Tensor& tensor, const Shape& shape, const char* name) {
  check_defined(tensor, name);
  NNUC_CHECK(tensor.shape() == shape, name, " must have shape ", shape.str(), ", got ", tensor.describe());
}

void check_device(const Tensor& tensor, const Context& ctx, const char* name) {
  check_defined(tensor, name);
  NNUC_CHECK(tensor.device() == ctx.device(), name, " is on ", device_name(tensor.device()), " but the op runs on ",
             device_name(ctx.device()));
}

void check_same_shape(const Tensor& a, const Tensor& b, const char* name_a, const char* name_b) {
  check_defined(a, name_a);
  check_defined(b, name_b);
  NNUC_CHECK(a.shape() == b.shape(), name_a, " ", a.describe(), " and ", name_b, " ", b.describe(),
             " must have the same shape");
}

}  // namespace nnuc
