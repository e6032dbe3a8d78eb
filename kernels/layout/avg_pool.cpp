// Public entry points of the average pooling: check at the door, allocate, dispatch.
#include "kernels/layout/avg_pool.h"

#include "kernels/elementwise/dispatch.h"
#include "kernels/layout/avg_pool_impl.h"

namespace nnuc {

namespace {
void check_kernel(const std::array<std::int64_t, 3>& kernel, const char* op) {
  NNUC_CHECK(kernel[0] >= 1 && kernel[1] >= 1 && kernel[2] >= 1, op, ": kernel must be >= 1 per axis, got (", kernel[0],
             ", ", kernel[1], ", ", kernel[2], ")");
}
}  // namespace

Shape avg_pool_output_shape(const Shape& input, const std::array<std::int64_t, 3>& kernel) {
  check_kernel(kernel, "avg_pool_output_shape");
  NNUC_CHECK(input.rank() == 5, "avg_pool_output_shape: input must be (N, D, H, W, C), got ", input.str());
  for (int axis = 0; axis < 3; ++axis)
    NNUC_CHECK(input[axis + 1] >= kernel[static_cast<std::size_t>(axis)], "avg_pool: kernel (", kernel[0], ", ",
               kernel[1], ", ", kernel[2], ") is larger than the spatial extent of input ", input.str());
  return Shape{input[0], input[1] / kernel[0], input[2] / kernel[1], input[3] / kernel[2], input[4]};
}

Tensor avg_pool_forward(const Context& ctx, const Tensor& x, const std::array<std::int64_t, 3>& kernel) {
  detail::check_operand(x, ctx, "avg_pool_forward", "x");
  detail::check_compute_dtype(x, ctx, "avg_pool_forward", "x");
  check_kernel(kernel, "avg_pool_forward");
  NNUC_CHECK(x.rank() == 5, "avg_pool_forward: x must be (N, D, H, W, C), got ", x.describe());
  Tensor y = Tensor::empty(avg_pool_output_shape(x.shape(), kernel), x.dtype(), ctx);  // (N, D/kD, H/kH, W/kW, C)
  switch (ctx.device()) {
    case Device::CPU: cpu::avg_pool_forward(x, kernel, y); break;
    case Device::CUDA: NNUC_IF_CUDA(cuda::avg_pool_forward(ctx, x, kernel, y)); break;
    case Device::Meta: break;
  }
  return y;
}

Tensor avg_pool_backward(const Context& ctx, const Tensor& grad_out, const Shape& input_shape,
                         const std::array<std::int64_t, 3>& kernel) {
  detail::check_operand(grad_out, ctx, "avg_pool_backward", "grad_out");
  detail::check_compute_dtype(grad_out, ctx, "avg_pool_backward", "grad_out");
  check_kernel(kernel, "avg_pool_backward");
  NNUC_CHECK(input_shape.rank() == 5, "avg_pool_backward: input_shape must be (N, D, H, W, C), got ",
             input_shape.str());
  const Shape pooled = avg_pool_output_shape(input_shape, kernel);
  NNUC_CHECK(grad_out.shape() == pooled, "avg_pool_backward: grad_out must have shape ", pooled.str(), " (input_shape ",
             input_shape.str(), " pooled by (", kernel[0], ", ", kernel[1], ", ", kernel[2], ")), got ",
             grad_out.describe());
  Tensor grad_in = Tensor::empty(input_shape, grad_out.dtype(), ctx);  // (N, D, H, W, C)
  switch (ctx.device()) {
    case Device::CPU: cpu::avg_pool_backward(grad_out, kernel, grad_in); break;
    case Device::CUDA: NNUC_IF_CUDA(cuda::avg_pool_backward(ctx, grad_out, kernel, grad_in)); break;
    case Device::Meta: break;
  }
  return grad_in;
}

}  // namespace nnuc
