// CPU spatial_transform: OpenMP over output rows (b, j0, j1); per voxel the arithmetic of
// spatial_voxel.h, shared with the CUDA kernel.
#include "data/augment/spatial.h"
#include "data/augment/spatial_voxel.h"

namespace nnuc::augment::cpu {

void spatial_transform(const Tensor& data, const Tensor& seg, const std::vector<SpatialSample>& samples, bool planar,
                       Tensor& data_out, Tensor& seg_out) {
  const std::int64_t B = data.dim(0), C = data.dim(1), S = seg.dim(1);
  const std::int64_t L0 = data.dim(2), L1 = data.dim(3), L2 = data.dim(4);
  const std::int64_t P0 = data_out.dim(2), P1 = data_out.dim(3), P2 = data_out.dim(4);
  const std::int64_t in_volume = L0 * L1 * L2, out_volume = P0 * P1 * P2;
  const float* image = data.data<float>();
  const std::int16_t* labels = seg.data<std::int16_t>();
  float* image_out = data_out.data<float>();
  std::int16_t* labels_out = seg_out.data<std::int16_t>();
  const std::int64_t rows = B * P0 * P1;
#pragma omp parallel for schedule(static)
  for (std::int64_t row = 0; row < rows; ++row) {
    const std::int64_t b = row / (P0 * P1), j0 = row / P1 % P0, j1 = row % P1;
    const SpatialSample& sample = samples[static_cast<std::size_t>(b)];
    const float* image_b = image + b * C * in_volume;
    const std::int16_t* labels_b = labels + b * S * in_volume;
    for (std::int64_t j2 = 0; j2 < P2; ++j2) {
      const std::int64_t out_index = (j0 * P1 + j1) * P2 + j2;
      float* image_voxel = image_out + b * C * out_volume + out_index;
      std::int16_t* label_voxel = labels_out + b * S * out_volume + out_index;
      if (!sample.affine) {
        const std::int64_t i0 = j0 + sample.start[0], i1 = j1 + sample.start[1], i2 = j2 + sample.start[2];
        const bool inside = i0 >= 0 && i0 < L0 && i1 >= 0 && i1 < L1 && i2 >= 0 && i2 < L2;
        const std::int64_t in_index = inside ? (i0 * L1 + i1) * L2 + i2 : 0;
        for (std::int64_t c = 0; c < C; ++c)
          image_voxel[c * out_volume] = inside ? image_b[c * in_volume + in_index] : 0.0f;
        for (std::int64_t s = 0; s < S; ++s)
          label_voxel[s * out_volume] = inside ? labels_b[s * in_volume + in_index] : std::int16_t{-1};
        continue;
      }
      const detail::Neighbours n = detail::neighbours(sample, planar, j0, j1, j2, L0, L1, L2);
      for (std::int64_t c = 0; c < C; ++c)
        image_voxel[c * out_volume] = detail::interpolate(n, image_b + c * in_volume);
      for (std::int64_t s = 0; s < S; ++s)
        label_voxel[s * out_volume] = detail::vote_label(n, labels_b + s * in_volume);
    }
  }
}

}  // namespace nnuc::augment::cpu
