// data/augment/intensity on the CPU: each of steps 4-10 with fixed parameters against a double-
// precision reference written here (blur taps and kernel sizes, reflect border, contrast clipping,
// low-resolution shapes and the nearest-exact rule, gamma restoring mean and std, the noise field),
// and all of them in order.
#include "data/augment/intensity.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "tests/augment/intensity_test_util.h"
#include "tests/support/test_support.h"

namespace nnuc::augment {
namespace {

using testing_intensity::quiet_params;
using testing_intensity::random_crop;

const PhiloxKey kNoiseKey = philox_key(77, PhiloxStream::augment_noise);

// ---- double-precision references, one volume (X, Y, Z) at a time ---------------------------------

struct Ref {
  std::vector<double> x;
  std::int64_t d[3];
  double& at(std::int64_t i, std::int64_t j, std::int64_t k) {
    return x[static_cast<std::size_t>((i * d[1] + j) * d[2] + k)];
  }
};

// Volume `volume` (b * C + c) of a host f32 tensor (B, C, X, Y, Z).
Ref volume_of(const Tensor& data, std::int64_t volume) {
  const Shape& s = data.shape();
  const std::int64_t voxels = s[2] * s[3] * s[4];
  const float* x = data.data<float>() + volume * voxels;
  return Ref{std::vector<double>(x, x + voxels), {s[2], s[3], s[4]}};
}

// Reflection by folding at the end voxels until the index lands inside.
std::int64_t mirror(std::int64_t i, std::int64_t n) {
  if (n == 1) return 0;
  while (i < 0 || i >= n) {
    if (i < 0) i = -i;
    if (i >= n) i = 2 * (n - 1) - i;
  }
  return i;
}

std::vector<double> gaussian_taps(double sigma, int size) {
  std::vector<double> taps(static_cast<std::size_t>(size));
  double sum = 0;
  for (int k = 0; k < size; ++k)
    sum += taps[static_cast<std::size_t>(k)] = std::exp(-0.5 * std::pow((k - size / 2) / sigma, 2));
  for (double& tap : taps) tap /= sum;
  return taps;
}

void blur_reference(Ref& v, int axis, double sigma, int size) {
  const std::vector<double> taps = gaussian_taps(sigma, size);
  Ref out = v;
  for (std::int64_t i = 0; i < v.d[0]; ++i)
    for (std::int64_t j = 0; j < v.d[1]; ++j)
      for (std::int64_t k = 0; k < v.d[2]; ++k) {
        double sum = 0;
        for (int t = 0; t < size; ++t) {
          std::int64_t p[3] = {i, j, k};
          p[axis] = mirror(p[axis] + t - size / 2, v.d[axis]);
          sum += taps[static_cast<std::size_t>(t)] * v.at(p[0], p[1], p[2]);
        }
        out.at(i, j, k) = sum;
      }
  v = out;
}

struct Moments {
  double mean, std, min, max;
};
Moments moments(const std::vector<double>& x) {
  double sum = 0, low = x[0], high = x[0];
  for (double value : x) sum += value, low = std::min(low, value), high = std::max(high, value);
  const double mean = sum / static_cast<double>(x.size());
  double squares = 0;
  for (double value : x) squares += (value - mean) * (value - mean);
  return Moments{mean, std::sqrt(squares / static_cast<double>(x.size() - 1)), low, high};
}

void contrast_reference(Ref& v, double factor) {
  const Moments m = moments(v.x);
  for (double& value : v.x) value = std::clamp((value - m.mean) * factor + m.mean, m.min, m.max);
}

void low_resolution_reference(Ref& v, const std::int64_t down[3]) {
  Ref small{std::vector<double>(static_cast<std::size_t>(down[0] * down[1] * down[2])), {down[0], down[1], down[2]}};
  const auto nearest = [](std::int64_t dst, std::int64_t in, std::int64_t out) {
    return std::min<std::int64_t>(static_cast<std::int64_t>(std::floor((dst + 0.5) * static_cast<double>(in) / out)),
                                  in - 1);
  };
  for (std::int64_t i = 0; i < down[0]; ++i)
    for (std::int64_t j = 0; j < down[1]; ++j)
      for (std::int64_t k = 0; k < down[2]; ++k)
        small.at(i, j, k) = v.at(nearest(i, v.d[0], down[0]), nearest(j, v.d[1], down[1]), nearest(k, v.d[2], down[2]));
  for (std::int64_t i = 0; i < v.d[0]; ++i)
    for (std::int64_t j = 0; j < v.d[1]; ++j)
      for (std::int64_t k = 0; k < v.d[2]; ++k) {
        const std::int64_t dst[3] = {i, j, k};
        std::int64_t lo[3], hi[3];
        double w[3];
        for (int a = 0; a < 3; ++a) {
          const double src = std::max(0.0, (dst[a] + 0.5) * static_cast<double>(down[a]) / v.d[a] - 0.5);
          lo[a] = static_cast<std::int64_t>(std::floor(src));
          hi[a] = std::min(lo[a] + 1, down[a] - 1);
          w[a] = src - static_cast<double>(lo[a]);
        }
        double value = 0;
        for (int corner = 0; corner < 8; ++corner) {
          double weight = 1;
          std::int64_t p[3];
          for (int a = 0; a < 3; ++a) {
            const bool upper = (corner >> a) & 1;
            weight *= upper ? w[a] : 1 - w[a];
            p[a] = upper ? hi[a] : lo[a];
          }
          value += weight * small.at(p[0], p[1], p[2]);
        }
        v.at(i, j, k) = value;
      }
}

void gamma_reference(Ref& v, double gamma, bool inverted) {
  if (inverted)
    for (double& value : v.x) value = -value;
  const Moments m = moments(v.x);
  const double range = m.max - m.min;
  for (double& value : v.x) value = std::pow((value - m.min) / std::max(range, 1e-7), gamma) * range + m.min;
  const Moments after = moments(v.x);
  for (double& value : v.x) value = (value - after.mean) * m.std / std::max(after.std, 1e-7) + m.mean;
  if (inverted)
    for (double& value : v.x) value = -value;
}

// Steps 4-10 of one volume with the sample's parameters.
void reference(Ref& v, const IntensityParams& p, std::uint32_t iteration, std::uint32_t b, std::uint32_t c) {
  const IntensityChannel& ch = p.channels[c];
  if (p.noise)
    for (std::size_t i = 0; i < v.x.size(); ++i)
      v.x[i] += static_cast<double>(p.noise_sigma) * intensity_noise_normal(kNoiseKey, iteration, b, c, i);
  if (p.blurs(static_cast<int>(c)))
    for (int a = 0; a < 3; ++a) blur_reference(v, a, ch.blur_sigma[a], blur_kernel_size(ch.blur_sigma[a]));
  if (p.brightness)
    for (double& value : v.x) value *= ch.brightness;
  if (p.contrast) contrast_reference(v, ch.contrast);
  if (p.resamples(static_cast<int>(c))) {
    std::int64_t down[3];
    for (int a = 0; a < 3; ++a)
      down[a] = std::max<std::int64_t>(1, std::llround(std::nearbyint(v.d[a] * double{ch.zoom[a]})));
    low_resolution_reference(v, down);
  }
  if (p.inverted_gamma) gamma_reference(v, ch.inverted_gamma, true);
  if (p.gamma) gamma_reference(v, ch.gamma, false);
}

// Runs apply_intensity on a copy of `data` and expects every volume to match the reference.
void expect_matches_reference(const Tensor& data, const std::vector<IntensityParams>& params, std::uint32_t iteration,
                              double atol) {
  Tensor out = data.to_cpu();
  apply_intensity(Context::cpu(), out, params, kNoiseKey, iteration);
  const std::int64_t channels = data.dim(1);
  for (std::int64_t volume = 0; volume < data.dim(0) * channels; ++volume) {
    Ref expected = volume_of(data, volume);
    reference(expected, params[static_cast<std::size_t>(volume / channels)], iteration,
              static_cast<std::uint32_t>(volume / channels), static_cast<std::uint32_t>(volume % channels));
    const Ref actual = volume_of(out, volume);
    double worst = 0;
    for (std::size_t i = 0; i < expected.x.size(); ++i) worst = std::max(worst, std::fabs(actual.x[i] - expected.x[i]));
    EXPECT_LE(worst, atol) << "volume " << volume << " of " << data.shape().str();
  }
}

// ---- blur -----------------------------------------------------------------------------------------

TEST(IntensityBlur, KernelSizesAndTaps) {
  const std::vector<std::pair<double, int>> cases = {{0.55, 3}, {0.7, 5},  {0.95, 7}, {0.5, 3}, {0.58, 3},
                                                     {0.59, 5}, {0.91, 5}, {0.92, 7}, {1.0, 7}, {0.01, 1}};
  for (const auto& [sigma, size] : cases) {
    EXPECT_EQ(blur_kernel_size(sigma), size) << "sigma " << sigma;
    const BlurKernel kernel = blur_kernel(sigma);
    ASSERT_EQ(kernel.size, size);
    const std::vector<double> expected = gaussian_taps(sigma, size);
    double sum = 0;
    for (int k = 0; k < size; ++k) {
      EXPECT_NEAR(kernel.taps[k], expected[static_cast<std::size_t>(k)], 1e-7) << "sigma " << sigma << " tap " << k;
      EXPECT_EQ(kernel.taps[k], kernel.taps[size - 1 - k]);
      sum += kernel.taps[k];
    }
    EXPECT_NEAR(sum, 1.0, 1e-6);
  }
  // sigma = 0.7: taps exp(-x^2 / 0.98) for x = -2..2, normalised.
  const double e1 = std::exp(-1 / 0.98), e2 = std::exp(-4 / 0.98), total = 1 + 2 * e1 + 2 * e2;
  EXPECT_NEAR(blur_kernel(0.7).taps[2], 1 / total, 1e-7);
  EXPECT_NEAR(blur_kernel(0.7).taps[0], e2 / total, 1e-7);
  EXPECT_EQ(blur_kernel_size(1.2), 7);
  EXPECT_EQ(blur_kernel_size(1.25), 9);
  EXPECT_THROW(blur_kernel(1.25), InvalidInput);
}

TEST(IntensityBlur, ReflectDoesNotRepeatTheEdge) {
  EXPECT_EQ(intensity_reflect(-1, 5), 1);
  EXPECT_EQ(intensity_reflect(-2, 5), 2);
  EXPECT_EQ(intensity_reflect(5, 5), 3);
  EXPECT_EQ(intensity_reflect(6, 5), 2);
  EXPECT_EQ(intensity_reflect(0, 1), 0);
  EXPECT_EQ(intensity_reflect(-3, 1), 0);
  for (std::int64_t n = 1; n <= 6; ++n)
    for (std::int64_t i = -15; i < n + 15; ++i) EXPECT_EQ(intensity_reflect(i, n), mirror(i, n)) << i << " in " << n;
}

TEST(IntensityBlur, SeparableAlongEveryAxisWithReflectBorder) {
  // Axis lengths below the radius (2, 3) reflect more than once; channel 1 is not blurred.
  for (const Shape& shape : {Shape{2, 2, 6, 7, 9}, Shape{1, 2, 2, 11, 3}, Shape{1, 2, 1, 8, 10}}) {
    const Tensor data = random_crop(shape);
    std::vector<IntensityParams> params(static_cast<std::size_t>(shape[0]), quiet_params(2));
    for (IntensityParams& p : params) {
      p.blur = true;
      p.channels[0].blur = true;
      p.channels[0].blur_sigma = {0.55f, 0.7f, 0.95f};
    }
    params.back().channels[0].blur_sigma = {0.95f, 0.55f, 0.7f};
    expect_matches_reference(data, params, 0, 2e-6);
    Tensor out = data.to_cpu();
    apply_intensity(Context::cpu(), out, params, kNoiseKey, 0);
    const Ref unblurred = volume_of(out, 1), original = volume_of(data, 1);
    EXPECT_EQ(unblurred.x, original.x);
  }
}

// ---- noise, brightness ------------------------------------------------------------------------------

TEST(IntensityNoise, AddsSigmaTimesTheDocumentedField) {
  const Tensor data = random_crop(Shape{2, 2, 5, 6, 7});  // odd voxel count: the last pair is half used
  std::vector<IntensityParams> params(2, quiet_params(2));
  params[0].noise = true;
  params[0].noise_sigma = 0.0625f;
  Tensor out = data.to_cpu();
  apply_intensity(Context::cpu(), out, params, kNoiseKey, 41);
  const float* x = data.data<float>();
  const float* y = out.data<float>();
  for (std::int64_t c = 0; c < 2; ++c)
    for (std::int64_t v = 0; v < 210; ++v) {
      const float expected =
          x[c * 210 + v] + 0.0625f * intensity_noise_normal(kNoiseKey, 41, 0, static_cast<std::uint32_t>(c),
                                                            static_cast<std::uint64_t>(v));
      ASSERT_EQ(y[c * 210 + v], expected) << "channel " << c << " voxel " << v;
    }
  for (std::int64_t i = 420; i < 840; ++i) EXPECT_EQ(y[i], x[i]);  // sample 1: no noise
}

TEST(IntensityNoise, FieldIsStandardNormalAndIndependentPerChannel) {
  constexpr std::uint64_t kVoxels = 1 << 17;
  double sum[2] = {0, 0}, squares[2] = {0, 0}, cross = 0;
  for (std::uint64_t v = 0; v < kVoxels; ++v) {
    const double a = intensity_noise_normal(kNoiseKey, 3, 1, 0, v), b = intensity_noise_normal(kNoiseKey, 3, 1, 1, v);
    sum[0] += a, sum[1] += b, squares[0] += a * a, squares[1] += b * b, cross += a * b;
  }
  const double n = kVoxels, bound = 6 / std::sqrt(n);  // six standard errors
  for (int c = 0; c < 2; ++c) {
    EXPECT_NEAR(sum[c] / n, 0.0, bound);
    EXPECT_NEAR(std::sqrt(squares[c] / n - std::pow(sum[c] / n, 2)), 1.0, bound);
  }
  EXPECT_NEAR(cross / n, 0.0, bound);  // channels do not share the field
  EXPECT_NE(intensity_noise_normal(kNoiseKey, 3, 1, 0, 10), intensity_noise_normal(kNoiseKey, 4, 1, 0, 10));
  EXPECT_NE(intensity_noise_normal(kNoiseKey, 3, 1, 0, 10), intensity_noise_normal(kNoiseKey, 3, 2, 0, 10));
}

TEST(IntensityBrightness, MultipliesEachChannelByItsOwnFactor) {
  const Tensor data = random_crop(Shape{1, 2, 4, 5, 6});
  std::vector<IntensityParams> params(1, quiet_params(2));
  params[0].brightness = true;
  params[0].channels[0].brightness = 0.8f;
  params[0].channels[1].brightness = 1.2f;
  Tensor out = data.to_cpu();
  apply_intensity(Context::cpu(), out, params, kNoiseKey, 0);
  for (std::int64_t i = 0; i < 240; ++i)
    EXPECT_EQ(out.data<float>()[i], data.data<float>()[i] * (i < 120 ? 0.8f : 1.2f));
}

// ---- contrast -------------------------------------------------------------------------------------

TEST(IntensityContrast, MeanCentredAndClippedToTheOriginalRange) {
  const Tensor data = random_crop(Shape{2, 2, 7, 8, 9});
  std::vector<IntensityParams> params(2, quiet_params(2));
  const float factors[4] = {1.25f, 0.75f, 1.1f, 0.9f};
  for (int i = 0; i < 4; ++i) {
    params[static_cast<std::size_t>(i / 2)].contrast = true;
    params[static_cast<std::size_t>(i / 2)].channels[static_cast<std::size_t>(i % 2)].contrast = factors[i];
  }
  expect_matches_reference(data, params, 0, 2e-6);
  // A factor > 1 pushes the extremes out: they are clipped back, so min and max stay and are attained.
  Tensor out = data.to_cpu();
  apply_intensity(Context::cpu(), out, params, kNoiseKey, 0);
  const Moments before = moments(volume_of(data, 0).x), after = moments(volume_of(out, 0).x);
  EXPECT_EQ(after.min, before.min);
  EXPECT_EQ(after.max, before.max);
  std::int64_t clipped = 0;
  for (double value : volume_of(out, 0).x) clipped += value == before.min || value == before.max;
  EXPECT_GT(clipped, 2);
}

// ---- low resolution -------------------------------------------------------------------------------

TEST(IntensityLowResolution, ShapesRoundHalfToEven) {
  EXPECT_EQ(intensity_low_resolution_size(10, 0.5f), 5);
  EXPECT_EQ(intensity_low_resolution_size(5, 0.5f), 2);  // 2.5 -> 2
  EXPECT_EQ(intensity_low_resolution_size(7, 0.5f), 4);  // 3.5 -> 4
  EXPECT_EQ(intensity_low_resolution_size(3, 0.5f), 2);  // 1.5 -> 2
  EXPECT_EQ(intensity_low_resolution_size(1, 0.5f), 1);  // 0.5 -> 0, at least 1
  EXPECT_EQ(intensity_low_resolution_size(1, 0.7f), 1);
  EXPECT_EQ(intensity_low_resolution_size(64, 0.8f), 51);  // 51.2
  EXPECT_EQ(intensity_low_resolution_size(64, 1.0f), 64);
}

TEST(IntensityLowResolution, NearestExactIndexRule) {
  // torch nearest-exact: 10 -> 5 picks 1, 3, 5, 7, 9; 7 -> 4 picks 0, 2, 4, 6.
  const std::vector<std::int64_t> ten_to_five = {1, 3, 5, 7, 9}, seven_to_four = {0, 2, 4, 6};
  for (std::int64_t i = 0; i < 5; ++i)
    EXPECT_EQ(intensity_nearest_source(i, 10, 5), ten_to_five[static_cast<std::size_t>(i)]);
  for (std::int64_t i = 0; i < 4; ++i)
    EXPECT_EQ(intensity_nearest_source(i, 7, 4), seven_to_four[static_cast<std::size_t>(i)]);
  for (std::int64_t in = 1; in <= 40; ++in)
    for (std::int64_t out = 1; out <= in; ++out)
      for (std::int64_t dst = 0; dst < out; ++dst) {
        const auto expected =
            std::min<std::int64_t>(in - 1, static_cast<std::int64_t>(std::floor((dst + 0.5) * in / out)));
        ASSERT_EQ(intensity_nearest_source(dst, in, out), expected) << dst << " of " << in << " -> " << out;
      }
}

TEST(IntensityLowResolution, DownNearestUpLinear) {
  const Tensor data = random_crop(Shape{2, 2, 9, 10, 11});
  std::vector<IntensityParams> params(2, quiet_params(2));
  params[0].low_resolution = params[1].low_resolution = true;
  params[0].channels[0].low_resolution = true;
  params[0].channels[0].zoom = {0.5f, 0.6f, 0.77f};
  params[1].channels[1].low_resolution = true;
  params[1].channels[1].zoom = {1.0f, 0.55f, 0.55f};  // dummy-2D: axis 0 kept
  // f32 source positions (scale = in / out rounded) shift the weights by up to ~1e-6 against exact ones.
  expect_matches_reference(data, params, 0, 1e-5);
}

TEST(IntensityLowResolution, ZoomOneIsTheIdentity) {
  const Tensor data = random_crop(Shape{1, 1, 4, 5, 6});
  std::vector<IntensityParams> params(1, quiet_params(1));
  params[0].low_resolution = params[0].channels[0].low_resolution = true;
  Tensor out = data.to_cpu();
  apply_intensity(Context::cpu(), out, params, kNoiseKey, 0);
  EXPECT_EQ(out.to_vector<float>(), data.to_vector<float>());
}

// ---- gamma ----------------------------------------------------------------------------------------

TEST(IntensityGamma, PowerOfTheRescaledValuesRestoresMeanAndStd) {
  const Tensor data = random_crop(Shape{2, 2, 6, 7, 8});
  std::vector<IntensityParams> params(2, quiet_params(2));
  params[0].gamma = true;  // sample 0: gamma; sample 1: inverted gamma
  params[1].inverted_gamma = true;
  params[0].channels[0].gamma = 0.7f;
  params[0].channels[1].gamma = 1.5f;
  params[1].channels[0].inverted_gamma = 0.8f;
  params[1].channels[1].inverted_gamma = 1.3f;
  expect_matches_reference(data, params, 0, 1e-5);
  Tensor out = data.to_cpu();
  apply_intensity(Context::cpu(), out, params, kNoiseKey, 0);
  for (std::int64_t volume = 0; volume < 4; ++volume) {
    const Moments before = moments(volume_of(data, volume).x), after = moments(volume_of(out, volume).x);
    EXPECT_NEAR(after.mean, before.mean, 1e-5) << volume;
    EXPECT_NEAR(after.std, before.std, 1e-5) << volume;
    const Ref changed = volume_of(out, volume), original = volume_of(data, volume);
    double most = 0;
    for (std::size_t i = 0; i < original.x.size(); ++i) most = std::max(most, std::fabs(changed.x[i] - original.x[i]));
    EXPECT_GT(most, 1e-2) << "volume " << volume << " unchanged";
  }
}

TEST(IntensityGamma, ConstantChannelStaysFinite) {
  Tensor data = Tensor::from_vector(Shape{1, 1, 2, 2, 2}, std::vector<float>(8, 1.5f));
  std::vector<IntensityParams> params(1, quiet_params(1));
  params[0].gamma = params[0].inverted_gamma = params[0].contrast = true;
  params[0].channels[0].gamma = 0.7f;
  params[0].channels[0].contrast = 1.2f;
  apply_intensity(Context::cpu(), data, params, kNoiseKey, 0);
  for (float value : data.to_vector<float>()) EXPECT_EQ(value, 1.5f);
}

// ---- steps 4-10 together --------------------------------------------------------------------------

TEST(IntensityPipeline, AllStepsInOrderMatchTheReference) {
  for (const auto& [shape, dummy_2d] : {std::pair{Shape{2, 2, 7, 9, 8}, false}, std::pair{Shape{2, 1, 3, 12, 10}, true},
                                        std::pair{Shape{3, 2, 1, 13, 11}, false}}) {
    const Tensor data = random_crop(shape);
    std::vector<IntensityParams> params;
    for (std::int64_t b = 0; b < shape[0]; ++b)
      params.push_back(testing_intensity::all_firing(nnuc::testing::test_seed(), 5, static_cast<std::uint32_t>(b),
                                                     static_cast<int>(shape[1]), dummy_2d));
    expect_matches_reference(data, params, 5, 1e-4);
  }
}

}  // namespace
}  // namespace nnuc::augment
