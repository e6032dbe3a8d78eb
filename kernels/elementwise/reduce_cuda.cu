// CUDA reductions and clipping: the CPU functions of reduce_cpu.cpp as deterministic trees.
//
// Pass 1 (multi-tensor): block b reduces chunk b (kReduceChunkCuda elements of one tensor) in f64:
// thread t accumulates elements t, t + 256, ... into four interleaved partial sums, then the block
// combines its threads in a fixed shuffle tree and writes partials[b]. Pass 2: one block of 1024
// threads combines all partials the same way and writes the f32 result. Every order is fixed by
// the chunking and the block shapes alone, so the bits do not depend on the GPU or on timing.
#include "kernels/core/cuda_check.h"
#include "kernels/core/nvtx.h"
#include "kernels/elementwise/cuda_util.cuh"
#include "kernels/elementwise/multi_tensor.cuh"
#include "kernels/elementwise/reduce_impl.h"

namespace nnuc::cuda {

namespace {

constexpr int kReduceThreads = 256;
constexpr int kFinishThreads = 1024;

template <ReduceKind Kind>
__device__ __forceinline__ double term(float value) {
  if constexpr (Kind == ReduceKind::sum) {
    return value;
  } else if constexpr (Kind == ReduceKind::sum_of_squares) {
    return static_cast<double>(value) * static_cast<double>(value);
  } else {
    return isfinite(value) ? 0.0 : 1.0;
  }
}

// Sum over the block in a fixed tree; the result is valid in thread 0.
__device__ double block_sum(double value) {
  __shared__ double warp_sums[32];
  for (int offset = 16; offset > 0; offset /= 2) value += __shfl_down_sync(0xffffffffu, value, offset);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) warp_sums[warp] = value;
  __syncthreads();
  if (warp == 0) {
    value = lane < static_cast<int>(blockDim.x / 32) ? warp_sums[lane] : 0.0;
    for (int offset = 16; offset > 0; offset /= 2) value += __shfl_down_sync(0xffffffffu, value, offset);
  }
  return value;
}

template <ReduceKind Kind, typename T>
__device__ double chunk_partial(const T* x, std::int64_t begin, std::int64_t end) {
  double acc[4] = {0, 0, 0, 0};
  std::int64_t i = begin + threadIdx.x;
  for (; i + 3 * kReduceThreads < end; i += 4 * kReduceThreads) {
    const float v0 = to_float(x[i]), v1 = to_float(x[i + kReduceThreads]);
    const float v2 = to_float(x[i + 2 * kReduceThreads]), v3 = to_float(x[i + 3 * kReduceThreads]);
    acc[0] += term<Kind>(v0);
    acc[1] += term<Kind>(v1);
    acc[2] += term<Kind>(v2);
    acc[3] += term<Kind>(v3);
  }
  for (; i < end; i += kReduceThreads) acc[0] += term<Kind>(to_float(x[i]));
  return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

template <ReduceKind Kind>
__global__ void __launch_bounds__(kReduceThreads) reduce_chunks_kernel(const TensorChunks<1> pack, double* partials) {
  std::int64_t begin = 0, end = 0;
  const int t = locate_chunk(pack, static_cast<int>(blockIdx.x), kReduceChunkCuda, begin, end);
  double partial = 0;
  switch (pack.dtype[0][t]) {
    case DType::bf16:
      partial = chunk_partial<Kind>(static_cast<const __nv_bfloat16*>(pack.data[0][t]), begin, end);
      break;
    case DType::f16: partial = chunk_partial<Kind>(static_cast<const __half*>(pack.data[0][t]), begin, end); break;
    default: partial = chunk_partial<Kind>(static_cast<const float*>(pack.data[0][t]), begin, end); break;
  }
  partial = block_sum(partial);
  if (threadIdx.x == 0) partials[pack.first_chunk + blockIdx.x] = partial;
}

__global__ void __launch_bounds__(kFinishThreads)
    finish_kernel(const double* partials, std::int64_t count, ReduceKind kind, float* out) {
  double total = 0;
  for (std::int64_t i = threadIdx.x; i < count; i += kFinishThreads) total += partials[i];
  total = block_sum(total);
  if (threadIdx.x != 0) return;
  switch (kind) {
    case ReduceKind::sum: *out = static_cast<float>(total); break;
    case ReduceKind::sum_of_squares: *out = static_cast<float>(sqrt(total)); break;
    case ReduceKind::nonfinite_count: *out = total > 0 ? 1.0f : 0.0f; break;
  }
}

// The clip coefficient exactly as PyTorch evaluates it in f32 (see reduce.h; same as the CPU).
__device__ __forceinline__ float clip_coefficient_value(float total_norm, float max_norm) {
  const float reciprocal = __fdiv_rn(1.0f, __fadd_rn(total_norm, 1e-6f));
  const float coefficient = __fmul_rn(reciprocal, max_norm);
  return coefficient > 1.0f ? 1.0f : coefficient;  // a NaN stays NaN, as torch.clamp
}

__global__ void clip_coefficient_kernel(const float* total_norm, float max_norm, float* out) {
  *out = clip_coefficient_value(*total_norm, max_norm);
}

template <typename T>
__device__ void scale_chunk(T* x, std::int64_t begin, std::int64_t end, float coefficient) {
  for (std::int64_t i = begin + threadIdx.x; i < end; i += blockDim.x)
    x[i] = from_float<T>(__fmul_rn(to_float(x[i]), coefficient));
}

__global__ void clip_kernel(const TensorChunks<1> pack, const float* total_norm, float max_norm) {
  std::int64_t begin = 0, end = 0;
  const int t = locate_chunk(pack, static_cast<int>(blockIdx.x), kReduceChunkCuda, begin, end);
  const float coefficient = clip_coefficient_value(*total_norm, max_norm);
  if (pack.dtype[0][t] == DType::bf16)
    scale_chunk(static_cast<__nv_bfloat16*>(pack.data[0][t]), begin, end, coefficient);
  else
    scale_chunk(static_cast<float*>(pack.data[0][t]), begin, end, coefficient);
}

template <ReduceKind Kind>
void launch_chunks(const Context& ctx, const std::vector<TensorChunks<1>>& packs, double* partials) {
  for (const TensorChunks<1>& pack : packs) {
    reduce_chunks_kernel<Kind><<<pack_blocks(pack), kReduceThreads, 0, stream_of(ctx)>>>(pack, partials);
    CUDA_CHECK_LAUNCH();
  }
}

const char* range_name(ReduceKind kind) {
  switch (kind) {
    case ReduceKind::sum: return "sum";
    case ReduceKind::sum_of_squares: return "l2_norm";
    case ReduceKind::nonfinite_count: return "any_nonfinite";
  }
  return "reduce";
}

}  // namespace

void reduce(const Context& ctx, const std::vector<Tensor>& tensors, ReduceKind kind, Tensor& workspace, Tensor& out) {
  NNUC_RANGE(range_name(kind));
  const std::vector<TensorChunks<1>> packs = pack_tensor_chunks<1>({&tensors}, kReduceChunkCuda);
  double* partials = static_cast<double*>(workspace.raw());  // (chunks,)
  switch (kind) {
    case ReduceKind::sum: launch_chunks<ReduceKind::sum>(ctx, packs, partials); break;
    case ReduceKind::sum_of_squares: launch_chunks<ReduceKind::sum_of_squares>(ctx, packs, partials); break;
    case ReduceKind::nonfinite_count: launch_chunks<ReduceKind::nonfinite_count>(ctx, packs, partials); break;
  }
  finish_kernel<<<1, kFinishThreads, 0, stream_of(ctx)>>>(partials, workspace.numel(), kind,
                                                          static_cast<float*>(out.raw()));
  CUDA_CHECK_LAUNCH();
}

void clip_coefficient(const Context& ctx, const Tensor& total_norm, double max_norm, Tensor& out) {
  NNUC_RANGE("clip_coefficient");
  clip_coefficient_kernel<<<1, 1, 0, stream_of(ctx)>>>(static_cast<const float*>(total_norm.raw()),
                                                       static_cast<float>(max_norm), static_cast<float*>(out.raw()));
  CUDA_CHECK_LAUNCH();
}

void clip_by_total_norm(const Context& ctx, const std::vector<Tensor>& tensors, const Tensor& total_norm,
                        double max_norm) {
  NNUC_RANGE("clip_by_total_norm");
  for (const TensorChunks<1>& pack : pack_tensor_chunks<1>({&tensors}, kReduceChunkCuda)) {
    clip_kernel<<<pack_blocks(pack), kThreads, 0, stream_of(ctx)>>>(pack, static_cast<const float*>(total_norm.raw()),
                                                                    static_cast<float>(max_norm));
    CUDA_CHECK_LAUNCH();
  }
}

}  // namespace nnuc::cuda
