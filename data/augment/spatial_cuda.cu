// CUDA spatial_transform: one thread per output voxel (b, j0, j1, j2), all image and seg channels;
// the arithmetic of spatial_voxel.h, shared with the CPU loop. The per-sample parameters travel as
// a kernel argument (no upload, no host round-trip), up to kSamplesPerLaunch samples per launch.
#include <algorithm>

#include "data/augment/spatial.h"
#include "data/augment/spatial_voxel.h"
#include "kernels/core/cuda_check.h"
#include "kernels/core/nvtx.h"
#include "kernels/elementwise/cuda_util.cuh"

namespace nnuc::augment::cuda {

namespace {

constexpr int kSamplesPerLaunch = 32;  // 32 · 76 bytes of kernel arguments

struct SampleBlock {
  SpatialSample sample[kSamplesPerLaunch];
};

struct Geometry {
  std::int64_t C, S, L0, L1, L2, P0, P1, P2;
};

__global__ void spatial_kernel(const float* __restrict__ image, const std::int16_t* __restrict__ labels,
                               float* __restrict__ image_out, std::int16_t* __restrict__ labels_out,
                               const SampleBlock block, const int samples, const Geometry g, const bool planar) {
  const std::int64_t in_volume = g.L0 * g.L1 * g.L2, out_volume = g.P0 * g.P1 * g.P2;
  const std::int64_t count = samples * out_volume;
  for (std::int64_t item = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; item < count;
       item += std::int64_t{gridDim.x} * blockDim.x) {
    const std::int64_t b = item / out_volume, out_index = item - b * out_volume;
    const std::int64_t j2 = out_index % g.P2, j1 = out_index / g.P2 % g.P1, j0 = out_index / (g.P1 * g.P2);
    const SpatialSample& sample = block.sample[b];
    const float* image_b = image + b * g.C * in_volume;
    const std::int16_t* labels_b = labels + b * g.S * in_volume;
    float* image_voxel = image_out + b * g.C * out_volume + out_index;
    std::int16_t* label_voxel = labels_out + b * g.S * out_volume + out_index;
    if (!sample.affine) {
      const std::int64_t i0 = j0 + sample.start[0], i1 = j1 + sample.start[1], i2 = j2 + sample.start[2];
      const bool inside = i0 >= 0 && i0 < g.L0 && i1 >= 0 && i1 < g.L1 && i2 >= 0 && i2 < g.L2;
      const std::int64_t in_index = inside ? (i0 * g.L1 + i1) * g.L2 + i2 : 0;
      for (std::int64_t c = 0; c < g.C; ++c)
        image_voxel[c * out_volume] = inside ? __ldg(image_b + c * in_volume + in_index) : 0.0f;
      for (std::int64_t s = 0; s < g.S; ++s)
        label_voxel[s * out_volume] = inside ? __ldg(labels_b + s * in_volume + in_index) : std::int16_t{-1};
      continue;
    }
    const detail::Neighbours n = detail::neighbours(sample, planar, j0, j1, j2, g.L0, g.L1, g.L2);
    for (std::int64_t c = 0; c < g.C; ++c)
      image_voxel[c * out_volume] = detail::interpolate(n, image_b + c * in_volume);
    for (std::int64_t s = 0; s < g.S; ++s)
      label_voxel[s * out_volume] = detail::vote_label(n, labels_b + s * in_volume);
  }
}

}  // namespace

void spatial_transform(const Context& ctx, const Tensor& data, const Tensor& seg,
                       const std::vector<SpatialSample>& samples, bool planar, Tensor& data_out, Tensor& seg_out) {
  NNUC_RANGE("spatial_transform");
  const Geometry g{data.dim(1), seg.dim(1),      data.dim(2),     data.dim(3),
                   data.dim(4), data_out.dim(2), data_out.dim(3), data_out.dim(4)};
  const std::int64_t in_volume = g.L0 * g.L1 * g.L2, out_volume = g.P0 * g.P1 * g.P2;
  const std::int64_t batch = data.dim(0);
  for (std::int64_t first = 0; first < batch; first += kSamplesPerLaunch) {
    const int count = static_cast<int>(std::min<std::int64_t>(kSamplesPerLaunch, batch - first));
    SampleBlock block{};
    std::copy(samples.begin() + first, samples.begin() + first + count, block.sample);
    spatial_kernel<<<nnuc::cuda::grid_for(count * out_volume), nnuc::cuda::kThreads, 0, nnuc::cuda::stream_of(ctx)>>>(
        data.data<float>() + first * g.C * in_volume, seg.data<std::int16_t>() + first * g.S * in_volume,
        data_out.data<float>() + first * g.C * out_volume, seg_out.data<std::int16_t>() + first * g.S * out_volume,
        block, count, g, planar);
    CUDA_CHECK_LAUNCH();
  }
}

}  // namespace nnuc::augment::cuda
