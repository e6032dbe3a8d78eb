// Device helpers shared by loss_cuda.cu and region_loss_cuda.cu: f32 / bf16 loads and stores, the
// deterministic block reduction of the forward's kSlots partial sums, and launch geometry.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "kernels/loss/loss_impl.h"

namespace nnuc::cuda::loss_kernels {

using loss_detail::kSlots;
using loss_detail::kThreads;

__device__ __forceinline__ float load_as_float(const float* pointer) { return __ldg(pointer); }
__device__ __forceinline__ float load_as_float(const __nv_bfloat16* pointer) { return __bfloat162float(*pointer); }
__device__ __forceinline__ void store_from_float(float* pointer, float value) { *pointer = value; }
__device__ __forceinline__ void store_from_float(__nv_bfloat16* pointer, float value) {
  *pointer = __float2bfloat16(value);  // round to nearest even
}

__device__ __forceinline__ float quiet_nan() { return __int_as_float(0x7fc00000); }

// First index and stride of a grid-stride loop over blockIdx.x / threadIdx.x, in 64 bits.
__device__ __forceinline__ std::int64_t grid_first() {
  return static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ std::int64_t grid_stride() { return static_cast<std::int64_t>(gridDim.x) * blockDim.x; }

// Adds each of the kSlots per-thread values over the block and writes the totals to out[0, kSlots):
// a fixed shuffle tree inside each warp, then the warps in index order, so the result does not depend
// on scheduling. Requires blockDim.x == kThreads; every thread of the block must call it.
__device__ __forceinline__ void block_reduce_slots(const float (&values)[kSlots], float* out) {
  constexpr int kWarps = kThreads / 32;
  __shared__ float warp_sums[kWarps][kSlots];
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const int warp = static_cast<int>(threadIdx.x) >> 5;
#pragma unroll
  for (int slot = 0; slot < kSlots; ++slot) {
    float value = values[slot];
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) value += __shfl_down_sync(0xffffffffu, value, offset);
    if (lane == 0) warp_sums[warp][slot] = value;
  }
  __syncthreads();
  if (static_cast<int>(threadIdx.x) < kSlots) {
    float total = 0.0f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) total += warp_sums[w][threadIdx.x];
    out[threadIdx.x] = total;
  }
}

// Blocks for an elementwise grid-stride launch over `count` items.
inline unsigned int elementwise_blocks(std::int64_t count) {
  const std::int64_t wanted = (count + kThreads - 1) / kThreads;
  return static_cast<unsigned int>(std::clamp<std::int64_t>(wanted, 1, std::int64_t{1} << 20));
}

}  // namespace nnuc::cuda::loss_kernels
