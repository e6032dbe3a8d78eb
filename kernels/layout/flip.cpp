// Public entry point of flip: check at the door, allocate, dispatch.
#include "kernels/layout/flip.h"

#include "kernels/elementwise/dispatch.h"
#include "kernels/layout/flip_impl.h"

namespace nnuc {

Tensor flip(const Context& ctx, const Tensor& x, unsigned axes) {
  detail::check_operand(x, ctx, "flip", "x");
  NNUC_CHECK(x.rank() == 5, "flip: x must be (N, D, H, W, C), got ", x.describe());
  NNUC_CHECK((axes & ~(kFlipD | kFlipH | kFlipW)) == 0,
             "flip: axes must be a subset of kFlipD | kFlipH | kFlipW (7), got ", axes);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), ctx);  // (N, D, H, W, C)
  switch (ctx.device()) {
    case Device::CPU: cpu::flip(x, axes, out); break;
    case Device::CUDA: NNUC_IF_CUDA(cuda::flip(ctx, x, axes, out)); break;
    case Device::Meta: break;
  }
  return out;
}

}  // namespace nnuc
