// Shared by the intensity tests (CPU and GPU): hand-made parameter sets and random crops.
#pragma once

#include <cstdint>
#include <vector>

#include "data/augment/intensity.h"
#include "tests/support/test_support.h"

namespace nnuc::augment::testing_intensity {

// Nothing fires: apply_intensity leaves the data as it is.
inline IntensityParams quiet_params(int channels) {
  IntensityParams params;
  params.channels.resize(static_cast<std::size_t>(channels));
  return params;
}

// Drawn values, with every transform and every per-channel choice firing.
inline IntensityParams all_firing(std::uint64_t seed, std::uint32_t iteration, std::uint32_t sample, int channels,
                                  bool dummy_2d) {
  PhiloxDraws draws(philox_key(seed, PhiloxStream::augmentation), iteration, sample, 0);
  IntensityParams params = draw_intensity(draws, channels, dummy_2d);
  params.noise = params.blur = params.brightness = params.contrast = params.low_resolution = params.inverted_gamma =
      params.gamma = true;
  for (IntensityChannel& channel : params.channels) channel.blur = channel.low_resolution = true;
  return params;
}

// What draw_intensity gives for batch element `sample` of `iteration`.
inline std::vector<IntensityParams> drawn_batch(std::uint64_t seed, std::uint32_t iteration, int samples, int channels,
                                                bool dummy_2d) {
  std::vector<IntensityParams> batch;
  for (int b = 0; b < samples; ++b) {
    PhiloxDraws draws(philox_key(seed, PhiloxStream::augmentation), iteration, static_cast<std::uint32_t>(b), 0);
    batch.push_back(draw_intensity(draws, channels, dummy_2d));
  }
  return batch;
}

// A crop of z-scored-like values, uniform in [-2, 3).
inline Tensor random_crop(const Shape& shape) { return nnuc::testing::random_uniform(shape, DType::f32, -2.0, 3.0); }

}  // namespace nnuc::augment::testing_intensity
