// Public entry points of concat_channels / split_channels: check at the door, allocate, dispatch.
#include "kernels/layout/concat.h"

#include "kernels/elementwise/dispatch.h"
#include "kernels/layout/concat_impl.h"

namespace nnuc {

Tensor concat_channels(const Context& ctx, const Tensor& a, const Tensor& b) {
  detail::check_operand(a, ctx, "concat_channels", "a");
  detail::check_operand(b, ctx, "concat_channels", "b");
  NNUC_CHECK(a.rank() >= 1 && a.rank() == b.rank() && a.dtype() == b.dtype(), "concat_channels: a ", a.describe(),
             " and b ", b.describe(), " must have the same rank (>= 1) and dtype");
  const int last = a.rank() - 1;
  for (int axis = 0; axis < last; ++axis)
    NNUC_CHECK(a.dim(axis) == b.dim(axis), "concat_channels: a ", a.describe(), " and b ", b.describe(),
               " differ in axis ", axis, " (only the last, channel axis may differ)");
  NNUC_CHECK(a.dim(last) >= 1 && b.dim(last) >= 1, "concat_channels: a ", a.describe(), " and b ", b.describe(),
             " must each have >= 1 channel");
  Shape shape = a.shape();
  shape[last] = a.dim(last) + b.dim(last);
  Tensor out = Tensor::empty(shape, a.dtype(), ctx);  // (..., Ca + Cb)
  switch (ctx.device()) {
    case Device::CPU: cpu::concat_channels(a, b, out); break;
    case Device::CUDA: NNUC_IF_CUDA(cuda::concat_channels(ctx, a, b, out)); break;
    case Device::Meta: break;
  }
  return out;
}

std::pair<Tensor, Tensor> split_channels(const Context& ctx, const Tensor& x, std::int64_t channels_first) {
  detail::check_operand(x, ctx, "split_channels", "x");
  NNUC_CHECK(x.rank() >= 1, "split_channels: x must have rank >= 1, got ", x.describe());
  const int last = x.rank() - 1;
  NNUC_CHECK(channels_first >= 1 && channels_first < x.dim(last), "split_channels: channels_first must be in [1, ",
             x.dim(last) - 1, "] for x ", x.describe(), ", got ", channels_first);
  Shape first_shape = x.shape(), second_shape = x.shape();
  first_shape[last] = channels_first;
  second_shape[last] = x.dim(last) - channels_first;
  Tensor first = Tensor::empty(first_shape, x.dtype(), ctx);    // (..., Ca)
  Tensor second = Tensor::empty(second_shape, x.dtype(), ctx);  // (..., C - Ca)
  switch (ctx.device()) {
    case Device::CPU: cpu::split_channels(x, first, second); break;
    case Device::CUDA: NNUC_IF_CUDA(cuda::split_channels(ctx, x, first, second)); break;
    case Device::Meta: break;
  }
  return {first, second};
}

}  // namespace nnuc
