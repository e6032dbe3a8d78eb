// CPU implementation of steps 4-10 (the specification of the CUDA kernels). Every transform acts on
// one (sample, channel) volume alone, so the volumes are processed in parallel (OpenMP over B * C),
// each running steps 4-10 in order. Statistics accumulate in f64 in voxel order; arithmetic is f32.
#include <algorithm>
#include <cmath>
#include <vector>

#include "data/augment/intensity.h"

namespace nnuc::augment::cpu {

namespace {

// One channel of one sample: X * Y * Z contiguous voxels.
struct Volume {
  float* x;
  std::int64_t dims[3];
  std::int64_t voxels() const { return dims[0] * dims[1] * dims[2]; }
};

// Step 4: x += sigma n, the normals of intensity_noise_pair.
void add_noise(const Volume& volume, float sigma, PhiloxKey key, std::uint32_t iteration, std::uint32_t sample,
               std::uint32_t channel) {
  const std::int64_t voxels = volume.voxels();
  for (std::int64_t pair = 0; 2 * pair < voxels; ++pair) {
    const NoisePair normals = intensity_noise_pair(key, iteration, sample, channel, static_cast<std::uint32_t>(pair));
    volume.x[2 * pair] += sigma * normals.even;
    if (2 * pair + 1 < voxels) volume.x[2 * pair + 1] += sigma * normals.odd;
  }
}

// Step 5 along one axis, in place: the volume as (outer, length, inner); lines are read a tile of
// up to kTile neighbouring inner positions at a time into `tile`, convolved, written back.
void blur_axis(const Volume& volume, int axis, const BlurKernel& kernel, std::vector<float>& tile,
               std::vector<std::int64_t>& source) {
  const std::int64_t length = volume.dims[axis];
  if (length == 1 || kernel.size == 1) return;  // the identity
  constexpr std::int64_t kTile = 64;
  const std::int64_t outer = axis == 0 ? 1 : (axis == 1 ? volume.dims[0] : volume.dims[0] * volume.dims[1]);
  const std::int64_t inner = axis == 2 ? 1 : (axis == 1 ? volume.dims[2] : volume.dims[1] * volume.dims[2]);
  const int radius = (kernel.size - 1) / 2;
  source.resize(static_cast<std::size_t>(length + 2 * radius));  // reflected index of l - radius ... l + radius
  for (std::int64_t l = -radius; l < length + radius; ++l)
    source[static_cast<std::size_t>(l + radius)] = intensity_reflect(l, length);
  tile.resize(static_cast<std::size_t>(length * std::min(inner, kTile)));
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t first = 0; first < inner; first += kTile) {
      const std::int64_t width = std::min(kTile, inner - first);
      float* base = volume.x + o * length * inner + first;
      for (std::int64_t l = 0; l < length; ++l)
        for (std::int64_t t = 0; t < width; ++t) tile[static_cast<std::size_t>(l * width + t)] = base[l * inner + t];
      for (std::int64_t l = 0; l < length; ++l) {
        const std::int64_t* taps_from = source.data() + l;  // reflected l - radius + k
        for (std::int64_t t = 0; t < width; ++t) {
          float sum = 0;
          for (int k = 0; k < kernel.size; ++k)
            sum += kernel.taps[k] * tile[static_cast<std::size_t>(taps_from[k] * width + t)];
          base[l * inner + t] = sum;
        }
      }
    }
}

// Mean, unbiased std, min and max of sign * x, accumulated in f64 around the first value.
struct Statistics {
  double mean, std;
  float min, max;
};
Statistics statistics(const Volume& volume, float sign) {
  const std::int64_t voxels = volume.voxels();
  const double shift = static_cast<double>(sign * volume.x[0]);
  double sum = 0, squares = 0;
  float low = sign * volume.x[0], high = low;
  for (std::int64_t v = 0; v < voxels; ++v) {
    const float value = sign * volume.x[v];
    const double deviation = static_cast<double>(value) - shift;
    sum += deviation;
    squares += deviation * deviation;
    low = std::min(low, value);
    high = std::max(high, value);
  }
  const double count = static_cast<double>(voxels);
  const double variance = voxels > 1 ? std::max(0.0, (squares - sum * sum / count) / (count - 1)) : 0.0;
  return Statistics{shift + sum / count, std::sqrt(variance), low, high};
}

// Step 7.
void contrast(const Volume& volume, float factor) {
  const Statistics before = statistics(volume, 1.0f);
  const auto mean = static_cast<float>(before.mean);
  const std::int64_t voxels = volume.voxels();
  for (std::int64_t v = 0; v < voxels; ++v)
    volume.x[v] = std::min(std::max((volume.x[v] - mean) * factor + mean, before.min), before.max);
}

// Step 8: nearest-exact down to `buffer`, linear back up into the volume.
void low_resolution(const Volume& volume, const std::array<float, 3>& zoom, float* buffer) {
  std::int64_t down[3];
  std::vector<std::int64_t> nearest[3];
  std::vector<LinearSource> linear[3];
  for (int a = 0; a < 3; ++a) {
    down[a] = intensity_low_resolution_size(volume.dims[a], zoom[static_cast<std::size_t>(a)]);
    for (std::int64_t i = 0; i < down[a]; ++i)
      nearest[a].push_back(intensity_nearest_source(i, volume.dims[a], down[a]));
    for (std::int64_t i = 0; i < volume.dims[a]; ++i)
      linear[a].push_back(intensity_linear_source(i, down[a], volume.dims[a]));
  }
  const std::int64_t* d = volume.dims;
  for (std::int64_t i = 0; i < down[0]; ++i)
    for (std::int64_t j = 0; j < down[1]; ++j)
      for (std::int64_t k = 0; k < down[2]; ++k)
        buffer[(i * down[1] + j) * down[2] + k] =
            volume.x[(nearest[0][static_cast<std::size_t>(i)] * d[1] + nearest[1][static_cast<std::size_t>(j)]) * d[2] +
                     nearest[2][static_cast<std::size_t>(k)]];
  for (std::int64_t i = 0; i < d[0]; ++i)
    for (std::int64_t j = 0; j < d[1]; ++j)
      for (std::int64_t k = 0; k < d[2]; ++k) {
        const LinearSource& p = linear[0][static_cast<std::size_t>(i)];
        const LinearSource& q = linear[1][static_cast<std::size_t>(j)];
        const LinearSource& r = linear[2][static_cast<std::size_t>(k)];
        const auto at = [&](std::int64_t a, std::int64_t b, std::int64_t c) {
          return buffer[(a * down[1] + b) * down[2] + c];
        };
        const auto row = [&](std::int64_t a, std::int64_t b) {
          return (1.0f - r.w1) * at(a, b, r.i0) + r.w1 * at(a, b, r.i1);
        };
        const auto plane = [&](std::int64_t a) { return (1.0f - q.w1) * row(a, q.i0) + q.w1 * row(a, q.i1); };
        volume.x[(i * d[1] + j) * d[2] + k] = (1.0f - p.w1) * plane(p.i0) + p.w1 * plane(p.i1);
      }
}

// Steps 9 (sign -1) and 10 (sign +1): gamma on sign * x, statistics restored, sign applied again.
void gamma(const Volume& volume, float exponent, float sign) {
  const Statistics before = statistics(volume, sign);
  const float range = before.max - before.min;
  const float denominator = std::max(range, kGammaEpsilon);
  const std::int64_t voxels = volume.voxels();
  for (std::int64_t v = 0; v < voxels; ++v)
    volume.x[v] = std::pow((sign * volume.x[v] - before.min) / denominator, exponent) * range + before.min;
  const Statistics after = statistics(volume, 1.0f);
  const auto mean = static_cast<float>(before.mean), mean_after = static_cast<float>(after.mean);
  const float factor = static_cast<float>(before.std) / std::max(static_cast<float>(after.std), kGammaEpsilon);
  for (std::int64_t v = 0; v < voxels; ++v) volume.x[v] = sign * ((volume.x[v] - mean_after) * factor + mean);
}

}  // namespace

void apply_intensity(Tensor& data, const std::vector<IntensityParams>& params, PhiloxKey noise_key,
                     std::uint32_t iteration, Tensor& low_resolution_buffer) {
  const Shape& shape = data.shape();  // (B, C, X, Y, Z)
  const std::int64_t channels = shape[1], volumes = shape[0] * shape[1];
  const std::int64_t voxels = shape[2] * shape[3] * shape[4];
  const LowResolutionLayout layout = low_resolution_layout(shape, params);
  float* x = data.data<float>();
  float* buffer = layout.total > 0 ? low_resolution_buffer.data<float>() : nullptr;

#pragma omp parallel for schedule(dynamic, 1)
  for (std::int64_t index = 0; index < volumes; ++index) {
    const std::int64_t b = index / channels;
    const int c = static_cast<int>(index % channels);
    const IntensityParams& sample = params[static_cast<std::size_t>(b)];
    const IntensityChannel& channel = sample.channels[static_cast<std::size_t>(c)];
    const Volume volume{x + index * voxels, {shape[2], shape[3], shape[4]}};
    if (sample.noise)
      add_noise(volume, sample.noise_sigma, noise_key, iteration, static_cast<std::uint32_t>(b),
                static_cast<std::uint32_t>(c));
    if (sample.blurs(c)) {
      std::vector<float> tile;
      std::vector<std::int64_t> source;
      for (int axis = 0; axis < 3; ++axis)
        blur_axis(volume, axis, blur_kernel(channel.blur_sigma[static_cast<std::size_t>(axis)]), tile, source);
    }
    if (sample.brightness)
      for (std::int64_t v = 0; v < voxels; ++v) volume.x[v] *= channel.brightness;
    if (sample.contrast) contrast(volume, channel.contrast);
    if (sample.resamples(c))
      low_resolution(volume, channel.zoom, buffer + layout.offsets[static_cast<std::size_t>(index)]);
    if (sample.inverted_gamma) gamma(volume, channel.inverted_gamma, -1.0f);
    if (sample.gamma) gamma(volume, channel.gamma, 1.0f);
  }
}

}  // namespace nnuc::augment::cpu
