// The device helpers every CUDA kernel of nnuc shares (kernels/*, data/augment): element conversions
// (the same rules as kernels/elementwise/convert.h on the host), loads and stores through f32, the
// stream of a Context, grid-stride loops and launch sizes. Op-family helpers build on these:
// kernels/norm/cuda_rows.cuh (16-byte packs, the channels-last row loop), kernels/loss/
// loss_cuda_common.cuh (the deterministic block reduction of the loss sums), kernels/elementwise/
// multi_tensor.cuh (launches over tensor lists), kernels/layout/copy_units.cuh (copy widths).
//
// bf16 is held as __nv_bfloat16, or (kernels/norm, for 16-byte vector packs) as its raw bits in an
// unsigned short: to_float / from_float<unsigned short> read and write those bits. No tensor dtype is
// a 16-bit unsigned integer, so the overload cannot be taken for one.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "kernels/core/context.h"

namespace nnuc::cuda {

constexpr int kThreads = 256;

inline cudaStream_t stream_of(const Context& ctx) { return static_cast<cudaStream_t>(ctx.stream()); }

// Blocks for a grid-stride loop over `count` items: one item per thread up to a cap, beyond which
// each thread strides (the cap keeps every SM busy with several resident blocks).
inline unsigned grid_for(std::int64_t count, int threads = kThreads) {
  const std::int64_t blocks = (count + threads - 1) / threads;
  return static_cast<unsigned>(std::max<std::int64_t>(1, std::min<std::int64_t>(blocks, std::int64_t{1} << 16)));
}

// First index and stride of a grid-stride loop over blockIdx.x / threadIdx.x, in 64 bits.
__device__ __forceinline__ std::int64_t grid_first() {
  return static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ std::int64_t grid_stride() { return static_cast<std::int64_t>(gridDim.x) * blockDim.x; }

__device__ __forceinline__ float quiet_nan() { return __int_as_float(0x7fc00000); }

// Exact widening to f32 (one rounding from wide integers).
__device__ __forceinline__ float to_float(float value) { return value; }
__device__ __forceinline__ float to_float(__nv_bfloat16 value) { return __bfloat162float(value); }
__device__ __forceinline__ float to_float(__half value) { return __half2float(value); }
__device__ __forceinline__ float to_float(unsigned short bf16_bits) {
  return __uint_as_float(static_cast<unsigned int>(bf16_bits) << 16);
}
template <typename Int, typename = std::enable_if_t<std::is_integral_v<Int>>>
__device__ __forceinline__ float to_float(Int value) {
  return static_cast<float>(value);
}

// An f32 value rounded to T (nearest even; unsigned short: the bits of the bf16 value).
template <typename T>
__device__ __forceinline__ T from_float(float value);
template <>
__device__ __forceinline__ float from_float<float>(float value) {
  return value;
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float value) {
  return __float2bfloat16_rn(value);
}
template <>
__device__ __forceinline__ __half from_float<__half>(float value) {
  return __float2half_rn(value);
}
template <>
__device__ __forceinline__ unsigned short from_float<unsigned short>(float value) {
  return __bfloat16_as_ushort(__float2bfloat16_rn(value));  // round to nearest even, as the host's float_to_bf16
}

// Loads through the read-only cache (f32) and stores, converting through f32.
__device__ __forceinline__ float load_as_float(const float* pointer) { return __ldg(pointer); }
__device__ __forceinline__ float load_as_float(const __nv_bfloat16* pointer) { return __bfloat162float(*pointer); }
__device__ __forceinline__ void store_from_float(float* pointer, float value) { *pointer = value; }
__device__ __forceinline__ void store_from_float(__nv_bfloat16* pointer, float value) {
  *pointer = from_float<__nv_bfloat16>(value);
}

}  // namespace nnuc::cuda
