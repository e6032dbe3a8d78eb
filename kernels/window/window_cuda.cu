// CUDA sliding-window ops: grid-stride loops over a tile's elements, one launch per tile. Tiles of one
// call may overlap, so accumulate_tiles launches them one after another on the context's stream (no
// atomics); the origins travel as kernel arguments, so nothing is copied between host and device.
// The f32 arithmetic uses __fmul_rn / __fadd_rn / __fdiv_rn: the same roundings as the CPU, no FMA.
#include "kernels/core/cuda_check.h"
#include "kernels/core/nvtx.h"
#include "kernels/elementwise/cuda_util.cuh"
#include "kernels/window/window_impl.h"

namespace nnuc::cuda {

namespace {

struct TileGeometry {
  std::int64_t t0, t1, t2;  // tile
  std::int64_t b0, b1, b2;  // case
  std::int64_t o0, o1, o2;  // origin of the tile in the case
  bool f0, f1, f2;          // mirrored axes
};

TileGeometry geometry_of(const TileSize& tile, std::int64_t b0, std::int64_t b1, std::int64_t b2,
                         const TileOrigin& origin, unsigned flip_axes) {
  TileGeometry g{};
  g.t0 = tile[0], g.t1 = tile[1], g.t2 = tile[2];
  g.b0 = b0, g.b1 = b1, g.b2 = b2;
  g.o0 = origin[0], g.o1 = origin[1], g.o2 = origin[2];
  g.f0 = (flip_axes & kFlipD) != 0, g.f1 = (flip_axes & kFlipH) != 0, g.f2 = (flip_axes & kFlipW) != 0;
  return g;
}

__device__ __forceinline__ std::int64_t mirrored(std::int64_t x, std::int64_t t, bool flipped) {
  return flipped ? t - 1 - x : x;
}

// out (t0, t1, t2, C) of one tile, element i = x * C + c.
template <typename Out>
__global__ void extract_tile_kernel(const float* image, Out* out, TileGeometry g, std::int64_t channels) {
  const std::int64_t count = g.t0 * g.t1 * g.t2 * channels, case_voxels = g.b0 * g.b1 * g.b2;
  for (std::int64_t i = grid_first(); i < count; i += grid_stride()) {
    const std::int64_t c = i % channels, x = i / channels;
    const std::int64_t x2 = x % g.t2, x1 = x / g.t2 % g.t1, x0 = x / (g.t1 * g.t2);
    const std::int64_t v0 = g.o0 + mirrored(x0, g.t0, g.f0), v1 = g.o1 + mirrored(x1, g.t1, g.f1),
                       v2 = g.o2 + mirrored(x2, g.t2, g.f2);
    const bool inside = v0 >= 0 && v0 < g.b0 && v1 >= 0 && v1 < g.b1 && v2 >= 0 && v2 < g.b2;
    const float value = inside ? image[c * case_voxels + (v0 * g.b1 + v1) * g.b2 + v2] : 0.0f;
    out[i] = from_float<Out>(value);
  }
}

// sum (N, t0, t1, t2, K), element i = ((n * t0 + x0) * t1 + x1) * t2 + x2) * K + k.
template <typename In>
__global__ void add_flipped_kernel(const In* logits, float* sum, std::int64_t count, std::int64_t t0, std::int64_t t1,
                                   std::int64_t t2, std::int64_t K, bool f0, bool f1, bool f2, bool overwrite) {
  for (std::int64_t i = grid_first(); i < count; i += grid_stride()) {
    const std::int64_t k = i % K, x = i / K;
    const std::int64_t x2 = x % t2, x1 = x / t2 % t1, x0 = x / (t1 * t2) % t0, n = x / (t0 * t1 * t2);
    const std::int64_t source =
        (((n * t0 + mirrored(x0, t0, f0)) * t1 + mirrored(x1, t1, f1)) * t2 + mirrored(x2, t2, f2)) * K + k;
    const float value = to_float(logits[source]);
    sum[i] = overwrite ? value : __fadd_rn(sum[i], value);
  }
}

// One tile's voxels x inside the case (ranges [first, first + extent) per axis): acc and weights.
__global__ void accumulate_tile_kernel(const float* tile, const float* gaussian, float scale, float* acc,
                                       float* weights, TileGeometry g, std::int64_t K, std::int64_t first0,
                                       std::int64_t first1, std::int64_t first2, std::int64_t extent0,
                                       std::int64_t extent1, std::int64_t extent2) {
  const std::int64_t count = extent0 * extent1 * extent2, case_voxels = g.b0 * g.b1 * g.b2;
  for (std::int64_t i = grid_first(); i < count; i += grid_stride()) {
    const std::int64_t x2 = first2 + i % extent2, x1 = first1 + i / extent2 % extent1,
                       x0 = first0 + i / (extent1 * extent2);
    const std::int64_t x = (x0 * g.t1 + x1) * g.t2 + x2;
    const std::int64_t v = ((g.o0 + x0) * g.b1 + (g.o1 + x1)) * g.b2 + (g.o2 + x2);
    const float weight = gaussian[x];
    for (std::int64_t k = 0; k < K; ++k) {
      const float weighted = __fmul_rn(__fmul_rn(tile[x * K + k], scale), weight);
      acc[k * case_voxels + v] = __fadd_rn(acc[k * case_voxels + v], weighted);
    }
    weights[v] = __fadd_rn(weights[v], weight);
  }
}

__global__ void normalize_kernel(float* acc, const float* weights, std::int64_t count, std::int64_t voxels) {
  for (std::int64_t i = grid_first(); i < count; i += grid_stride()) acc[i] = __fdiv_rn(acc[i], weights[i % voxels]);
}

// [first, first + extent) of tile positions along an axis whose voxel o + x lies in [0, b).
void inside(std::int64_t origin, std::int64_t t, std::int64_t b, std::int64_t& first, std::int64_t& extent) {
  first = std::clamp<std::int64_t>(-origin, 0, t);
  extent = std::clamp<std::int64_t>(b - origin, first, t) - first;
}

}  // namespace

void extract_tiles(const Context& ctx, const Tensor& image, const std::vector<TileOrigin>& origins,
                   const TileSize& tile, unsigned flip_axes, Tensor& out) {
  NNUC_RANGE("extract_tiles");
  const std::int64_t channels = image.dim(0), tile_elements = tile[0] * tile[1] * tile[2] * channels;
  for (std::size_t n = 0; n < origins.size(); ++n) {
    const TileGeometry g = geometry_of(tile, image.dim(1), image.dim(2), image.dim(3), origins[n], flip_axes);
    const auto offset = static_cast<std::int64_t>(n) * tile_elements;
    if (out.dtype() == DType::bf16) {
      extract_tile_kernel<<<grid_for(tile_elements), kThreads, 0, stream_of(ctx)>>>(
          image.data<float>(), static_cast<__nv_bfloat16*>(out.raw()) + offset, g, channels);
    } else {
      extract_tile_kernel<<<grid_for(tile_elements), kThreads, 0, stream_of(ctx)>>>(
          image.data<float>(), out.data<float>() + offset, g, channels);
    }
    CUDA_CHECK_LAUNCH();
  }
}

void add_flipped_tiles(const Context& ctx, const Tensor& logits, unsigned flip_axes, Tensor& sum, bool overwrite) {
  NNUC_RANGE("add_flipped_tiles");
  const std::int64_t count = sum.numel();
  if (count == 0) return;
  const bool f0 = flip_axes & kFlipD, f1 = flip_axes & kFlipH, f2 = flip_axes & kFlipW;
  const std::int64_t t0 = logits.dim(1), t1 = logits.dim(2), t2 = logits.dim(3), K = logits.dim(4);
  if (logits.dtype() == DType::bf16) {
    add_flipped_kernel<<<grid_for(count), kThreads, 0, stream_of(ctx)>>>(
        static_cast<const __nv_bfloat16*>(logits.raw()), sum.data<float>(), count, t0, t1, t2, K, f0, f1, f2,
        overwrite);
  } else {
    add_flipped_kernel<<<grid_for(count), kThreads, 0, stream_of(ctx)>>>(logits.data<float>(), sum.data<float>(), count,
                                                                         t0, t1, t2, K, f0, f1, f2, overwrite);
  }
  CUDA_CHECK_LAUNCH();
}

void accumulate_tiles(const Context& ctx, const Tensor& tile_sum, const Tensor& gaussian, float scale,
                      const std::vector<TileOrigin>& origins, Tensor& acc, Tensor& weights) {
  NNUC_RANGE("accumulate_tiles");
  const TileSize tile{tile_sum.dim(1), tile_sum.dim(2), tile_sum.dim(3)};
  const std::int64_t K = tile_sum.dim(4), tile_elements = tile[0] * tile[1] * tile[2] * K;
  for (std::size_t n = 0; n < origins.size(); ++n) {
    const TileGeometry g = geometry_of(tile, acc.dim(1), acc.dim(2), acc.dim(3), origins[n], 0);
    std::int64_t first0, first1, first2, extent0, extent1, extent2;
    inside(g.o0, g.t0, g.b0, first0, extent0);
    inside(g.o1, g.t1, g.b1, first1, extent1);
    inside(g.o2, g.t2, g.b2, first2, extent2);
    const std::int64_t count = extent0 * extent1 * extent2;
    if (count == 0) continue;
    accumulate_tile_kernel<<<grid_for(count), kThreads, 0, stream_of(ctx)>>>(
        tile_sum.data<float>() + static_cast<std::int64_t>(n) * tile_elements, gaussian.data<float>(), scale,
        acc.data<float>(), weights.data<float>(), g, K, first0, first1, first2, extent0, extent1, extent2);
    CUDA_CHECK_LAUNCH();
  }
}

void normalize_by_weights(const Context& ctx, Tensor& acc, const Tensor& weights) {
  NNUC_RANGE("normalize_by_weights");
  const std::int64_t count = acc.numel();
  if (count == 0) return;
  normalize_kernel<<<grid_for(count), kThreads, 0, stream_of(ctx)>>>(acc.data<float>(), weights.data<float>(), count,
                                                                     weights.numel());
  CUDA_CHECK_LAUNCH();
}

}  // namespace nnuc::cuda
