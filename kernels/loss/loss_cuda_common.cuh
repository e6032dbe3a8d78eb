// Device helpers shared by loss_cuda.cu and region_loss_cuda.cu: the deterministic block reduction
// of the forward's kSlots partial sums and the elementwise launch size; conversions, loads, stores and
// grid-stride loops are kernels/elementwise/cuda_util.cuh's.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "kernels/elementwise/cuda_util.cuh"
#include "kernels/loss/loss_impl.h"

namespace nnuc::cuda::loss_kernels {

// The vocabulary of both .cu files (which say `using namespace loss_kernels`).
using loss_detail::BackwardTerms;
using loss_detail::kClassChunk;
using loss_detail::kSlotCounted;
using loss_detail::kSlotIntersection;
using loss_detail::kSlotLoss;
using loss_detail::kSlotPrediction;
using loss_detail::kSlots;
using loss_detail::kSlotTarget;
using loss_detail::SumOutputs;
// The host sizes the partials workspace with loss_detail::kThreads threads per block.
static_assert(loss_detail::kThreads == kThreads, "the loss kernels launch cuda::kThreads threads per block");

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
