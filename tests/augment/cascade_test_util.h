// Shared by the cascade tests (CPU and GPU): previous-stage segmentations with components of many
// sizes, hand-made parameter sets and a brute-force ball morphology.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "data/augment/cascade.h"
#include "tests/support/test_support.h"

namespace nnuc::augment::testing_cascade {

// Labels 0..classes-1 in (X, Y, Z): random balls of every label (radius 1..max_radius) over a
// background of 0, plus scattered single voxels (isolated components).
inline std::vector<std::int16_t> blob_labels(const Shape3& patch, int classes, int balls, double max_radius,
                                             double speckle) {
  auto& rng = nnuc::testing::rng();
  const std::int64_t voxels = patch[0] * patch[1] * patch[2];
  std::vector<std::int16_t> labels(static_cast<std::size_t>(voxels), 0);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::uniform_int_distribution<int> label(1, classes - 1);
  for (int n = 0; n < balls; ++n) {
    const double cx = unit(rng) * static_cast<double>(patch[0]), cy = unit(rng) * static_cast<double>(patch[1]),
                 cz = unit(rng) * static_cast<double>(patch[2]);
    const double r = 1.0 + unit(rng) * (max_radius - 1.0);
    const auto value = static_cast<std::int16_t>(label(rng));
    for (std::int64_t x = 0; x < patch[0]; ++x)
      for (std::int64_t y = 0; y < patch[1]; ++y)
        for (std::int64_t z = 0; z < patch[2]; ++z) {
          const double dx = static_cast<double>(x) - cx, dy = static_cast<double>(y) - cy,
                       dz = static_cast<double>(z) - cz;
          if (dx * dx + dy * dy + dz * dz <= r * r)
            labels[static_cast<std::size_t>((x * patch[1] + y) * patch[2] + z)] = value;
        }
  }
  for (auto& value : labels)
    if (unit(rng) < speckle) value = static_cast<std::int16_t>(label(rng));
  return labels;
}

// (B, 1, X, Y, Z) i16 with blob_labels per sample.
inline Tensor previous_segmentation(std::int64_t batch, const Shape3& patch, int classes, int balls = 12,
                                    double max_radius = 5.0, double speckle = 0.01) {
  std::vector<std::int16_t> all;
  for (std::int64_t b = 0; b < batch; ++b) {
    const auto one = blob_labels(patch, classes, balls, max_radius, speckle);
    all.insert(all.end(), one.begin(), one.end());
  }
  return Tensor::from_vector(Shape{batch, 1, patch[0], patch[1], patch[2]}, all);
}

// Squared-distance ball morphology by definition: dilation(m)[v] = some s inside the patch with m[s]
// and |s - v|^2 <= r^2; erosion(m) = not dilation(not m) (outside the patch counts for neither).
inline std::vector<std::uint8_t> brute_dilation(const std::vector<std::uint8_t>& mask, const Shape3& patch,
                                                float radius) {
  const double r2 = static_cast<double>(radius) * static_cast<double>(radius);
  const auto reach = static_cast<std::int64_t>(radius) + 1;
  std::vector<std::uint8_t> out(mask.size(), 0);
  for (std::int64_t x = 0; x < patch[0]; ++x)
    for (std::int64_t y = 0; y < patch[1]; ++y)
      for (std::int64_t z = 0; z < patch[2]; ++z) {
        bool hit = false;
        for (std::int64_t dx = -reach; dx <= reach && !hit; ++dx)
          for (std::int64_t dy = -reach; dy <= reach && !hit; ++dy)
            for (std::int64_t dz = -reach; dz <= reach && !hit; ++dz) {
              const std::int64_t sx = x + dx, sy = y + dy, sz = z + dz;
              if (sx < 0 || sy < 0 || sz < 0 || sx >= patch[0] || sy >= patch[1] || sz >= patch[2]) continue;
              if (static_cast<double>(dx * dx + dy * dy + dz * dz) > r2) continue;
              hit = mask[static_cast<std::size_t>((sx * patch[1] + sy) * patch[2] + sz)] != 0;
            }
        out[static_cast<std::size_t>((x * patch[1] + y) * patch[2] + z)] = hit ? 1 : 0;
      }
  return out;
}

inline std::vector<std::uint8_t> invert(std::vector<std::uint8_t> mask) {
  for (auto& m : mask) m = m != 0 ? 0 : 1;
  return mask;
}

inline std::vector<std::uint8_t> brute_operator(const std::vector<std::uint8_t>& mask, const Shape3& patch,
                                                BinaryOperator op, float radius) {
  const auto erode = [&](const std::vector<std::uint8_t>& m) {
    return invert(brute_dilation(invert(m), patch, radius));
  };
  const auto dilate = [&](const std::vector<std::uint8_t>& m) { return brute_dilation(m, patch, radius); };
  switch (op) {
    case BinaryOperator::dilation: return dilate(mask);
    case BinaryOperator::erosion: return erode(mask);
    case BinaryOperator::closing: return erode(dilate(mask));
    case BinaryOperator::opening: return dilate(erode(mask));
  }
  return mask;
}

// Channel `channel` of sample b of a (B, C, X, Y, Z) host tensor as 0/1 bytes.
inline std::vector<std::uint8_t> channel_mask(const Tensor& t, std::int64_t b, std::int64_t channel) {
  const std::int64_t voxels = t.dim(2) * t.dim(3) * t.dim(4);
  const float* values = t.data<float>() + (b * t.dim(1) + channel) * voxels;
  std::vector<std::uint8_t> out(static_cast<std::size_t>(voxels));
  for (std::int64_t v = 0; v < voxels; ++v) out[static_cast<std::size_t>(v)] = values[v] != 0.0f ? 1 : 0;
  return out;
}

// What draw_cascade gives for batch element `sample` of `iteration`.
inline std::vector<CascadeParams> drawn_batch(std::uint64_t seed, std::uint32_t iteration, int samples, int labels) {
  std::vector<CascadeParams> batch;
  for (int b = 0; b < samples; ++b) {
    PhiloxDraws draws(philox_key(seed, PhiloxStream::augmentation), iteration, static_cast<std::uint32_t>(b), 0);
    batch.push_back(draw_cascade(draws, labels));
  }
  return batch;
}

// Every operator on every channel (radii spread over [1, 8)) and then a removal on every channel.
inline CascadeParams everything(int labels, std::uint64_t salt) {
  CascadeParams params;
  params.binary_operator = params.component_removal = true;
  for (int c = 0; c < labels; ++c) {
    const auto op = static_cast<BinaryOperator>((static_cast<std::uint64_t>(c) + salt) % 4);
    const float radius = 1.0f + static_cast<float>((static_cast<std::uint64_t>(c) * 37 + salt * 11) % 70) / 10.0f;
    params.morphology.push_back({labels - 1 - c, op, radius});
  }
  for (int c = 0; c < labels; ++c)
    params.removals.push_back({c, static_cast<double>((static_cast<std::uint64_t>(c) * 13 + salt * 7) % 100) / 100.0});
  return params;
}

}  // namespace nnuc::augment::testing_cascade
