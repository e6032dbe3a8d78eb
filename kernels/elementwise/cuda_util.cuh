// Device-side helpers shared by the CUDA kernels of kernels/elementwise, kernels/layout and
// kernels/optim: element conversions (the same rules as kernels/elementwise/convert.h on the host)
// and launch sizes.
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

// Exact widening to f32 (one rounding from wide integers).
__device__ __forceinline__ float to_float(float value) { return value; }
__device__ __forceinline__ float to_float(__nv_bfloat16 value) { return __bfloat162float(value); }
__device__ __forceinline__ float to_float(__half value) { return __half2float(value); }
template <typename Int, typename = std::enable_if_t<std::is_integral_v<Int>>>
__device__ __forceinline__ float to_float(Int value) {
  return static_cast<float>(value);
}

// An f32 value rounded to T (nearest even).
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

}  // namespace nnuc::cuda
