// CUDA flip: a warp per output row (n, d, h) of W * C elements, moved in copy units.
#include "kernels/core/cuda_check.h"
#include "kernels/core/nvtx.h"
#include "kernels/elementwise/cuda_util.cuh"
#include "kernels/layout/copy_units.cuh"
#include "kernels/layout/flip_impl.h"

namespace nnuc::cuda {

namespace {

constexpr int kRowsPerBlock = 8;

template <typename Unit>
__global__ void flip_kernel(const Unit* x, Unit* out, std::int64_t rows, std::int64_t D, std::int64_t H, int W,
                            int voxel_units, unsigned axes) {
  const int row_units = W * voxel_units;
  for (std::int64_t row = blockIdx.x * std::int64_t{kRowsPerBlock} + threadIdx.y; row < rows;
       row += std::int64_t{gridDim.x} * kRowsPerBlock) {
    const std::int64_t n = row / (D * H), d = row / H % D, h = row % H;
    const std::int64_t source_d = (axes & kFlipD) ? D - 1 - d : d;
    const std::int64_t source_h = (axes & kFlipH) ? H - 1 - h : h;
    const Unit* source = x + ((n * D + source_d) * H + source_h) * row_units;
    Unit* target = out + row * row_units;
    for (int j = threadIdx.x; j < row_units; j += 32) {
      const int w = j / voxel_units, unit = j - w * voxel_units;
      const int source_w = (axes & kFlipW) ? W - 1 - w : w;
      target[j] = source[source_w * voxel_units + unit];
    }
  }
}

}  // namespace

void flip(const Context& ctx, const Tensor& x, unsigned axes, Tensor& out) {
  NNUC_RANGE("flip");
  if (x.numel() == 0) return;
  const std::size_t voxel_bytes = static_cast<std::size_t>(x.dim(4)) * dtype_size(x.dtype());
  const std::int64_t rows = x.dim(0) * x.dim(1) * x.dim(2);
  with_copy_unit(copy_unit_bytes({voxel_bytes}), [&](auto unit) {
    using Unit = decltype(unit);
    const int voxel_units = static_cast<int>(voxel_bytes / sizeof(Unit));
    NNUC_CHECK(x.dim(3) * voxel_units < (std::int64_t{1} << 31), "flip: rows of ", x.describe(), " are too long");
    const dim3 block(32, kRowsPerBlock);
    flip_kernel<Unit><<<grid_for(rows, kRowsPerBlock), block, 0, stream_of(ctx)>>>(
        static_cast<const Unit*>(x.raw()), static_cast<Unit*>(out.raw()), rows, x.dim(1), x.dim(2),
        static_cast<int>(x.dim(3)), voxel_units, axes);
    CUDA_CHECK_LAUNCH();
  });
}

}  // namespace nnuc::cuda
