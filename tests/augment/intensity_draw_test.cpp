// data/augment/intensity: the draws of steps 4-10 over many samples (how often each transform fires,
// parameter ranges, a fixed number of draws), determinism of apply_intensity, its argument checks and
// its allocations (CPU vs Meta).
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "data/augment/intensity.h"
#include "kernels/core/allocator.h"
#include "tests/augment/intensity_test_util.h"
#include "tests/support/test_support.h"

namespace nnuc::augment {
namespace {

using testing_intensity::quiet_params;
using testing_intensity::random_crop;

const PhiloxKey kNoiseKey = philox_key(5, PhiloxStream::augment_noise);

// Expects `hits` of `trials` to be within six binomial standard errors of probability p.
void expect_fraction(std::int64_t hits, std::int64_t trials, double p, const char* what) {
  const double n = static_cast<double>(trials);
  EXPECT_NEAR(static_cast<double>(hits) / n, p, 6 * std::sqrt(p * (1 - p) / n)) << what;
}

TEST(IntensityDraws, FrequenciesAndRanges) {
  constexpr int kSamples = 20000, kChannels = 2;
  const PhiloxKey key = philox_key(nnuc::testing::test_seed(), PhiloxStream::augmentation);
  std::int64_t fired[7] = {}, blurred = 0, resampled = 0, below_one[3] = {}, values = 0;
  double sigma_sum = 0;
  // Parameters are stored in f32: compare with the bounds rounded the same way.
  const auto f = [](double bound) { return static_cast<float>(bound); };
  for (int s = 0; s < kSamples; ++s) {
    PhiloxDraws draws(key, static_cast<std::uint32_t>(s / 8), static_cast<std::uint32_t>(s % 8), 0);
    const IntensityParams p = draw_intensity(draws, kChannels, s % 2 == 1);
    ASSERT_EQ(p.channels.size(), static_cast<std::size_t>(kChannels));
    const bool flags[7] = {p.noise, p.blur, p.brightness, p.contrast, p.low_resolution, p.inverted_gamma, p.gamma};
    for (int t = 0; t < 7; ++t) fired[t] += flags[t];
    ASSERT_TRUE(p.noise_sigma >= 0 && p.noise_sigma <= f(kNoiseSigmaMax));
    sigma_sum += p.noise_sigma;
    for (const IntensityChannel& c : p.channels) {
      blurred += c.blur;
      resampled += c.low_resolution;
      for (float sigma : c.blur_sigma) ASSERT_TRUE(sigma >= f(kBlurSigmaMin) && sigma <= f(kBlurSigmaMax)) << sigma;
      ASSERT_TRUE(c.brightness >= f(kBrightnessMin) && c.brightness <= f(kBrightnessMax)) << c.brightness;
      ASSERT_TRUE(c.contrast >= f(kContrastMin) && c.contrast <= f(kContrastMax)) << c.contrast;
      ASSERT_TRUE(c.gamma >= f(kGammaMin) && c.gamma <= f(kGammaMax)) << c.gamma;
      ASSERT_TRUE(c.inverted_gamma >= f(kGammaMin) && c.inverted_gamma <= f(kGammaMax)) << c.inverted_gamma;
      ASSERT_TRUE(c.zoom[1] >= f(kLowResolutionZoomMin) && c.zoom[1] <= f(kLowResolutionZoomMax)) << c.zoom[1];
      ASSERT_EQ(c.zoom[1], c.zoom[2]);
      ASSERT_EQ(c.zoom[0], s % 2 == 1 ? 1.0f : c.zoom[1]) << "dummy-2D keeps axis 0";
      below_one[0] += c.brightness < 1, below_one[1] += c.contrast < 1, below_one[2] += c.gamma < 1;
      ++values;
    }
  }
  const double probabilities[7] = {kNoiseProbability,    kBlurProbability,          kBrightnessProbability,
                                   kContrastProbability, kLowResolutionProbability, kInvertedGammaProbability,
                                   kGammaProbability};
  const char* names[7] = {"noise", "blur", "brightness", "contrast", "low resolution", "inverted gamma", "gamma"};
  for (int t = 0; t < 7; ++t) expect_fraction(fired[t], kSamples, probabilities[t], names[t]);
  expect_fraction(blurred, values, kBlurChannelProbability, "blur per channel");
  expect_fraction(resampled, values, kLowResolutionChannelProbability, "low resolution per channel");
  for (int i = 0; i < 3; ++i) expect_fraction(below_one[i], values, 0.5, "BG: half below 1");
  EXPECT_NEAR(sigma_sum / kSamples, 0.05, 0.002);
}

TEST(IntensityDraws, ConsumeAFixedNumberOfWords) {
  const PhiloxKey key = philox_key(11, PhiloxStream::augmentation);
  for (int channels : {1, 2, 3, 5})
    for (std::uint32_t iteration = 0; iteration < 50; ++iteration) {
      PhiloxDraws draws(key, iteration, 3, 0);
      draw_intensity(draws, channels, false);
      const int words = 2 * (kIntensityUniformsPerSample + channels * kIntensityUniformsPerChannel);
      ASSERT_EQ(words % 4, 0);
      // The next word is the first of block words / 4, whatever fired.
      const std::uint32_t next = draws.next_u32();
      EXPECT_EQ(next, philox4x32(PhiloxCounter{iteration, 3, 0, static_cast<std::uint32_t>(words / 4)}, key).v[0]);
    }
}

TEST(IntensityDraws, SameCounterSameParameters) {
  const PhiloxKey key = philox_key(12, PhiloxStream::augmentation);
  PhiloxDraws first(key, 9, 1, 0), second(key, 9, 1, 0), other(key, 9, 2, 0);
  const IntensityParams a = draw_intensity(first, 3, false), b = draw_intensity(second, 3, false),
                        c = draw_intensity(other, 3, false);
  EXPECT_EQ(a.noise_sigma, b.noise_sigma);
  EXPECT_NE(a.noise_sigma, c.noise_sigma);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(a.channels[i].blur_sigma, b.channels[i].blur_sigma);
    EXPECT_EQ(a.channels[i].gamma, b.channels[i].gamma);
  }
  EXPECT_THROW(draw_intensity(first, 0, false), InvalidInput);
}

TEST(IntensityApply, SameIterationSameBytesWhateverTheThreads) {
  const Tensor data = random_crop(Shape{3, 2, 6, 9, 7});
  std::vector<IntensityParams> params;
  for (std::uint32_t b = 0; b < 3; ++b) params.push_back(testing_intensity::all_firing(21, 4, b, 2, b == 1));
  Tensor first = data.to_cpu(), second = data.to_cpu(), later = data.to_cpu();
  apply_intensity(Context::cpu(), first, params, kNoiseKey, 4);
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  apply_intensity(Context::cpu(), second, params, kNoiseKey, 4);
  omp_set_num_threads(threads);
  apply_intensity(Context::cpu(), later, params, kNoiseKey, 5);
  EXPECT_EQ(std::memcmp(first.raw(), second.raw(), first.bytes()), 0);
  EXPECT_NE(std::memcmp(first.raw(), later.raw(), first.bytes()), 0) << "the noise field follows the iteration";
}

TEST(IntensityApply, QuietParametersChangeNothing) {
  const Tensor data = random_crop(Shape{2, 3, 4, 5, 6});
  Tensor out = data.to_cpu();
  apply_intensity(Context::cpu(), out, std::vector<IntensityParams>(2, quiet_params(3)), kNoiseKey, 0);
  EXPECT_EQ(out.to_vector<float>(), data.to_vector<float>());
}

TEST(IntensityApply, RejectsWhatItCannotRun) {
  Tensor data = random_crop(Shape{2, 1, 4, 5, 6});
  const std::vector<IntensityParams> two(2, quiet_params(1));
  EXPECT_ERROR_MENTIONS(apply_intensity(Context::cpu(), data, {quiet_params(1)}, kNoiseKey, 0), "1 parameter sets");
  EXPECT_ERROR_MENTIONS(
      apply_intensity(Context::cpu(), data, std::vector<IntensityParams>(2, quiet_params(2)), kNoiseKey, 0),
      "has 2 channels");
  Tensor wrong = Tensor::from_vector(Shape{2, 1, 4, 5, 6}, std::vector<double>(240, 1.0));
  EXPECT_ERROR_MENTIONS(apply_intensity(Context::cpu(), wrong, two, kNoiseKey, 0), "must be f32 (B, C, X, Y, Z)");
  std::vector<IntensityParams> bad = two;
  bad[1].channels[0].blur_sigma[2] = 1.3f;
  EXPECT_ERROR_MENTIONS(apply_intensity(Context::cpu(), data, bad, kNoiseKey, 0), "params[1].channels[0].blur_sigma");
  bad = two;
  bad[0].channels[0].zoom[1] = 1.5f;
  EXPECT_ERROR_MENTIONS(apply_intensity(Context::cpu(), data, bad, kNoiseKey, 0), "zoom 1.5 must be in (0, 1]");
  bad = two;
  bad[0].channels[0].gamma = 0;
  EXPECT_ERROR_MENTIONS(apply_intensity(Context::cpu(), data, bad, kNoiseKey, 0), ".gamma must be > 0");
  bad = two;
  bad[0].noise_sigma = -1;
  EXPECT_ERROR_MENTIONS(apply_intensity(Context::cpu(), data, bad, kNoiseKey, 0), "noise_sigma");
}

TEST(IntensityApply, AllocatesTheLowResolutionVolumesOnCpuAndMetaAlike) {
  const Shape shape{2, 2, 10, 12, 14};
  std::vector<IntensityParams> params;
  for (std::uint32_t b = 0; b < 2; ++b) params.push_back(testing_intensity::all_firing(3, 1, b, 2, false));
  params[1].channels[1].low_resolution = false;
  const LowResolutionLayout layout = low_resolution_layout(shape, params);
  std::int64_t expected = 0;
  for (std::size_t v = 0; v < 3; ++v) {
    const IntensityChannel& c = params[v / 2].channels[v % 2];
    expected += intensity_low_resolution_size(10, c.zoom[0]) * intensity_low_resolution_size(12, c.zoom[1]) *
                intensity_low_resolution_size(14, c.zoom[2]);
  }
  EXPECT_EQ(layout.total, expected);
  EXPECT_EQ(layout.offsets[3], -1);

  Tensor data = random_crop(shape);
  const std::size_t cpu_peak =
      nnuc::testing::peak_bytes_of(Device::CPU, [&] { apply_intensity(Context::cpu(), data, params, kNoiseKey, 1); });
  auto meta = Context::meta(Device::CPU);
  Tensor meta_data = Tensor::empty(shape, DType::f32, *meta);
  const std::size_t meta_peak =
      nnuc::testing::peak_bytes_of(Device::Meta, [&] { apply_intensity(*meta, meta_data, params, kNoiseKey, 1); });
  EXPECT_EQ(cpu_peak, rounded_allocation_bytes(static_cast<std::size_t>(expected) * sizeof(float)));
  EXPECT_EQ(meta_peak, cpu_peak);
}

}  // namespace
}  // namespace nnuc::augment
