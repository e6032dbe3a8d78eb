// Tensor: shared storage + shape + dtype + device. Dense, row-major, no views.
//
// Copies of a Tensor share storage (like a shared_ptr); clone() and copy_to() make new storage.
// Moving data between devices is always an explicit call (copy_to), never hidden in an op.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "kernels/core/device.h"
#include "kernels/core/dtype.h"
#include "kernels/core/error.h"
#include "kernels/core/shape.h"

namespace nnuc {

class Allocator;
class Context;

// Owns one allocation and returns it to the allocator it came from when the last tensor lets go.
class Storage {
 public:
  // From allocator_for(device).
  Storage(Device device, std::size_t bytes, void* stream);
  // From `allocator` (the page-locked host allocator), whose device is `allocator.device()`.
  Storage(Allocator& allocator, std::size_t bytes, void* stream);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  std::size_t bytes() const { return bytes_; }
  Device device() const { return device_; }
  bool page_locked() const;

 private:
  Allocator* allocator_;
  Device device_;
  std::size_t bytes_;
  void* stream_;
  void* data_;
};

class Tensor {
 public:
  Tensor() = default;

  // Uninitialized tensor on ctx's device (CUDA allocations are ordered on ctx's stream).
  static Tensor empty(const Shape& shape, DType dtype, const Context& ctx);
  // Uninitialized host tensor, for tests, IO and staging.
  static Tensor empty_cpu(const Shape& shape, DType dtype);
  // Uninitialized host tensor in page-locked memory (page_locked_host_allocator()), made current to
  // CUDA device `cuda_device` in the calling thread first, so that no other device gets a context.
  // Copies between it and a GPU run at the bus's full speed, and copy_from_async does not wait for
  // them. Ordinary host memory (page_locked() false, same use, slower copies) when CUDA is unavailable
  // or page-locked memory is exhausted.
  static Tensor empty_page_locked(const Shape& shape, DType dtype, int cuda_device);
  // Host tensor holding a copy of `values` (size must equal shape.numel()).
  template <typename T>
  static Tensor from_vector(const Shape& shape, const std::vector<T>& values);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  std::int64_t numel() const { return shape_.numel(); }
  std::size_t bytes() const { return static_cast<std::size_t>(numel()) * dtype_size(dtype_); }
  std::int64_t dim(int axis) const { return shape_[axis]; }
  int rank() const { return shape_.rank(); }

  void* raw() const { return storage_ ? storage_->data() : nullptr; }
  bool page_locked() const { return storage_ && storage_->page_locked(); }
  template <typename T>
  T* data() const {
    NNUC_CHECK(dtype_of<T>() == dtype_, "tensor holds ", dtype_name(dtype_), ", accessed as ",
               dtype_name(dtype_of<T>()));
    return static_cast<T*>(raw());
  }

  // Same storage, another shape with the same number of elements.
  Tensor reshape(const Shape& shape) const;

  // A new tensor with the same contents on `ctx`'s device. Host <-> device copies are
  // synchronous with respect to the host: the result is ready when the call returns.
  Tensor copy_to(const Context& ctx) const;
  // Overwrites this tensor's values with `source`'s (same shape and dtype, any devices); allocates
  // nothing. Synchronous with respect to the host, like copy_to.
  void copy_from(const Tensor& source, const Context& ctx);
  // copy_from without waiting, for a host source copied to this tensor on ctx's CUDA device: the copy
  // is queued on ctx's stream and the call returns at once (at once also from pageable memory, which
  // CUDA stages first). The source must stay alive and unchanged until ctx's stream has passed the
  // call (StreamMark::record(ctx) after it, then wait()). Ops queued on ctx's stream after it see the
  // copied values. Every other pair of devices: copy_from.
  void copy_from_async(const Tensor& source, const Context& ctx);
  // A new tensor on ctx's device filled by copy_from_async.
  Tensor copy_to_async(const Context& ctx) const;
  // Host copy (synchronous), for tests and IO.
  Tensor to_cpu() const;
  // Copies of element values into a host vector (converted to T where the dtype differs).
  template <typename T>
  std::vector<T> to_vector() const;

  std::string describe() const;  // "f32 (2, 8, 8, 8, 4) on CPU"

 private:
  std::shared_ptr<Storage> storage_;
  Shape shape_;
  DType dtype_ = DType::f32;
  Device device_ = Device::CPU;
};

// Argument checks shared by ops; each throws InvalidInput naming the argument.
void check_defined(const Tensor& tensor, const char* name);
void check_dtype(const Tensor& tensor, DType dtype, const char* name);
void check_shape(const Tensor& tensor, const Shape& shape, const char* name);
void check_device(const Tensor& tensor, const Context& ctx, const char* name);
void check_same_shape(const Tensor& a, const Tensor& b, const char* name_a, const char* name_b);

}  // namespace nnuc
