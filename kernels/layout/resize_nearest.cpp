// Public entry point of resize_nearest_exact and its index rule: check at the door, allocate, dispatch.
#include "kernels/layout/resize_nearest.h"

#include <cmath>

#include "kernels/elementwise/dispatch.h"
#include "kernels/layout/resize_nearest_impl.h"

namespace nnuc {

std::int64_t nearest_exact_source_index(std::int64_t dst, std::int64_t in, std::int64_t out) {
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  const float position = (static_cast<float>(dst) + 0.5f) * scale;  // one f32 rounding (see header)
  const std::int64_t source = static_cast<std::int64_t>(std::floor(position));
  return source < in - 1 ? source : in - 1;
}

std::int64_t deep_supervision_extent(std::int64_t extent, double scale) {
  NNUC_CHECK(extent >= 1, "deep_supervision_extent: extent must be >= 1, got ", extent);
  NNUC_CHECK(std::isfinite(scale) && scale > 0, "deep_supervision_extent: scale must be finite and > 0, got ", scale);
  const double rounded = std::nearbyint(static_cast<double>(extent) * scale);  // half to even, as Python's round
  NNUC_CHECK(rounded >= 1, "deep_supervision_extent: extent ", extent, " at scale ", scale, " rounds to ", rounded,
             " (must be >= 1)");
  return static_cast<std::int64_t>(rounded);
}

Tensor resize_nearest_exact(const Context& ctx, const Tensor& x, const std::array<std::int64_t, 3>& out_spatial) {
  detail::check_operand(x, ctx, "resize_nearest_exact", "x");
  NNUC_CHECK(x.rank() == 5, "resize_nearest_exact: x must be (N, D, H, W, C), got ", x.describe());
  NNUC_CHECK(out_spatial[0] >= 1 && out_spatial[1] >= 1 && out_spatial[2] >= 1,
             "resize_nearest_exact: out_spatial must be >= 1 per axis, got (", out_spatial[0], ", ", out_spatial[1],
             ", ", out_spatial[2], ")");
  NNUC_CHECK(x.dim(1) >= 1 && x.dim(2) >= 1 && x.dim(3) >= 1,
             "resize_nearest_exact: x must have >= 1 voxel per spatial axis, got ", x.describe());
  Tensor out = Tensor::empty(Shape{x.dim(0), out_spatial[0], out_spatial[1], out_spatial[2], x.dim(4)}, x.dtype(),
                             ctx);  // (N, Do, Ho, Wo, C)
  switch (ctx.device()) {
    case Device::CPU: cpu::resize_nearest_exact(x, out); break;
    case Device::CUDA: NNUC_IF_CUDA(cuda::resize_nearest_exact(ctx, x, out)); break;
    case Device::Meta: break;
  }
  return out;
}

}  // namespace nnuc
