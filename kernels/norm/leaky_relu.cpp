// leaky_relu_{forward,backward}: argument checks, allocation, dispatch, and the CPU implementation.
#include "kernels/norm/leaky_relu.h"

#include <cmath>

#include "kernels/core/nvtx.h"
#include "kernels/elementwise/dispatch.h"
#include "kernels/norm/cpu_select.h"
#include "kernels/norm/leaky_relu_impl.h"

namespace nnuc {

namespace {

// Below this many values a parallel region costs more than it saves.
constexpr std::int64_t kParallelValues = 1 << 15;

void check_input(const Context& ctx, const Tensor& tensor, const char* op, const char* name) {
  check_defined(tensor, name);
  check_device(tensor, ctx, name);
  if (ctx.models() == Device::CPU) {
    NNUC_CHECK(tensor.dtype() == DType::f32 || tensor.dtype() == DType::f64, op, ": ", name,
               " must be f32 or f64 on the CPU, got ", tensor.describe());
  } else {
    NNUC_CHECK(tensor.dtype() == DType::f32 || tensor.dtype() == DType::bf16, op, ": ", name,
               " must be f32 or bf16 on CUDA, got ", tensor.describe());
  }
}

void check_slope(double slope, const char* op) {
  NNUC_CHECK(std::isfinite(slope) && slope >= 0, op, ": slope must be finite and >= 0, got ", slope);
}

template <typename T>
void forward_typed(const Tensor& x_tensor, double slope, Tensor& y_tensor) {
  const T* x = x_tensor.data<T>();
  T* y = y_tensor.data<T>();
  const T negative_slope = static_cast<T>(slope);
  const std::int64_t count = x_tensor.numel();
#pragma omp parallel for schedule(static) if (count >= kParallelValues)
  for (std::int64_t index = 0; index < count; ++index)
    y[index] = cpu::select_if_positive(x[index], x[index], x[index] * negative_slope);
}

template <typename T>
void backward_typed(const Tensor& dy_tensor, const Tensor& y_tensor, double slope, Tensor& dx_tensor) {
  const T* dy = dy_tensor.data<T>();
  const T* y = y_tensor.data<T>();
  T* dx = dx_tensor.data<T>();
  const T negative_slope = static_cast<T>(slope);
  const std::int64_t count = y_tensor.numel();
#pragma omp parallel for schedule(static) if (count >= kParallelValues)
  for (std::int64_t index = 0; index < count; ++index)
    dx[index] = cpu::select_if_positive(y[index], dy[index], dy[index] * negative_slope);
}

}  // namespace

namespace cpu {

void leaky_relu_forward(const Context&, const Tensor& x, double slope, Tensor& y) {
  if (x.dtype() == DType::f64) {
    forward_typed<double>(x, slope, y);
  } else {
    forward_typed<float>(x, slope, y);
  }
}

void leaky_relu_backward(const Context&, const Tensor& dy, const Tensor& y, double slope, Tensor& dx) {
  if (y.dtype() == DType::f64) {
    backward_typed<double>(dy, y, slope, dx);
  } else {
    backward_typed<float>(dy, y, slope, dx);
  }
}

}  // namespace cpu

Tensor leaky_relu_forward(const Context& ctx, const Tensor& x, double slope) {
  constexpr const char* op = "leaky_relu_forward";
  check_input(ctx, x, op, "x");
  check_slope(slope, op);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), ctx);
  switch (ctx.device()) {
    case Device::CPU: {
      NNUC_RANGE("leaky_relu_forward");
      cpu::leaky_relu_forward(ctx, x, slope, y);
      break;
    }
    case Device::CUDA: {
      NNUC_IF_CUDA(cuda::leaky_relu_forward(ctx, x, slope, y));
      break;
    }
    case Device::Meta: break;
  }
  return y;
}

Tensor leaky_relu_backward(const Context& ctx, const Tensor& dy, const Tensor& y, double slope) {
  constexpr const char* op = "leaky_relu_backward";
  check_input(ctx, dy, op, "dy");
  check_input(ctx, y, op, "y");
  check_same_shape(dy, y, "dy", "y");
  NNUC_CHECK(dy.dtype() == y.dtype(), op, ": dy ", dy.describe(), " and y ", y.describe(), " must have the same dtype");
  check_slope(slope, op);
  Tensor dx = Tensor::empty(y.shape(), y.dtype(), ctx);
  switch (ctx.device()) {
    case Device::CPU: {
      NNUC_RANGE("leaky_relu_backward");
      cpu::leaky_relu_backward(ctx, dy, y, slope, dx);
      break;
    }
    case Device::CUDA: {
      NNUC_IF_CUDA(cuda::leaky_relu_backward(ctx, dy, y, slope, dx));
      break;
    }
    case Device::Meta: break;
  }
  return dx;
}

}  // namespace nnuc
