// Internal to kernels/norm: what the forward (instance_norm_cuda.cu) and backward
// (instance_norm_backward_cuda.cu) CUDA passes of instance norm + leaky ReLU share: the block geometry,
// the per-thread coefficients, the moment merge, and the host-side launch plan and dtype dispatch.
//
// Channels-last: one sample is a (rows = D·H·W) × C matrix, and the statistics run down its columns.
// A block of block_x × block_y threads owns block_x channel vectors (V contiguous channels, one
// 16-byte load where C allows) and walks block_y rows at a time through its chunk of rows, so a warp
// reads whole contiguous rows. Reductions are two-level and deterministic: each block writes one
// partial per (n, chunk, c); a small kernel merges the partials in chunk order. No atomics.
//
// z is computed as x · scale + shift with scale = gamma · inv_std, shift = beta - mean · scale,
// with explicitly rounded multiplies and adds (no FMA contraction): the CPU computes the same bits
// from the same statistics, so both agree on the sign of z and hence on the leaky-ReLU mask.
#pragma once

#include <cuda_runtime.h>

#include "kernels/core/context.h"
#include "kernels/core/tensor.h"
#include "kernels/norm/cuda_rows.cuh"
#include "kernels/norm/instance_norm_impl.h"

namespace nnuc::cuda::instance_norm {

constexpr int kMaxVector = 8;       // bf16: 8 × 2 bytes
constexpr int kMergeChannels = 32;  // merge kernels: channels per block (one warp across channels)
constexpr int kMergeLanes = 32;     // merge kernels: chunk lanes per block

struct Geometry {
  std::int64_t rows;            // D·H·W
  std::int64_t channels;        // C
  int channel_vectors;          // C / V
  std::int64_t rows_per_chunk;  // rows per block
  std::int64_t chunks;          // chunks per sample
};

// Where a thread of a row kernel works: grid (chunks, channel tiles, N), block (block_x, block_y).
struct Place {
  std::int64_t sample, chunk, row_begin, row_end;
  int vector_index;
  bool active;  // false for the threads of a last, partial channel tile

  __device__ explicit Place(const Geometry& g)
      : sample(blockIdx.z),
        chunk(blockIdx.x),
        row_begin(static_cast<std::int64_t>(blockIdx.x) * g.rows_per_chunk),
        row_end(min(g.rows, row_begin + g.rows_per_chunk)),
        vector_index(static_cast<int>(blockIdx.y * blockDim.x + threadIdx.x)),
        active(vector_index < g.channel_vectors) {}
};

__device__ __forceinline__ std::int64_t chunk_rows(const Geometry& g, std::int64_t chunk) {
  return min(g.rows, (chunk + 1) * g.rows_per_chunk) - chunk * g.rows_per_chunk;
}

// Chan et al.'s merge of (count, mean, M2) summaries a ← a ∪ b, split so that V channels with the
// same counts share one division. Requires count_a + count_b > 0.
struct MergeWeights {
  float total, weight_b, cross;  // count_a + count_b, count_b / total, count_a · count_b / total
};
__device__ __forceinline__ MergeWeights merge_weights(float count_a, float count_b) {
  const float total = count_a + count_b;
  const float weight_b = count_b / total;
  return MergeWeights{total, weight_b, count_a * weight_b};
}
__device__ __forceinline__ void merge_moments(const MergeWeights& w, float& mean, float& m2, float mean_b, float m2_b) {
  const float delta = mean_b - mean;
  mean += delta * w.weight_b;
  m2 += m2_b + delta * delta * w.cross;
}

__device__ __forceinline__ float affine(float x, float scale, float shift) {
  return __fadd_rn(__fmul_rn(x, scale), shift);
}

// Per-thread coefficients for V channels of one sample: z = x · scale + shift.
template <int V>
struct Coefficients {
  float scale[V], shift[V], mean[V], inv_std[V];

  __device__ Coefficients(const float* gamma, const float* beta, const float* mean_nc, const float* inv_std_nc,
                          std::int64_t sample, std::int64_t channel0, std::int64_t channels) {
#pragma unroll
    for (int v = 0; v < V; ++v) {
      const std::int64_t c = channel0 + v;
      mean[v] = mean_nc[sample * channels + c];
      inv_std[v] = inv_std_nc[sample * channels + c];
      scale[v] = __fmul_rn(gamma[c], inv_std[v]);
      shift[v] = __fsub_rn(beta[c], __fmul_rn(mean[v], scale[v]));
    }
  }
};

// ---- host side -----------------------------------------------------------------------------------

struct Launch {
  Geometry geometry;
  int vector_width;  // V: the kernels' template argument
  dim3 grid, block, merge_grid, merge_block;
  cudaStream_t stream;
};

inline Launch make_launch(const Context& ctx, const Tensor& x) {
  const detail::InstanceNormCudaPlan plan = detail::instance_norm_cuda_plan(x.shape(), x.dtype());
  Launch launch{};
  launch.geometry.rows = x.dim(Activation::D) * x.dim(Activation::H) * x.dim(Activation::W);
  launch.geometry.channels = x.dim(Activation::C);
  launch.geometry.channel_vectors = plan.channel_vectors;
  launch.geometry.rows_per_chunk = plan.rows_per_chunk;
  launch.geometry.chunks = plan.chunks;
  launch.vector_width = plan.vector_width;
  const unsigned int samples = static_cast<unsigned int>(x.dim(Activation::N));
  launch.grid = dim3(static_cast<unsigned int>(plan.chunks), static_cast<unsigned int>(plan.channel_tiles), samples);
  launch.block = dim3(static_cast<unsigned int>(plan.block_x), static_cast<unsigned int>(plan.block_y), 1);
  const std::int64_t channel_blocks = (launch.geometry.channels + kMergeChannels - 1) / kMergeChannels;
  launch.merge_grid = dim3(static_cast<unsigned int>(channel_blocks), samples, 1);
  launch.merge_block = dim3(kMergeChannels, kMergeLanes, 1);
  launch.stream = stream_of(ctx);
  return launch;
}

// Device pointer of an f32 or bf16 tensor as its storage type.
template <typename T>
T* storage(const Tensor& tensor);
template <>
inline float* storage<float>(const Tensor& tensor) {
  return tensor.data<float>();
}
template <>
inline unsigned short* storage<unsigned short>(const Tensor& tensor) {
  return reinterpret_cast<unsigned short*>(tensor.data<bf16>());
}

// Calls run.template operator()<T, V>() for the storage type of `dtype` and the plan's vector width.
template <typename Run>
void dispatch(DType dtype, int width, Run&& run) {
  if (dtype == DType::bf16) {
    switch (width) {
      case 8: run.template operator()<unsigned short, 8>(); return;
      case 4: run.template operator()<unsigned short, 4>(); return;
      case 2: run.template operator()<unsigned short, 2>(); return;
      default: run.template operator()<unsigned short, 1>(); return;
    }
  }
  switch (width) {
    case 4: run.template operator()<float, 4>(); return;
    case 2: run.template operator()<float, 2>(); return;
    default: run.template operator()<float, 1>(); return;
  }
}

}  // namespace nnuc::cuda::instance_norm
