// Internal to kernels/norm: the CPU and CUDA implementations of instance_norm.h (same names, valid
// input assumed, outputs and scratch allocated by the caller) and the pure work-splitting plans that
// size their scratch.
#pragma once

#include <cstdint>

#include "kernels/core/context.h"
#include "kernels/core/tensor.h"

namespace nnuc::detail {

// CPU: each sample's D·H·W rows (of C channels) are cut into chunks of about kCpuChunkElements
// values; OpenMP threads take (sample, chunk) items, and per-(n, c) results are merged over chunks in
// chunk order, so the result does not depend on the thread count.
constexpr std::int64_t kCpuChunkElements = 8192;
struct InstanceNormCpuPlan {
  std::int64_t rows_per_chunk;
  std::int64_t chunks;  // per sample
};
InstanceNormCpuPlan instance_norm_cpu_plan(const Shape& x);

// CUDA: a block of block_x × block_y threads covers block_x channel vectors (vector_width contiguous
// channels each) of one channel tile, over the rows [chunk · rows_per_chunk, +rows_per_chunk) of one
// sample; grid = (chunks, channel_tiles, N). Reduction passes write one partial per (n, chunk, c),
// merged in chunk order by a second small kernel: deterministic, no atomics.
constexpr int kCudaBlockThreads = 256;
constexpr int kCudaMaxBlockX = 64;
constexpr std::int64_t kCudaTargetBlocks = 1024;  // ~8 resident blocks on each of an H100's 132 SMs
struct InstanceNormCudaPlan {
  int vector_width;             // channels per vector load: 16 bytes where C allows, else 8, 4, 2 bytes
  int channel_vectors;          // C / vector_width
  int block_x;                  // channel vectors per block
  int block_y;                  // rows in flight per block
  int channel_tiles;            // ceil(channel_vectors / block_x)
  std::int64_t rows_per_chunk;  // a multiple of block_y
  std::int64_t chunks;          // per sample
};
InstanceNormCudaPlan instance_norm_cuda_plan(const Shape& x, DType dtype);

}  // namespace nnuc::detail

namespace nnuc::cpu {
// x, y: (N, D, H, W, C) f32 or f64; gamma, beta, mean, inv_std: same dtype as x.
void instance_norm_leaky_relu_forward(const Context& ctx, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                      double eps, double slope, Tensor& y, Tensor& mean, Tensor& inv_std,
                                      Tensor& workspace);
void instance_norm_leaky_relu_backward(const Context& ctx, const Tensor& dy, const Tensor& x, const Tensor& gamma,
                                       const Tensor& beta, const Tensor& mean, const Tensor& inv_std, double slope,
                                       Tensor& dx, Tensor& dgamma, Tensor& dbeta, Tensor& workspace);
}  // namespace nnuc::cpu

namespace nnuc::cuda {
// x, y: (N, D, H, W, C) f32 or bf16; gamma, beta, mean, inv_std, dgamma, dbeta: f32.
void instance_norm_leaky_relu_forward(const Context& ctx, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                      double eps, double slope, Tensor& y, Tensor& mean, Tensor& inv_std,
                                      Tensor& workspace);
void instance_norm_leaky_relu_backward(const Context& ctx, const Tensor& dy, const Tensor& x, const Tensor& gamma,
                                       const Tensor& beta, const Tensor& mean, const Tensor& inv_std, double slope,
                                       Tensor& dx, Tensor& dgamma, Tensor& dbeta, Tensor& workspace);
}  // namespace nnuc::cuda
