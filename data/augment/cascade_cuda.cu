// CUDA cascade inputs: the functions of cascade_cpu.cpp as kernels over one patch volume at a time.
// Image channels are copied, each foreground label gets one one-hot launch, and every morphology
// entry runs seed -> three 1-D minimum passes -> threshold (twice for closing / opening) -> commit,
// all on ctx's stream; the parameters travel as kernel arguments, so nothing waits on the host.
// Component removal lives in cascade_components_cuda.cu.
#include <cstdint>
#include <utility>

#include "data/augment/cascade.h"
#include "data/augment/cascade_internal.h"
#include "kernels/core/cuda_check.h"
#include "kernels/core/nvtx.h"
#include "kernels/elementwise/cuda_util.cuh"

namespace nnuc::augment::cuda {

namespace {

using augment::detail::Ball;
using augment::detail::kFarDistance;
using nnuc::cuda::grid_for;
using nnuc::cuda::kThreads;
using nnuc::cuda::stream_of;

// out[b, c] = data[b, c] for the C image channels of every sample.
__global__ void copy_images_kernel(const float* __restrict__ data, float* __restrict__ out, std::int64_t batch,
                                   std::int64_t image_values, std::int64_t sample_values) {
  const std::int64_t total = batch * image_values;
  for (std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; i < total;
       i += std::int64_t{gridDim.x} * blockDim.x) {
    const std::int64_t b = i / image_values;
    out[b * sample_values + (i - b * image_values)] = data[i];
  }
}

// out[b, channel] = previous[b, 0] == label.
__global__ void one_hot_kernel(const std::int16_t* __restrict__ previous, float* __restrict__ out, std::int64_t batch,
                               std::int64_t voxels, std::int64_t sample_values, std::int64_t channel_offset,
                               int label) {
  const std::int64_t total = batch * voxels;
  for (std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; i < total;
       i += std::int64_t{gridDim.x} * blockDim.x) {
    const std::int64_t b = i / voxels;
    out[b * sample_values + channel_offset + (i - b * voxels)] = previous[i] == label ? 1.0f : 0.0f;
  }
}

template <typename T>
__global__ void seed_distance_kernel(const T* __restrict__ source, bool invert, std::int64_t voxels,
                                     std::uint8_t* __restrict__ distance) {
  for (std::int64_t v = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; v < voxels;
       v += std::int64_t{gridDim.x} * blockDim.x)
    distance[v] = ((source[v] != T(0)) != invert) ? std::uint8_t{0} : kFarDistance;
}

__global__ void min_pass_kernel(const std::uint8_t* __restrict__ in, std::uint8_t* __restrict__ out,
                                std::int64_t voxels, std::int64_t stride, std::int64_t length, int reach) {
  for (std::int64_t v = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; v < voxels;
       v += std::int64_t{gridDim.x} * blockDim.x) {
    const std::int64_t position = v / stride % length;
    const std::int64_t low = position < reach ? -position : -reach;
    const std::int64_t high = length - 1 - position < reach ? length - 1 - position : reach;
    int best = kFarDistance;
    for (std::int64_t k = low; k <= high; ++k)
      best = min(best, static_cast<int>(in[v + k * stride]) + static_cast<int>(k * k));
    out[v] = static_cast<std::uint8_t>(best);
  }
}

__global__ void threshold_kernel(const std::uint8_t* __restrict__ distance, bool erode, int squared,
                                 std::int64_t voxels, std::uint8_t* __restrict__ result) {
  for (std::int64_t v = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; v < voxels;
       v += std::int64_t{gridDim.x} * blockDim.x) {
    const bool near = distance[v] <= squared;
    result[v] = (erode ? !near : near) ? 1 : 0;
  }
}

// The operator's result replaces the channel; voxels it adds are cleared in the other channels.
__global__ void commit_kernel(float* __restrict__ one_hot, int channels, int channel, std::int64_t voxels,
                              const std::uint8_t* __restrict__ mask) {
  for (std::int64_t v = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; v < voxels;
       v += std::int64_t{gridDim.x} * blockDim.x) {
    const bool result = mask[v] != 0;
    float& value = one_hot[channel * voxels + v];
    if (result && value == 0.0f)
      for (int other = 0; other < channels; ++other)
        if (other != channel) one_hot[other * voxels + v] = 0.0f;
    value = result ? 1.0f : 0.0f;
  }
}

struct Scratch {
  std::uint8_t* distance_a;
  std::uint8_t* distance_b;
  std::uint8_t* mask;
};

// mask = dilation (erode = false) or erosion (erode = true) of {source != 0}; source may be the mask.
template <typename T>
void ball_operator(const Context& ctx, const T* source, bool erode, const Ball& ball, const Shape3& patch,
                   const Scratch& s) {
  const std::int64_t voxels = patch[0] * patch[1] * patch[2];
  const unsigned grid = grid_for(voxels);
  const cudaStream_t stream = stream_of(ctx);
  seed_distance_kernel<T><<<grid, kThreads, 0, stream>>>(source, erode, voxels, s.distance_a);
  CUDA_CHECK_LAUNCH();
  const std::int64_t strides[3] = {patch[1] * patch[2], patch[2], 1};
  std::uint8_t* in = s.distance_a;
  std::uint8_t* out = s.distance_b;
  for (int axis = 0; axis < 3; ++axis) {
    min_pass_kernel<<<grid, kThreads, 0, stream>>>(in, out, voxels, strides[axis],
                                                   patch[static_cast<std::size_t>(axis)], ball.reach);
    CUDA_CHECK_LAUNCH();
    std::swap(in, out);
  }
  threshold_kernel<<<grid, kThreads, 0, stream>>>(in, erode, ball.squared, voxels, s.mask);
  CUDA_CHECK_LAUNCH();
}

void apply_morphology(const Context& ctx, const CascadeMorphology& m, float* one_hot, int F, const Shape3& patch,
                      const Scratch& s) {
  const std::int64_t voxels = patch[0] * patch[1] * patch[2];
  const float* channel = one_hot + m.channel * voxels;
  const Ball ball = augment::detail::ball_of(m.radius);
  switch (m.op) {
    case BinaryOperator::dilation: ball_operator(ctx, channel, false, ball, patch, s); break;
    case BinaryOperator::erosion: ball_operator(ctx, channel, true, ball, patch, s); break;
    case BinaryOperator::closing:
      ball_operator(ctx, channel, false, ball, patch, s);
      ball_operator<std::uint8_t>(ctx, s.mask, true, ball, patch, s);
      break;
    case BinaryOperator::opening:
      ball_operator(ctx, channel, true, ball, patch, s);
      ball_operator<std::uint8_t>(ctx, s.mask, false, ball, patch, s);
      break;
  }
  commit_kernel<<<grid_for(voxels), kThreads, 0, stream_of(ctx)>>>(one_hot, F, m.channel, voxels, s.mask);
  CUDA_CHECK_LAUNCH();
}

}  // namespace

void cascade_inputs(const Context& ctx, const Tensor& data, const Tensor& previous,
                    const std::vector<int>& foreground_labels, const std::vector<CascadeParams>* params,
                    Tensor& workspace, Tensor& out) {
  NNUC_RANGE("cascade_inputs");
  const std::int64_t batch = data.dim(0), C = data.dim(1);
  const Shape3 patch{data.dim(2), data.dim(3), data.dim(4)};
  const std::int64_t voxels = patch[0] * patch[1] * patch[2];
  if (batch == 0 || voxels == 0) return;
  const int F = static_cast<int>(foreground_labels.size());
  const std::int64_t sample_values = (C + F) * voxels;
  float* result = out.data<float>();
  const cudaStream_t stream = stream_of(ctx);
  if (C > 0) {
    copy_images_kernel<<<grid_for(batch * C * voxels), kThreads, 0, stream>>>(data.data<float>(), result, batch,
                                                                              C * voxels, sample_values);
    CUDA_CHECK_LAUNCH();
  }
  for (int f = 0; f < F; ++f) {
    one_hot_kernel<<<grid_for(batch * voxels), kThreads, 0, stream>>>(previous.data<std::int16_t>(), result, batch,
                                                                      voxels, sample_values, (C + f) * voxels,
                                                                      foreground_labels[static_cast<std::size_t>(f)]);
    CUDA_CHECK_LAUNCH();
  }
  if (!workspace.defined()) return;  // validation, or nothing fired
  const augment::detail::WorkspaceLayout layout = augment::detail::workspace_layout(Device::CUDA, voxels);
  auto* base = static_cast<std::uint8_t*>(workspace.raw());
  const Scratch scratch{base + layout.distance_a, base + layout.distance_b, base + layout.mask};
  auto* parents = reinterpret_cast<std::int32_t*>(base + layout.labels);
  auto* sizes = reinterpret_cast<std::int32_t*>(base + layout.sizes);
  auto* tiles = reinterpret_cast<std::int32_t*>(base + layout.tiles);
  for (std::int64_t b = 0; b < batch; ++b) {
    const CascadeParams& p = (*params)[static_cast<std::size_t>(b)];
    float* one_hot = result + b * sample_values + C * voxels;
    for (const CascadeMorphology& m : p.morphology) apply_morphology(ctx, m, one_hot, F, patch, scratch);
    for (const CascadeRemoval& r : p.removals)
      detail::remove_component(ctx, one_hot + r.channel * voxels, patch, r.choice, parents, sizes, tiles);
  }
}

}  // namespace nnuc::augment::cuda
