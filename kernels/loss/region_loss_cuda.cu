// CUDA implementations of kernels/loss/region_loss.h (f32 and bf16 logits, f32 math and sums).
//
// Forward: grid (blocks_per_sample, N, region chunks) as the softmax forward (loss_cuda.cu); a thread
// owns a voxel and the kClassChunk regions of its chunk. Every chunk adds the BCE of its own regions;
// chunk 0 alone counts voxels. Backward: one thread per element (coalesced on logits and gradient).
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/core/cuda_check.h"
#include "kernels/loss/loss_cuda_common.cuh"

namespace nnuc::cuda {

namespace {

using namespace loss_kernels;

// 1 / (1 + exp(−x)) without overflow for large |x|.
__device__ __forceinline__ float sigmoid(float x) {
  if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
  const float e = expf(x);
  return e / (1.0f + e);
}

// Targets of a voxel: t[0, regions) multi-hot, t[regions] the ignore flag when target_channels > regions.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    region_loss_forward_kernel(const T* __restrict__ logits, const std::uint8_t* __restrict__ targets,
                               std::int64_t voxels_per_sample, int regions, int target_channels, bool dice,
                               float* __restrict__ partials) {
  const int sample = static_cast<int>(blockIdx.y);
  const int chunk = static_cast<int>(blockIdx.z);
  const int region_begin = chunk * kClassChunk;
  const bool has_ignore = target_channels > regions;
  float acc[kSlots];
#pragma unroll
  for (int slot = 0; slot < kSlots; ++slot) acc[slot] = 0.0f;

  const T* sample_logits = logits + static_cast<std::int64_t>(sample) * voxels_per_sample * regions;
  const std::uint8_t* sample_targets =
      targets + static_cast<std::int64_t>(sample) * voxels_per_sample * target_channels;
  for (std::int64_t voxel = grid_first(); voxel < voxels_per_sample; voxel += grid_stride()) {
    const std::uint8_t* t = sample_targets + voxel * target_channels;
    if (has_ignore && t[regions] != 0) continue;
    if (chunk == 0) acc[kSlotCounted] += 1.0f;
    const T* x = sample_logits + voxel * regions;
#pragma unroll
    for (int j = 0; j < kClassChunk; ++j) {
      const int r = region_begin + j;
      if (r < regions) {
        const float v = load_as_float(x + r);
        const bool in_region = t[r] != 0;
        acc[kSlotLoss] += fmaxf(v, 0.0f) - (in_region ? v : 0.0f) + log1pf(expf(-fabsf(v)));
        if (dice) {
          const float s = sigmoid(v);
          acc[kSlotPrediction + j] += s;
          if (in_region) {
            acc[kSlotIntersection + j] += s;
            acc[kSlotTarget + j] += 1.0f;
          }
        }
      }
    }
  }
  const std::int64_t row = (static_cast<std::int64_t>(sample) * gridDim.z + chunk) * gridDim.x + blockIdx.x;
  block_reduce_slots(acc, partials + row * kSlots);
}

// dx = m · (scale · (s − y) + (gP[n, r] + y·gI[n, r]) · s · (1 − s)), the Dice part only with grads.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    region_loss_backward_kernel(const T* __restrict__ logits, const std::uint8_t* __restrict__ targets,
                                std::int64_t elements, std::int64_t voxels_per_sample, int regions, int target_channels,
                                double scale, const double* __restrict__ scale_factor,
                                const float* __restrict__ grad_intersection, const float* __restrict__ grad_prediction,
                                T* __restrict__ grad) {
  const float loss_scale = static_cast<float>(scale_factor != nullptr ? scale * *scale_factor : scale);
  const bool has_ignore = target_channels > regions;
  for (std::int64_t element = grid_first(); element < elements; element += grid_stride()) {
    const std::int64_t voxel = element / regions;
    const int r = static_cast<int>(element - voxel * regions);
    const std::uint8_t* t = targets + voxel * target_channels;
    if (has_ignore && t[regions] != 0) {
      store_from_float(grad + element, 0.0f);
      continue;
    }
    const float s = sigmoid(load_as_float(logits + element));
    const bool in_region = t[r] != 0;
    float value = loss_scale * (s - (in_region ? 1.0f : 0.0f));
    if (grad_intersection != nullptr) {
      const std::int64_t index = (voxel / voxels_per_sample) * regions + r;
      value += (grad_prediction[index] + (in_region ? grad_intersection[index] : 0.0f)) * s * (1.0f - s);
    }
    store_from_float(grad + element, value);
  }
}

struct RegionGeometry {
  std::int64_t samples, voxels_per_sample, regions, target_channels;
  RegionGeometry(const Shape& logits, RegionIgnore ignore)
      : samples(logits[0]),
        voxels_per_sample(logits[1] * logits[2] * logits[3]),
        regions(logits[4]),
        target_channels(logits[4] + (ignore == RegionIgnore::last_target_channel ? 1 : 0)) {}
};

template <typename T>
void forward_typed(const Context& ctx, const Tensor& logits, const Tensor& targets, RegionIgnore ignore,
                   const SumOutputs& out, const Tensor& workspace) {
  const RegionGeometry g(logits.shape(), ignore);
  const std::int64_t blocks = loss_detail::blocks_per_sample(g.voxels_per_sample);
  const std::int64_t chunks = loss_detail::class_chunks(g.regions);  // BCE needs every region's chunk
  const dim3 grid(static_cast<unsigned int>(blocks), static_cast<unsigned int>(g.samples),
                  static_cast<unsigned int>(chunks));
  region_loss_forward_kernel<T><<<grid, kThreads, 0, stream_of(ctx)>>>(
      static_cast<const T*>(logits.raw()), targets.data<std::uint8_t>(), g.voxels_per_sample,
      static_cast<int>(g.regions), static_cast<int>(g.target_channels), out.dice(), workspace.data<float>());
  CUDA_CHECK_LAUNCH();
  finalize_loss_sums(ctx, workspace, g.samples, g.regions, chunks, blocks, out);
}

template <typename T>
void backward_typed(const Context& ctx, const Tensor& logits, const Tensor& targets, RegionIgnore ignore,
                    const BackwardTerms& terms, const Tensor& grad_logits) {
  const RegionGeometry g(logits.shape(), ignore);
  const std::int64_t elements = logits.numel();
  region_loss_backward_kernel<T><<<elementwise_blocks(elements), kThreads, 0, stream_of(ctx)>>>(
      static_cast<const T*>(logits.raw()), targets.data<std::uint8_t>(), elements, g.voxels_per_sample,
      static_cast<int>(g.regions), static_cast<int>(g.target_channels), terms.loss_scale,
      terms.scale_factor_on_device(), terms.dice() ? terms.grad_intersection.data<float>() : nullptr,
      terms.dice() ? terms.grad_prediction.data<float>() : nullptr, static_cast<T*>(grad_logits.raw()));
  CUDA_CHECK_LAUNCH();
}

}  // namespace

void region_loss_forward(const Context& ctx, const Tensor& logits, const Tensor& targets, RegionIgnore ignore,
                         const SumOutputs& out, const Tensor& workspace) {
  if (logits.dtype() == DType::bf16) return forward_typed<__nv_bfloat16>(ctx, logits, targets, ignore, out, workspace);
  forward_typed<float>(ctx, logits, targets, ignore, out, workspace);
}

void region_loss_backward(const Context& ctx, const Tensor& logits, const Tensor& targets, RegionIgnore ignore,
                          const BackwardTerms& terms, const Tensor& grad_logits) {
  if (logits.dtype() == DType::bf16)
    return backward_typed<__nv_bfloat16>(ctx, logits, targets, ignore, terms, grad_logits);
  backward_typed<float>(ctx, logits, targets, ignore, terms, grad_logits);
}

}  // namespace nnuc::cuda
