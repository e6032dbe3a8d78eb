// CUDA implementations of kernels/loss/loss.h (f32 and bf16 logits, f32 math and sums), and the final
// fixed-order pass over the forward partials shared with region_loss_cuda.cu.
//
// Channels-last: a thread owns a voxel and walks its K contiguous logits (max, Σ exp, then the
// outputs); neighbouring threads read neighbouring voxels, so a warp's loads are contiguous.
// Forward sums: grid (blocks_per_sample, N, class chunks); each thread accumulates a few voxels in
// registers for the kClassChunk classes of its chunk, the block reduces them (block_reduce_slots) into
// its row of the workspace, and finalize_loss_sums adds the rows in fixed order in f64.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/core/cuda_check.h"
#include "kernels/loss/loss_cuda_common.cuh"

namespace nnuc::cuda {

namespace {

using namespace loss_kernels;

struct VoxelSoftmax {
  float max, sum;
};

// Max and Σ exp(x − max) over a voxel's classes.
template <typename T>
__device__ __forceinline__ VoxelSoftmax voxel_softmax(const T* x, int classes) {
  float max = load_as_float(x);
  for (int c = 1; c < classes; ++c) max = fmaxf(max, load_as_float(x + c));
  float sum = 0.0f;
  for (int c = 0; c < classes; ++c) sum += expf(load_as_float(x + c) - max);
  return {max, sum};
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    softmax_kernel(const T* __restrict__ logits, T* __restrict__ probabilities, std::int64_t voxels, int classes) {
  for (std::int64_t voxel = grid_first(); voxel < voxels; voxel += grid_stride()) {
    const T* x = logits + voxel * classes;
    const VoxelSoftmax s = voxel_softmax(x, classes);
    const float inverse = 1.0f / s.sum;
    for (int c = 0; c < classes; ++c)
      store_from_float(probabilities + voxel * classes + c, expf(load_as_float(x + c) - s.max) * inverse);
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    argmax_kernel(const T* __restrict__ logits, std::int16_t* __restrict__ out, std::int64_t voxels, int classes) {
  for (std::int64_t voxel = grid_first(); voxel < voxels; voxel += grid_stride()) {
    const T* x = logits + voxel * classes;
    int best = 0;
    float best_value = load_as_float(x);
    for (int c = 1; c < classes; ++c) {
      const float value = load_as_float(x + c);
      if (value > best_value) {  // strict: ties keep the lowest index
        best = c;
        best_value = value;
      }
    }
    out[voxel] = static_cast<std::int16_t>(best);
  }
}

// Partials of (n = blockIdx.y, chunk = blockIdx.z, block = blockIdx.x) at
// partials[((n · gridDim.z + chunk) · gridDim.x + blockIdx.x) · kSlots + slot]. The CE sum and count
// are taken in chunk 0 only (other chunks write 0 there).
template <typename T>
__global__ void __launch_bounds__(kThreads)
    softmax_loss_forward_kernel(const T* __restrict__ logits, const std::int16_t* __restrict__ labels,
                                std::int64_t voxels_per_sample, int classes, int ignore_label, bool dice,
                                float* __restrict__ partials) {
  const int sample = static_cast<int>(blockIdx.y);
  const int chunk = static_cast<int>(blockIdx.z);
  const int class_begin = chunk * kClassChunk;
  float acc[kSlots];
#pragma unroll
  for (int slot = 0; slot < kSlots; ++slot) acc[slot] = 0.0f;

  const T* sample_logits = logits + static_cast<std::int64_t>(sample) * voxels_per_sample * classes;
  const std::int16_t* sample_labels = labels + static_cast<std::int64_t>(sample) * voxels_per_sample;
  for (std::int64_t voxel = grid_first(); voxel < voxels_per_sample; voxel += grid_stride()) {
    const int label = sample_labels[voxel];
    if (ignore_label >= 0 && label == ignore_label) continue;
    if (label < 0 || label >= classes) {  // out of range: the sums turn NaN (loss.h), no read out of bounds
      acc[kSlotLoss] = quiet_nan();
#pragma unroll
      for (int j = 0; j < kClassChunk; ++j) acc[kSlotPrediction + j] = quiet_nan();
      continue;
    }
    const T* x = sample_logits + voxel * classes;
    const VoxelSoftmax s = voxel_softmax(x, classes);
    if (chunk == 0) {
      acc[kSlotLoss] += (s.max - load_as_float(x + label)) + logf(s.sum);  // −log p[label]
      acc[kSlotCounted] += 1.0f;
    }
    if (!dice) continue;
    const float inverse = 1.0f / s.sum;
#pragma unroll
    for (int j = 0; j < kClassChunk; ++j) {
      const int c = class_begin + j;
      if (c < classes) {
        const float p = expf(load_as_float(x + c) - s.max) * inverse;
        acc[kSlotPrediction + j] += p;
        if (c == label) {
          acc[kSlotIntersection + j] += p;
          acc[kSlotTarget + j] += 1.0f;
        }
      }
    }
  }
  const std::int64_t row = (static_cast<std::int64_t>(sample) * gridDim.z + chunk) * gridDim.x + blockIdx.x;
  block_reduce_slots(acc, partials + row * kSlots);
}

// dx[c] = scale · (p[c] − y[c]) + p[c] · (g[c] − Σ_k p[k]·g[k]), g[c] = gP[n, c] + y[c]·gI[n, c]
// (g = 0 without Dice grads); 0 on ignored voxels, NaN where the label is out of range.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    softmax_loss_backward_kernel(const T* __restrict__ logits, const std::int16_t* __restrict__ labels,
                                 std::int64_t voxels, std::int64_t voxels_per_sample, int classes, int ignore_label,
                                 double scale, const double* __restrict__ scale_factor,
                                 const float* __restrict__ grad_intersection, const float* __restrict__ grad_prediction,
                                 T* __restrict__ grad) {
  const float loss_scale = static_cast<float>(scale_factor != nullptr ? scale * *scale_factor : scale);
  for (std::int64_t voxel = grid_first(); voxel < voxels; voxel += grid_stride()) {
    const int label = labels[voxel];
    T* out = grad + voxel * classes;
    const bool ignored = ignore_label >= 0 && label == ignore_label;
    if (ignored || label < 0 || label >= classes) {
      const float fill = ignored ? 0.0f : quiet_nan();
      for (int c = 0; c < classes; ++c) store_from_float(out + c, fill);
      continue;
    }
    const T* x = logits + voxel * classes;
    const VoxelSoftmax s = voxel_softmax(x, classes);
    const float inverse = 1.0f / s.sum;
    const std::int64_t row = (voxel / voxels_per_sample) * classes;
    const bool dice = grad_intersection != nullptr;
    float dot = 0.0f;  // Σ_k p[k]·g[k]
    if (dice) {
      for (int c = 0; c < classes; ++c) {
        const float p = expf(load_as_float(x + c) - s.max) * inverse;
        const float g = grad_prediction[row + c] + (c == label ? grad_intersection[row + c] : 0.0f);
        dot += p * g;
      }
    }
    for (int c = 0; c < classes; ++c) {
      const float p = expf(load_as_float(x + c) - s.max) * inverse;
      const float onehot = c == label ? 1.0f : 0.0f;
      const float g = dice ? grad_prediction[row + c] + (c == label ? grad_intersection[row + c] : 0.0f) : 0.0f;
      store_from_float(out + c, loss_scale * (p - onehot) + p * (g - dot));
    }
  }
}

// One warp per output: warp o < 3·N·K sums slot (q·kClassChunk + c mod kClassChunk) of sample n's rows
// in chunk c / kClassChunk (q = 0: I, 1: P, 2: G; o = (q·N + n)·K + c); the last two warps sum the loss
// and count slots of every row. Lanes stride over rows, then a fixed shuffle tree: deterministic.
__global__ void __launch_bounds__(kThreads)
    finalize_kernel(const float* __restrict__ partials, int samples, int classes, int chunks, int blocks,
                    float* intersection, float* prediction, float* target, float* loss_sum, float* counted) {
  const std::int64_t warp = grid_first() / 32;
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const std::int64_t per_class_outputs = 3 * static_cast<std::int64_t>(samples) * classes;
  if (warp >= per_class_outputs + 2) return;  // uniform per warp
  float* destination = nullptr;
  std::int64_t first = 0, rows = 0;
  if (warp < per_class_outputs) {
    const int quantity = static_cast<int>(warp / (static_cast<std::int64_t>(samples) * classes));
    const std::int64_t rest = warp % (static_cast<std::int64_t>(samples) * classes);
    const std::int64_t n = rest / classes;
    const int c = static_cast<int>(rest % classes);
    destination = quantity == 0 ? intersection : quantity == 1 ? prediction : target;
    if (destination == nullptr) return;
    destination += rest;
    const int slot = quantity * kClassChunk + c % kClassChunk;
    first = (n * chunks + c / kClassChunk) * blocks * kSlots + slot;
    rows = blocks;
  } else {
    const bool is_loss = warp == per_class_outputs;
    destination = is_loss ? loss_sum : counted;
    if (destination == nullptr) return;
    first = is_loss ? kSlotLoss : kSlotCounted;
    rows = static_cast<std::int64_t>(samples) * chunks * blocks;
  }
  double total = 0.0;
  for (std::int64_t row = lane; row < rows; row += 32) total += static_cast<double>(partials[first + row * kSlots]);
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) total += __shfl_down_sync(0xffffffffu, total, offset);
  if (lane == 0) *destination = static_cast<float>(total);
}

struct SoftmaxGeometry {
  std::int64_t samples, voxels_per_sample, classes;
  explicit SoftmaxGeometry(const Shape& logits)
      : samples(logits[0]), voxels_per_sample(logits[1] * logits[2] * logits[3]), classes(logits[4]) {}
  std::int64_t voxels() const { return samples * voxels_per_sample; }
};

template <typename T>
void softmax_typed(const Context& ctx, const Tensor& logits, const Tensor& probabilities) {
  const SoftmaxGeometry g(logits.shape());
  softmax_kernel<T><<<elementwise_blocks(g.voxels()), kThreads, 0, stream_of(ctx)>>>(
      static_cast<const T*>(logits.raw()), static_cast<T*>(probabilities.raw()), g.voxels(),
      static_cast<int>(g.classes));
  CUDA_CHECK_LAUNCH();
}

template <typename T>
void argmax_typed(const Context& ctx, const Tensor& logits, const Tensor& classes) {
  const SoftmaxGeometry g(logits.shape());
  argmax_kernel<T><<<elementwise_blocks(g.voxels()), kThreads, 0, stream_of(ctx)>>>(
      static_cast<const T*>(logits.raw()), classes.data<std::int16_t>(), g.voxels(), static_cast<int>(g.classes));
  CUDA_CHECK_LAUNCH();
}

template <typename T>
void forward_typed(const Context& ctx, const Tensor& logits, const Tensor& labels, int ignore_label,
                   const SumOutputs& out, const Tensor& workspace) {
  const SoftmaxGeometry g(logits.shape());
  const std::int64_t blocks = loss_detail::blocks_per_sample(g.voxels_per_sample);
  // Without Dice only chunk 0 (CE and count) has work; the workspace is sized for all chunks.
  const std::int64_t chunks = out.dice() ? loss_detail::class_chunks(g.classes) : 1;
  const dim3 grid(static_cast<unsigned int>(blocks), static_cast<unsigned int>(g.samples),
                  static_cast<unsigned int>(chunks));
  softmax_loss_forward_kernel<T><<<grid, kThreads, 0, stream_of(ctx)>>>(
      static_cast<const T*>(logits.raw()), labels.data<std::int16_t>(), g.voxels_per_sample,
      static_cast<int>(g.classes), ignore_label, out.dice(), workspace.data<float>());
  CUDA_CHECK_LAUNCH();
  finalize_loss_sums(ctx, workspace, g.samples, g.classes, chunks, blocks, out);
}

template <typename T>
void backward_typed(const Context& ctx, const Tensor& logits, const Tensor& labels, int ignore_label,
                    const BackwardTerms& terms, const Tensor& grad_logits) {
  const SoftmaxGeometry g(logits.shape());
  softmax_loss_backward_kernel<T><<<elementwise_blocks(g.voxels()), kThreads, 0, stream_of(ctx)>>>(
      static_cast<const T*>(logits.raw()), labels.data<std::int16_t>(), g.voxels(), g.voxels_per_sample,
      static_cast<int>(g.classes), ignore_label, terms.loss_scale, terms.scale_factor_on_device(),
      terms.dice() ? terms.grad_intersection.data<float>() : nullptr,
      terms.dice() ? terms.grad_prediction.data<float>() : nullptr, static_cast<T*>(grad_logits.raw()));
  CUDA_CHECK_LAUNCH();
}

}  // namespace

void softmax_channels(const Context& ctx, const Tensor& logits, const Tensor& probabilities) {
  if (logits.dtype() == DType::bf16) return softmax_typed<__nv_bfloat16>(ctx, logits, probabilities);
  softmax_typed<float>(ctx, logits, probabilities);
}

void argmax_channels(const Context& ctx, const Tensor& logits, const Tensor& classes) {
  if (logits.dtype() == DType::bf16) return argmax_typed<__nv_bfloat16>(ctx, logits, classes);
  argmax_typed<float>(ctx, logits, classes);
}

void softmax_loss_forward(const Context& ctx, const Tensor& logits, const Tensor& labels, int ignore_label,
                          const SumOutputs& out, const Tensor& workspace) {
  if (logits.dtype() == DType::bf16)
    return forward_typed<__nv_bfloat16>(ctx, logits, labels, ignore_label, out, workspace);
  forward_typed<float>(ctx, logits, labels, ignore_label, out, workspace);
}

void softmax_loss_backward(const Context& ctx, const Tensor& logits, const Tensor& labels, int ignore_label,
                           const BackwardTerms& terms, const Tensor& grad_logits) {
  if (logits.dtype() == DType::bf16)
    return backward_typed<__nv_bfloat16>(ctx, logits, labels, ignore_label, terms, grad_logits);
  backward_typed<float>(ctx, logits, labels, ignore_label, terms, grad_logits);
}

void finalize_loss_sums(const Context& ctx, const Tensor& workspace, std::int64_t samples, std::int64_t classes,
                        std::int64_t chunks_used, std::int64_t blocks, const SumOutputs& out) {
  const std::int64_t warps = 3 * samples * classes + 2;
  const std::int64_t grid = (warps * 32 + kThreads - 1) / kThreads;
  finalize_kernel<<<static_cast<unsigned int>(grid), kThreads, 0, stream_of(ctx)>>>(
      workspace.data<float>(), static_cast<int>(samples), static_cast<int>(classes), static_cast<int>(chunks_used),
      static_cast<int>(blocks), out.dice() ? out.intersection.data<float>() : nullptr,
      out.dice() ? out.prediction.data<float>() : nullptr, out.dice() ? out.target.data<float>() : nullptr,
      out.loss_sum.defined() ? out.loss_sum.data<float>() : nullptr,
      out.counted.defined() ? out.counted.data<float>() : nullptr);
  CUDA_CHECK_LAUNCH();
}

}  // namespace nnuc::cuda
