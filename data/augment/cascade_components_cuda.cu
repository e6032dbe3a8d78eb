// CUDA connected components for the cascade's component removal (spec §7.3 step 14).
//
// Labelling: union-find over voxel indices (Playne & Hawick, "A new algorithm for parallel
// connected-component labelling on GPUs", 2018). parents[v] starts at v on the foreground; each
// foreground voxel joins its already-visited neighbours in raster order (13 of the 26, or 4 when the
// voxel before it in its row is foreground, as in the CPU labelling); joining links the larger root
// below the smaller one with atomicMin. parents[v] <= v always holds, so every component's root is
// its smallest linear voxel index: the canonical order the CPU's scipy numbering also follows. A
// final pass points every voxel at its root.
//
// Selection without the host: one block per tile of kComponentTile voxels counts its eligible roots
// (root, size < 15 % of the patch) with __syncthreads_count; one block then scans the tile counts to
// find the tile holding the k-th eligible root, k = removal_index(choice, total), and scans that tile
// to find the root itself; a last kernel clears the voxels whose root it is.
#include <cstdint>

#include "data/augment/cascade.h"
#include "data/augment/cascade_internal.h"
#include "kernels/core/cuda_check.h"
#include "kernels/core/nvtx.h"
#include "kernels/elementwise/cuda_util.cuh"

namespace nnuc::augment::cuda {

namespace {

using augment::detail::kComponentTile;
using nnuc::cuda::grid_for;
using nnuc::cuda::kThreads;
using nnuc::cuda::stream_of;

static_assert(kComponentTile == 1024, "the selection kernels run one 1024-thread block per tile");

struct Patch {
  std::int32_t X, Y, Z;
  std::int64_t voxels;
};

__global__ void init_parents_kernel(const float* __restrict__ channel, std::int64_t voxels, std::int32_t* parents) {
  for (std::int64_t v = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; v < voxels;
       v += std::int64_t{gridDim.x} * blockDim.x)
    parents[v] = channel[v] != 0.0f ? static_cast<std::int32_t>(v) : -1;
}

// Reads bypass L1: other blocks lower parents concurrently.
__device__ std::int32_t find_root(const std::int32_t* parents, std::int32_t v) {
  std::int32_t parent = __ldcg(parents + v);
  while (parent != v) {
    v = parent;
    parent = __ldcg(parents + v);
  }
  return v;
}

__device__ void unite(std::int32_t* parents, std::int32_t a, std::int32_t b) {
  for (;;) {
    a = find_root(parents, a);
    b = find_root(parents, b);
    if (a == b) return;
    if (a < b) {
      const std::int32_t t = a;
      a = b;
      b = t;
    }
    // Link root a below b. If a is no longer a root, its parent was lowered meanwhile (now
    // min(old, b)): continue joining from the old parent, which keeps a's former set connected.
    const std::int32_t old = atomicMin(parents + a, b);
    if (old == a) return;
    a = old;
  }
}

__global__ void merge_kernel(const float* __restrict__ channel, Patch p, std::int32_t* parents) {
  const std::int64_t plane = std::int64_t{p.Y} * p.Z;
  for (std::int64_t v = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; v < p.voxels;
       v += std::int64_t{gridDim.x} * blockDim.x) {
    if (channel[v] == 0.0f) continue;
    const std::int32_t x = static_cast<std::int32_t>(v / plane), y = static_cast<std::int32_t>(v / p.Z % p.Y),
                       z = static_cast<std::int32_t>(v % p.Z);
    const auto here = static_cast<std::int32_t>(v);
    const bool left = z > 0 && channel[v - 1] != 0.0f;
    if (left) unite(parents, here, here - 1);
    // Rows before this voxel's row: (x, y - 1), (x - 1, y - 1), (x - 1, y), (x - 1, y + 1).
    const int row_dx[4] = {0, -1, -1, -1}, row_dy[4] = {-1, -1, 0, 1};
    for (int r = 0; r < 4; ++r) {
      const std::int32_t nx = x + row_dx[r], ny = y + row_dy[r];
      if (nx < 0 || ny < 0 || ny >= p.Y) continue;
      const std::int64_t row = (std::int64_t{nx} * p.Y + ny) * p.Z;
      // With the voxel before it on the foreground, only the column z + 1 is new (the rest touches
      // that voxel, which joins them itself).
      const std::int32_t low = left ? z + 1 : (z > 0 ? z - 1 : 0);
      const std::int32_t high = z + 1 < p.Z ? z + 1 : p.Z - 1;
      for (std::int32_t k = low; k <= high; ++k)
        if (channel[row + k] != 0.0f) unite(parents, here, static_cast<std::int32_t>(row + k));
    }
  }
}

__global__ void compress_kernel(std::int64_t voxels, std::int32_t* parents) {
  for (std::int64_t v = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; v < voxels;
       v += std::int64_t{gridDim.x} * blockDim.x) {
    const std::int32_t parent = parents[v];
    if (parent >= 0 && parent != v) parents[v] = find_root(parents, static_cast<std::int32_t>(v));
  }
}

__global__ void sizes_kernel(const std::int32_t* __restrict__ parents, std::int64_t voxels, std::int32_t* sizes) {
  for (std::int64_t v = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; v < voxels;
       v += std::int64_t{gridDim.x} * blockDim.x)
    if (parents[v] >= 0) atomicAdd(sizes + parents[v], 1);
}

__device__ bool eligible_root(const std::int32_t* parents, const std::int32_t* sizes, std::int64_t voxels, double limit,
                              std::int64_t v) {
  return v < voxels && parents[v] == v && static_cast<double>(sizes[v]) < limit;
}

// tiles[t] = eligible roots among voxels [t * 1024, (t + 1) * 1024). One block per tile.
__global__ void count_tiles_kernel(const std::int32_t* __restrict__ parents, const std::int32_t* __restrict__ sizes,
                                   std::int64_t voxels, double limit, std::int32_t* tiles) {
  const std::int64_t v = std::int64_t{blockIdx.x} * kComponentTile + threadIdx.x;
  const int count = __syncthreads_count(eligible_root(parents, sizes, voxels, limit, v));
  if (threadIdx.x == 0) tiles[blockIdx.x] = count;
}

// Exclusive prefix sum of `value` over a 1024-thread block; `total` gets the block's sum.
__device__ int block_exclusive_scan(int value, int& total) {
  __shared__ int warp_sums[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  int inclusive = value;
  for (int offset = 1; offset < 32; offset <<= 1) {
    const int below = __shfl_up_sync(0xffffffffu, inclusive, offset);
    if (lane >= offset) inclusive += below;
  }
  if (lane == 31) warp_sums[warp] = inclusive;
  __syncthreads();
  if (warp == 0) {
    int sums = warp_sums[lane];
    for (int offset = 1; offset < 32; offset <<= 1) {
      const int below = __shfl_up_sync(0xffffffffu, sums, offset);
      if (lane >= offset) sums += below;
    }
    warp_sums[lane] = sums;  // inclusive over warps
  }
  __syncthreads();
  const int exclusive = (warp > 0 ? warp_sums[warp - 1] : 0) + inclusive - value;
  total = warp_sums[31];
  __syncthreads();  // warp_sums is reused by the next call
  return exclusive;
}

// One block: tiles[tile_count] = the eligible root removal_index(choice, total) picks, or -1.
__global__ void choose_kernel(const std::int32_t* __restrict__ parents, const std::int32_t* __restrict__ sizes,
                              std::int64_t voxels, double limit, double choice, std::int32_t tile_count,
                              std::int32_t* tiles) {
  __shared__ int found_tile, found_rank;
  int total = 0;
  for (std::int32_t chunk = 0; chunk < tile_count; chunk += kComponentTile) {
    const std::int32_t t = chunk + static_cast<std::int32_t>(threadIdx.x);
    int chunk_total = 0;
    block_exclusive_scan(t < tile_count ? tiles[t] : 0, chunk_total);
    total += chunk_total;
  }
  if (total == 0) {
    if (threadIdx.x == 0) tiles[tile_count] = -1;
    return;
  }
  const int k = static_cast<int>(removal_index(choice, total));
  int running = 0;
  for (std::int32_t chunk = 0; chunk < tile_count; chunk += kComponentTile) {
    const std::int32_t t = chunk + static_cast<std::int32_t>(threadIdx.x);
    const int count = t < tile_count ? tiles[t] : 0;
    int chunk_total = 0;
    const int before = running + block_exclusive_scan(count, chunk_total);
    if (count > 0 && before <= k && k < before + count) {  // exactly one thread
      found_tile = t;
      found_rank = k - before;
    }
    running += chunk_total;
  }
  __syncthreads();
  const std::int64_t v = std::int64_t{found_tile} * kComponentTile + threadIdx.x;
  const bool eligible = eligible_root(parents, sizes, voxels, limit, v);
  int tile_total = 0;
  const int rank = block_exclusive_scan(eligible ? 1 : 0, tile_total);
  if (eligible && rank == found_rank) tiles[tile_count] = static_cast<std::int32_t>(v);
}

__global__ void erase_kernel(const std::int32_t* __restrict__ parents, const std::int32_t* __restrict__ chosen,
                             std::int64_t voxels, float* channel) {
  const std::int32_t root = *chosen;
  if (root < 0) return;
  for (std::int64_t v = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; v < voxels;
       v += std::int64_t{gridDim.x} * blockDim.x)
    if (parents[v] == root) channel[v] = 0.0f;
}

}  // namespace

namespace detail {

void label_roots(const Context& ctx, const float* channel, const Shape3& patch, std::int32_t* parents) {
  const Patch p{static_cast<std::int32_t>(patch[0]), static_cast<std::int32_t>(patch[1]),
                static_cast<std::int32_t>(patch[2]), patch[0] * patch[1] * patch[2]};
  if (p.voxels == 0) return;
  const unsigned grid = grid_for(p.voxels);
  const cudaStream_t stream = stream_of(ctx);
  init_parents_kernel<<<grid, kThreads, 0, stream>>>(channel, p.voxels, parents);
  CUDA_CHECK_LAUNCH();
  merge_kernel<<<grid, kThreads, 0, stream>>>(channel, p, parents);
  CUDA_CHECK_LAUNCH();
  compress_kernel<<<grid, kThreads, 0, stream>>>(p.voxels, parents);
  CUDA_CHECK_LAUNCH();
}

void remove_component(const Context& ctx, float* channel, const Shape3& patch, double choice, std::int32_t* parents,
                      std::int32_t* sizes, std::int32_t* tiles) {
  NNUC_RANGE("cascade_remove_component");
  const std::int64_t voxels = patch[0] * patch[1] * patch[2];
  if (voxels == 0) return;
  const cudaStream_t stream = stream_of(ctx);
  const auto tile_count = static_cast<std::int32_t>(augment::detail::component_tiles(voxels));
  const double limit = kComponentRemovalMaxFraction * static_cast<double>(voxels);
  label_roots(ctx, channel, patch, parents);
  CUDA_CHECK(cudaMemsetAsync(sizes, 0, static_cast<std::size_t>(voxels) * sizeof(std::int32_t), stream));
  sizes_kernel<<<grid_for(voxels), kThreads, 0, stream>>>(parents, voxels, sizes);
  CUDA_CHECK_LAUNCH();
  count_tiles_kernel<<<static_cast<unsigned>(tile_count), kComponentTile, 0, stream>>>(parents, sizes, voxels, limit,
                                                                                       tiles);
  CUDA_CHECK_LAUNCH();
  choose_kernel<<<1, kComponentTile, 0, stream>>>(parents, sizes, voxels, limit, choice, tile_count, tiles);
  CUDA_CHECK_LAUNCH();
  erase_kernel<<<grid_for(voxels), kThreads, 0, stream>>>(parents, tiles + tile_count, voxels, channel);
  CUDA_CHECK_LAUNCH();
}

}  // namespace detail

void component_roots(const Context& ctx, const Tensor& mask, Tensor& roots) {
  NNUC_RANGE("component_roots");
  detail::label_roots(ctx, mask.data<float>(), Shape3{mask.dim(0), mask.dim(1), mask.dim(2)},
                      roots.data<std::int32_t>());
}

}  // namespace nnuc::augment::cuda
