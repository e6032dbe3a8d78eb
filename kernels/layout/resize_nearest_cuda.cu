// CUDA resize_nearest_exact: a warp per output row (n, d, h) of Wo * C elements, moved in copy units.
#include "kernels/core/cuda_check.h"
#include "kernels/core/nvtx.h"
#include "kernels/elementwise/cuda_util.cuh"
#include "kernels/layout/copy_units.cuh"
#include "kernels/layout/resize_nearest_impl.h"

namespace nnuc::cuda {

namespace {

constexpr int kRowsPerBlock = 8;

// The rule of resize_nearest.h: min(floor(fl32((dst + 0.5) * scale)), in - 1).
__device__ __forceinline__ std::int64_t source_index(std::int64_t dst, float scale, std::int64_t in) {
  const std::int64_t source = static_cast<std::int64_t>(floorf(__fmul_rn(static_cast<float>(dst) + 0.5f, scale)));
  return source < in - 1 ? source : in - 1;
}

struct ResizeGeometry {
  std::int64_t rows, D, H, W, Do, Ho;
  int Wo, voxel_units;
  float scale_d, scale_h, scale_w;
};

template <typename Unit>
__global__ void resize_kernel(const Unit* x, Unit* out, const ResizeGeometry g) {
  const int row_units = g.Wo * g.voxel_units;
  for (std::int64_t row = blockIdx.x * std::int64_t{kRowsPerBlock} + threadIdx.y; row < g.rows;
       row += std::int64_t{gridDim.x} * kRowsPerBlock) {
    const std::int64_t n = row / (g.Do * g.Ho), d = row / g.Ho % g.Do, h = row % g.Ho;
    const std::int64_t source_row = (n * g.D + source_index(d, g.scale_d, g.D)) * g.H + source_index(h, g.scale_h, g.H);
    const Unit* source = x + source_row * g.W * g.voxel_units;
    Unit* target = out + row * row_units;
    for (int j = threadIdx.x; j < row_units; j += 32) {
      const int w = j / g.voxel_units, unit = j - w * g.voxel_units;
      target[j] = source[source_index(w, g.scale_w, g.W) * g.voxel_units + unit];
    }
  }
}

}  // namespace

void resize_nearest_exact(const Context& ctx, const Tensor& x, Tensor& out) {
  NNUC_RANGE("resize_nearest_exact");
  if (out.numel() == 0) return;
  const std::size_t voxel_bytes = static_cast<std::size_t>(x.dim(4)) * dtype_size(x.dtype());
  with_copy_unit(copy_unit_bytes({voxel_bytes}), [&](auto unit) {
    using Unit = decltype(unit);
    ResizeGeometry g{};
    g.rows = out.dim(0) * out.dim(1) * out.dim(2);
    g.D = x.dim(1);
    g.H = x.dim(2);
    g.W = x.dim(3);
    g.Do = out.dim(1);
    g.Ho = out.dim(2);
    g.voxel_units = static_cast<int>(voxel_bytes / sizeof(Unit));
    NNUC_CHECK(out.dim(3) * g.voxel_units < (std::int64_t{1} << 31), "resize_nearest_exact: rows of ", out.describe(),
               " are too long");
    g.Wo = static_cast<int>(out.dim(3));
    g.scale_d = static_cast<float>(g.D) / static_cast<float>(g.Do);
    g.scale_h = static_cast<float>(g.H) / static_cast<float>(g.Ho);
    g.scale_w = static_cast<float>(g.W) / static_cast<float>(out.dim(3));
    const dim3 block(32, kRowsPerBlock);
    resize_kernel<Unit><<<grid_for(g.rows, kRowsPerBlock), block, 0, stream_of(ctx)>>>(
        static_cast<const Unit*>(x.raw()), static_cast<Unit*>(out.raw()), g);
    CUDA_CHECK_LAUNCH();
  });
}

}  // namespace nnuc::cuda
