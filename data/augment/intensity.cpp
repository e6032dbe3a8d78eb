// Steps 4-10's draws, the rules both implementations share (blur kernels, low-resolution sizes), and
// the public entry point of apply_intensity: check at the door, allocate, dispatch.
#include "data/augment/intensity.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "kernels/elementwise/dispatch.h"

namespace nnuc::augment {

namespace {

// BG(low, high): with probability 0.5 U(low, 1), else U(1, high) (when low < 1). Two uniforms always.
float draw_bg(PhiloxDraws& draws, double low, double high) {
  const double coin = draws.uniform();
  const double value = draws.uniform();
  if (coin < 0.5 && low < 1) return static_cast<float>(low + (1.0 - low) * value);
  const double from = std::max(low, 1.0);
  return static_cast<float>(from + (high - from) * value);
}

}  // namespace

IntensityParams draw_intensity(PhiloxDraws& draws, int channels, bool dummy_2d) {
  NNUC_CHECK(channels >= 1, "draw_intensity: channels must be >= 1, got ", channels);
  IntensityParams params;
  params.channels.resize(static_cast<std::size_t>(channels));
  // Step 4: one sigma for all channels.
  params.noise = draws.bernoulli(kNoiseProbability);
  params.noise_sigma = static_cast<float>(draws.uniform(0.0, kNoiseSigmaMax));
  // Step 5.
  params.blur = draws.bernoulli(kBlurProbability);
  for (IntensityChannel& channel : params.channels) {
    channel.blur = draws.bernoulli(kBlurChannelProbability);
    for (float& sigma : channel.blur_sigma) sigma = static_cast<float>(draws.uniform(kBlurSigmaMin, kBlurSigmaMax));
  }
  // Step 6.
  params.brightness = draws.bernoulli(kBrightnessProbability);
  for (IntensityChannel& channel : params.channels) channel.brightness = draw_bg(draws, kBrightnessMin, kBrightnessMax);
  // Step 7.
  params.contrast = draws.bernoulli(kContrastProbability);
  for (IntensityChannel& channel : params.channels) channel.contrast = draw_bg(draws, kContrastMin, kContrastMax);
  // Step 8: one zoom for all axes of a channel; dummy-2D keeps axis 0.
  params.low_resolution = draws.bernoulli(kLowResolutionProbability);
  for (IntensityChannel& channel : params.channels) {
    channel.low_resolution = draws.bernoulli(kLowResolutionChannelProbability);
    const auto zoom = static_cast<float>(draws.uniform(kLowResolutionZoomMin, kLowResolutionZoomMax));
    channel.zoom = {dummy_2d ? 1.0f : zoom, zoom, zoom};
  }
  // Steps 9 and 10.
  params.inverted_gamma = draws.bernoulli(kInvertedGammaProbability);
  for (IntensityChannel& channel : params.channels) channel.inverted_gamma = draw_bg(draws, kGammaMin, kGammaMax);
  params.gamma = draws.bernoulli(kGammaProbability);
  for (IntensityChannel& channel : params.channels) channel.gamma = draw_bg(draws, kGammaMin, kGammaMax);
  return params;
}

int blur_kernel_size(double sigma) {
  // nnU-Net: _round_to_nearest_odd(sigma * 6 + 0.5), Python's round being half-to-even.
  const double n = 6.0 * sigma + 0.5;
  const double rounded = std::nearbyint(n);
  const auto size = static_cast<long long>(rounded);
  if (size % 2 != 0) return static_cast<int>(size);
  return static_cast<int>(n - rounded >= 0 ? size + 1 : size - 1);
}

BlurKernel blur_kernel(double sigma) {
  const int size = blur_kernel_size(sigma);
  NNUC_CHECK(std::isfinite(sigma) && sigma > 0 && size <= kMaxBlurTaps, "blur_kernel: sigma ", sigma,
             " gives a kernel of ", size, " taps; sigma must be > 0 with at most ", kMaxBlurTaps, " taps");
  const int radius = (size - 1) / 2;
  double weights[kMaxBlurTaps] = {};
  double sum = 0;
  for (int k = 0; k < size; ++k) {
    const double x = k - radius;
    weights[k] = std::exp(-x * x / (2.0 * sigma * sigma));
    sum += weights[k];
  }
  BlurKernel kernel;
  kernel.size = size;
  for (int k = 0; k < kMaxBlurTaps; ++k) kernel.taps[k] = k < size ? static_cast<float>(weights[k] / sum) : 0.0f;
  return kernel;
}

std::int64_t intensity_low_resolution_size(std::int64_t length, float zoom) {
  const double rounded = std::nearbyint(static_cast<double>(length) * static_cast<double>(zoom));  // half to even
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(rounded));
}

LowResolutionLayout low_resolution_layout(const Shape& data_shape, const std::vector<IntensityParams>& params) {
  const std::int64_t samples = data_shape[0], channels = data_shape[1];
  LowResolutionLayout layout;
  layout.offsets.assign(static_cast<std::size_t>(samples * channels), -1);
  for (std::int64_t b = 0; b < samples; ++b)
    for (std::int64_t c = 0; c < channels; ++c) {
      const IntensityParams& sample = params[static_cast<std::size_t>(b)];
      if (!sample.resamples(static_cast<int>(c))) continue;
      const IntensityChannel& channel = sample.channels[static_cast<std::size_t>(c)];
      std::int64_t volume = 1;
      for (int axis = 0; axis < 3; ++axis)
        volume *= intensity_low_resolution_size(data_shape[2 + axis], channel.zoom[static_cast<std::size_t>(axis)]);
      layout.offsets[static_cast<std::size_t>(b * channels + c)] = layout.total;
      layout.total += volume;
    }
  return layout;
}

std::int64_t intensity_statistics_elements(const Shape& data_shape, const std::vector<IntensityParams>& params) {
  bool measured = false;
  for (const IntensityParams& sample : params)
    measured = measured || sample.contrast || sample.inverted_gamma || sample.gamma;
  if (!measured) return 0;
  const std::int64_t volumes = data_shape[0] * data_shape[1];
  const std::int64_t voxels = data_shape[2] * data_shape[3] * data_shape[4];
  const std::int64_t chunks = (voxels + kIntensityStatisticsChunk - 1) / kIntensityStatisticsChunk;
  return volumes * chunks * 4 + 2 * volumes * 4;
}

namespace {

bool finite_positive(float value) { return std::isfinite(value) && value > 0; }

void check_arguments(const Context& ctx, const Tensor& data, const std::vector<IntensityParams>& params) {
  NNUC_CHECK(data.defined(), "apply_intensity: data is an undefined tensor");
  NNUC_CHECK(data.dtype() == DType::f32 && data.rank() == 5, "apply_intensity: data must be f32 (B, C, X, Y, Z), got ",
             data.describe());
  NNUC_CHECK(data.device() == ctx.device(), "apply_intensity: data is ", data.describe(), " but the op runs on ",
             device_name(ctx.device()));
  const Shape& shape = data.shape();
  for (int axis = 2; axis < 5; ++axis)
    NNUC_CHECK(shape[axis] >= 1 && shape[axis] <= kMaxIntensityLength, "apply_intensity: spatial axis ", axis - 2,
               " of data ", shape.str(), " must have 1 to ", kMaxIntensityLength, " voxels");
  NNUC_CHECK(shape[2] * shape[3] * shape[4] < (std::int64_t{1} << 32), "apply_intensity: data ", shape.str(),
             " has 2^32 or more voxels per channel");
  NNUC_CHECK(static_cast<std::int64_t>(params.size()) == shape[0], "apply_intensity: ", params.size(),
             " parameter sets for a batch of ", shape[0], " samples ", shape.str());
  for (std::size_t b = 0; b < params.size(); ++b) {
    const IntensityParams& sample = params[b];
    const std::string name = "apply_intensity: params[" + std::to_string(b) + "]";
    NNUC_CHECK(static_cast<std::int64_t>(sample.channels.size()) == shape[1], name, " has ", sample.channels.size(),
               " channels, data ", shape.str(), " has ", shape[1]);
    NNUC_CHECK(std::isfinite(sample.noise_sigma) && sample.noise_sigma >= 0, name,
               ".noise_sigma must be finite and >= 0, got ", sample.noise_sigma);
    for (std::size_t c = 0; c < sample.channels.size(); ++c) {
      const IntensityChannel& channel = sample.channels[c];
      const std::string at = name + ".channels[" + std::to_string(c) + "]";
      for (float sigma : channel.blur_sigma)
        NNUC_CHECK(finite_positive(sigma) && blur_kernel_size(sigma) <= kMaxBlurTaps, at, ".blur_sigma ", sigma,
                   " must be > 0 with at most ", kMaxBlurTaps, " taps (sigma < 1.25)");
      for (float zoom : channel.zoom)
        NNUC_CHECK(finite_positive(zoom) && zoom <= 1, at, ".zoom ", zoom, " must be in (0, 1]");
      NNUC_CHECK(std::isfinite(channel.brightness), at, ".brightness must be finite, got ", channel.brightness);
      NNUC_CHECK(std::isfinite(channel.contrast), at, ".contrast must be finite, got ", channel.contrast);
      NNUC_CHECK(finite_positive(channel.inverted_gamma), at, ".inverted_gamma must be > 0, got ",
                 channel.inverted_gamma);
      NNUC_CHECK(finite_positive(channel.gamma), at, ".gamma must be > 0, got ", channel.gamma);
    }
  }
}

}  // namespace

void apply_intensity(const Context& ctx, Tensor& data, const std::vector<IntensityParams>& params, PhiloxKey noise_key,
                     std::uint32_t iteration) {
  check_arguments(ctx, data, params);
  const LowResolutionLayout layout = low_resolution_layout(data.shape(), params);
  Tensor low_resolution;  // the downsampled volumes of step 8, back to back
  if (layout.total > 0) low_resolution = Tensor::empty(Shape{layout.total}, DType::f32, ctx);
  Tensor statistics;  // CUDA: per-chunk partials and per-volume statistics of steps 7, 9, 10
  if (ctx.models() == Device::CUDA) {
    const std::int64_t elements = intensity_statistics_elements(data.shape(), params);
    if (elements > 0) statistics = Tensor::empty(Shape{elements}, DType::f64, ctx);
  }
  switch (ctx.device()) {
    case Device::CPU: cpu::apply_intensity(data, params, noise_key, iteration, low_resolution); break;
    case Device::CUDA:
      NNUC_IF_CUDA(cuda::apply_intensity(ctx, data, params, noise_key, iteration, low_resolution, statistics));
      break;
    case Device::Meta: break;
  }
}

}  // namespace nnuc::augment
