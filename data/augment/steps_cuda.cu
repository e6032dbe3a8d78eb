// CUDA implementations of the per-voxel pipeline steps (steps.h): grid-stride loops, one thread per
// output element (mirror) or voxel (the others). Per-sample masks and the region table are kernel
// arguments.
#include <algorithm>

#include "data/augment/steps.h"
#include "kernels/core/cuda_check.h"
#include "kernels/core/nvtx.h"
#include "kernels/elementwise/cuda_util.cuh"

namespace nnuc::augment::cuda {

namespace {

using nnuc::cuda::grid_for;
using nnuc::cuda::kThreads;
using nnuc::cuda::stream_of;

constexpr int kMirrorSamples = 1024;  // masks per launch (1 KiB of kernel arguments)
struct MirrorBlock {
  unsigned char axes[kMirrorSamples];
};

template <typename Element>
__global__ void mirror_kernel(const Element* __restrict__ x, Element* __restrict__ out, const MirrorBlock block,
                              std::int64_t count, std::int64_t C, std::int64_t L0, std::int64_t L1, std::int64_t L2) {
  for (std::int64_t item = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; item < count;
       item += std::int64_t{gridDim.x} * blockDim.x) {
    const std::int64_t i2 = item % L2, i1 = item / L2 % L1, i0 = item / (L1 * L2) % L0, bc = item / (L0 * L1 * L2);
    const unsigned mask = block.axes[bc / C];
    const std::int64_t s0 = (mask & kMirror0) ? L0 - 1 - i0 : i0, s1 = (mask & kMirror1) ? L1 - 1 - i1 : i1,
                       s2 = (mask & kMirror2) ? L2 - 1 - i2 : i2;
    out[item] = x[((bc * L0 + s0) * L1 + s1) * L2 + s2];
  }
}

template <typename Element>
void mirror_typed(const Context& ctx, const Tensor& x, const std::vector<unsigned>& axes, Tensor& out) {
  const std::int64_t B = x.dim(0), sample_elements = x.numel() / std::max<std::int64_t>(B, 1);
  for (std::int64_t first = 0; first < B; first += kMirrorSamples) {
    const std::int64_t samples = std::min<std::int64_t>(kMirrorSamples, B - first);
    MirrorBlock block{};
    for (std::int64_t b = 0; b < samples; ++b) block.axes[b] = static_cast<unsigned char>(axes[first + b]);
    const std::int64_t count = samples * sample_elements;
    mirror_kernel<Element><<<grid_for(count), kThreads, 0, stream_of(ctx)>>>(
        static_cast<const Element*>(x.raw()) + first * sample_elements,
        static_cast<Element*>(out.raw()) + first * sample_elements, block, count, x.dim(1), x.dim(2), x.dim(3),
        x.dim(4));
    CUDA_CHECK_LAUNCH();
  }
}

__global__ void mask_kernel(float* __restrict__ image, const std::int16_t* __restrict__ labels, std::int64_t count,
                            std::int64_t C, std::int64_t S, std::int64_t volume, std::uint64_t channels) {
  for (std::int64_t item = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; item < count;
       item += std::int64_t{gridDim.x} * blockDim.x) {
    const std::int64_t b = item / volume, v = item - b * volume;
    if (labels[b * S * volume + v] >= 0) continue;
    for (std::int64_t c = 0; c < C; ++c)
      if ((channels >> c) & 1u) image[(b * C + c) * volume + v] = 0.0f;
  }
}

__global__ void remove_label_kernel(const std::int16_t* __restrict__ labels, std::int16_t* __restrict__ out,
                                    std::int64_t count, std::int64_t S, std::int64_t channel, std::int64_t volume) {
  for (std::int64_t item = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; item < count;
       item += std::int64_t{gridDim.x} * blockDim.x) {
    const std::int64_t b = item / volume, v = item - b * volume;
    const std::int16_t label = labels[(b * S + channel) * volume + v];
    out[item] = label == -1 ? std::int16_t{0} : label;
  }
}

__global__ void regions_kernel(const std::int16_t* __restrict__ labels, std::uint8_t* __restrict__ out,
                               std::int64_t voxels, const RegionTable table) {
  for (std::int64_t v = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; v < voxels;
       v += std::int64_t{gridDim.x} * blockDim.x) {
    const std::int16_t label = labels[v];
    std::uint8_t* voxel = out + v * table.channels;
    for (int channel = 0; channel < table.channels; ++channel) voxel[channel] = 0;
    for (int entry = 0; entry < table.entries; ++entry)
      if (label == table.label[entry]) voxel[table.region[entry]] = 1;
    if (table.ignore >= 0 && label == table.ignore) voxel[table.channels - 1] = 1;
  }
}

template <typename Out>
__global__ void channels_last_kernel(const float* __restrict__ data, Out* __restrict__ out, std::int64_t count,
                                     std::int64_t C, std::int64_t volume) {
  for (std::int64_t item = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; item < count;
       item += std::int64_t{gridDim.x} * blockDim.x) {
    const std::int64_t b = item / volume, v = item - b * volume;
    for (std::int64_t c = 0; c < C; ++c)
      out[item * C + c] = nnuc::cuda::from_float<Out>(__ldg(data + (b * C + c) * volume + v));
  }
}

}  // namespace

void mirror_samples(const Context& ctx, const Tensor& x, const std::vector<unsigned>& axes, Tensor& out) {
  NNUC_RANGE("mirror_samples");
  if (x.numel() == 0) return;
  switch (dtype_size(x.dtype())) {
    case 1: mirror_typed<std::uint8_t>(ctx, x, axes, out); break;
    case 2: mirror_typed<std::uint16_t>(ctx, x, axes, out); break;
    case 4: mirror_typed<std::uint32_t>(ctx, x, axes, out); break;
    default: mirror_typed<std::uint64_t>(ctx, x, axes, out); break;
  }
}

void mask_image(const Context& ctx, Tensor& data, const Tensor& seg, std::uint64_t channels) {
  NNUC_RANGE("mask_image");
  const std::int64_t volume = data.dim(2) * data.dim(3) * data.dim(4), count = data.dim(0) * volume;
  if (count == 0) return;
  mask_kernel<<<grid_for(count), kThreads, 0, stream_of(ctx)>>>(data.data<float>(), seg.data<std::int16_t>(), count,
                                                                data.dim(1), seg.dim(1), volume, channels);
  CUDA_CHECK_LAUNCH();
}

void remove_label(const Context& ctx, const Tensor& seg, std::int64_t channel, Tensor& out) {
  NNUC_RANGE("remove_label");
  const std::int64_t volume = seg.dim(2) * seg.dim(3) * seg.dim(4), count = seg.dim(0) * volume;
  if (count == 0) return;
  remove_label_kernel<<<grid_for(count), kThreads, 0, stream_of(ctx)>>>(
      seg.data<std::int16_t>(), out.data<std::int16_t>(), count, seg.dim(1), channel, volume);
  CUDA_CHECK_LAUNCH();
}

void labels_to_regions(const Context& ctx, const Tensor& labels, const RegionTable& table, Tensor& out) {
  NNUC_RANGE("labels_to_regions");
  const std::int64_t voxels = labels.numel();
  if (voxels == 0) return;
  regions_kernel<<<grid_for(voxels), kThreads, 0, stream_of(ctx)>>>(labels.data<std::int16_t>(),
                                                                    out.data<std::uint8_t>(), voxels, table);
  CUDA_CHECK_LAUNCH();
}

void to_channels_last(const Context& ctx, const Tensor& data, Tensor& out) {
  NNUC_RANGE("to_channels_last");
  const std::int64_t volume = data.dim(2) * data.dim(3) * data.dim(4), count = data.dim(0) * volume;
  if (count == 0) return;
  if (out.dtype() == DType::bf16) {
    channels_last_kernel<__nv_bfloat16><<<grid_for(count), kThreads, 0, stream_of(ctx)>>>(
        data.data<float>(), static_cast<__nv_bfloat16*>(out.raw()), count, data.dim(1), volume);
  } else {
    channels_last_kernel<float><<<grid_for(count), kThreads, 0, stream_of(ctx)>>>(data.data<float>(), out.data<float>(),
                                                                                  count, data.dim(1), volume);
  }
  CUDA_CHECK_LAUNCH();
}

}  // namespace nnuc::augment::cuda
