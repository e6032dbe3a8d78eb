// The sliding-window predictor on the CPU (spec §8.3): tile starts and the Gaussian importance map
// against Appendix A.5 and independent exact references; predict_sliding_window on small random U-Nets
// against a float64 reference written here the plain way (pad, loop over tiles, forward every mirrored
// tile, weight, divide, crop, average the folds); 2d configurations, images smaller than the patch,
// mirroring on and off, several folds; the OutOfMemory fallbacks give the same bits as the normal path.
#include "nn/predict/sliding_window.h"

#include <cmath>
#include <memory>
#include <random>

#include "kernels/core/allocator.h"
#include "kernels/window/window.h"
#include "tests/support/test_support.h"

namespace nnuc::nn {
namespace {

const Context& cpu_ctx = Context::cpu();

// ---- references --------------------------------------------------------------------------------

// Starts with exact integer arithmetic; step = step_num / step_den.
std::vector<std::int64_t> reference_starts(std::int64_t S, std::int64_t P, std::int64_t step_num,
                                           std::int64_t step_den) {
  const std::int64_t num = (S - P) * step_den, den = P * step_num;  // (S - P) / (P * step)
  const std::int64_t n = (num + den - 1) / den + 1;
  if (n == 1) return {0};
  std::vector<std::int64_t> starts;
  for (std::int64_t k = 0; k < n; ++k) {
    const std::int64_t a = k * (S - P), b = n - 1, q = a / b, r = a % b;
    starts.push_back(2 * r > b || (2 * r == b && q % 2 == 1) ? q + 1 : q);  // round half to even
  }
  return starts;
}

// The fp16 value nearest to v >= 0 (ties to the even significand), found among the neighbours of the
// host conversion of (float)v.
double nearest_f16(double v) {
  const f16 guess = float_to_f16(static_cast<float>(v));
  double best = f16_to_float(guess);
  for (int delta : {-1, 1}) {
    if (guess.bits == 0 && delta < 0) continue;
    const f16 other{static_cast<std::uint16_t>(guess.bits + delta)};
    const double candidate = f16_to_float(other);
    const double d_best = std::fabs(best - v), d_other = std::fabs(candidate - v);
    if (d_other < d_best || (d_other == d_best && (other.bits & 1) == 0)) best = candidate;
  }
  return best;
}

std::vector<double> reference_gaussian(const TileSize& tile, std::int64_t* zeros = nullptr) {
  std::vector<double> map;
  for (std::int64_t x0 = 0; x0 < tile[0]; ++x0)
    for (std::int64_t x1 = 0; x1 < tile[1]; ++x1)
      for (std::int64_t x2 = 0; x2 < tile[2]; ++x2) {
        double exponent = 0;
        const std::int64_t x[3] = {x0, x1, x2};
        for (int a = 0; a < 3; ++a) {
          const double sigma = tile[a] / 8.0, d = double(x[a] - tile[a] / 2);
          exponent += d * d / (2 * sigma * sigma);
        }
        map.push_back(nearest_f16(10 * std::exp(-exponent)));
      }
  double smallest = INFINITY;
  for (double v : map)
    if (v > 0) smallest = std::min(smallest, v);
  std::int64_t count = 0;
  for (double& v : map)
    if (v == 0) v = smallest, ++count;
  if (zeros) *zeros = count;
  return map;
}

// The folds' f32 networks and their float64 twins holding the same weights.
struct Folds {
  std::vector<std::unique_ptr<UNet>> f32, f64;
  std::vector<UNet*> networks() const {
    std::vector<UNet*> out;
    for (const auto& n : f32) out.push_back(n.get());
    return out;
  }
};

Folds make_folds(UNetConfig config, int count) {
  config.deep_supervision = false;
  Folds folds;
  for (int f = 0; f < count; ++f) {
    const std::uint64_t seed = testing::rng()();
    folds.f32.push_back(std::make_unique<UNet>(cpu_ctx, config, DType::f32, seed));
    folds.f64.push_back(std::make_unique<UNet>(cpu_ctx, config, DType::f64, seed));
    std::vector<NamedParameter> a = folds.f32.back()->parameters(), b = folds.f64.back()->parameters();
    for (std::size_t i = 0; i < a.size(); ++i) {
      Tensor target = b[i].var->value();
      target.copy_from(testing::as_f64(a[i].var->value()), cpu_ctx);
    }
  }
  return folds;
}

UNetConfig small_config(bool two_d, int channels, int classes) {
  UNetConfig config;
  config.input_channels = channels;
  config.num_classes = classes;
  config.features_per_stage = {4, 6, 8};
  const Triple k = two_d ? Triple{1, 3, 3} : Triple{3, 3, 3}, s = two_d ? Triple{1, 2, 2} : Triple{2, 2, 2};
  config.kernel_sizes = {k, k, k};
  config.strides = {Triple{1, 1, 1}, s, s};
  config.n_conv_per_stage = {1, 1, 1};
  config.n_conv_per_stage_decoder = {1, 1};
  return config;
}

// Channels-last tile (1, t0, t1, t2, C) of the padded f64 image (C, s0, s1, s2), mirrored by `mask`.
Tensor reference_tile(const std::vector<double>& padded, const std::array<std::int64_t, 3>& size, std::int64_t C,
                      const TileOrigin& at, const TileSize& t, unsigned mask) {
  std::vector<double> out;
  for (std::int64_t x0 = 0; x0 < t[0]; ++x0)
    for (std::int64_t x1 = 0; x1 < t[1]; ++x1)
      for (std::int64_t x2 = 0; x2 < t[2]; ++x2)
        for (std::int64_t c = 0; c < C; ++c) {
          const std::int64_t v0 = at[0] + ((mask & 1) ? t[0] - 1 - x0 : x0);
          const std::int64_t v1 = at[1] + ((mask & 2) ? t[1] - 1 - x1 : x1);
          const std::int64_t v2 = at[2] + ((mask & 4) ? t[2] - 1 - x2 : x2);
          out.push_back(padded[static_cast<std::size_t>(((c * size[0] + v0) * size[1] + v1) * size[2] + v2)]);
        }
  return Tensor::from_vector(Shape{1, t[0], t[1], t[2], C}, out);
}

// nnU-Net's predict_sliding_window_return_logits in float64, averaged over the folds: f64 (K, b0, b1, b2).
Tensor reference_prediction(const Folds& folds, const Tensor& image, const SlidingWindowOptions& options) {
  const std::int64_t C = image.dim(0), K = folds.f64[0]->config().num_classes;
  const TileSize t = options.patch;
  std::array<std::int64_t, 3> size{}, before{};
  for (int a = 0; a < 3; ++a) {
    const std::int64_t pad = (options.is_2d && a == 0) ? 0 : std::max<std::int64_t>(t[a] - image.dim(a + 1), 0);
    size[a] = image.dim(a + 1) + pad;
    before[a] = pad / 2;
  }
  const std::vector<double> in = image.to_vector<double>();
  std::vector<double> padded(static_cast<std::size_t>(C * size[0] * size[1] * size[2]), 0.0);
  for (std::int64_t c = 0; c < C; ++c)
    for (std::int64_t v0 = 0; v0 < image.dim(1); ++v0)
      for (std::int64_t v1 = 0; v1 < image.dim(2); ++v1)
        for (std::int64_t v2 = 0; v2 < image.dim(3); ++v2)
          padded[static_cast<std::size_t>(((c * size[0] + v0 + before[0]) * size[1] + v1 + before[1]) * size[2] + v2 +
                                          before[2])] =
              in[static_cast<std::size_t>(((c * image.dim(1) + v0) * image.dim(2) + v1) * image.dim(3) + v2)];
  const auto step_den = std::int64_t{1} << 20;
  const auto step_num = static_cast<std::int64_t>(std::llround(options.step_size * double(step_den)));
  std::array<std::vector<std::int64_t>, 3> starts;
  for (int a = 0; a < 3; ++a) {
    if (options.is_2d && a == 0) {
      for (std::int64_t d = 0; d < size[0]; ++d) starts[0].push_back(d);
    } else {
      starts[a] = reference_starts(size[a], t[a], step_num, step_den);
    }
  }
  unsigned allowed = 0;
  if (options.use_mirroring)
    for (int axis : options.mirror_axes) allowed |= 1u << (options.is_2d ? axis + 1 : axis);
  const std::vector<double> g = reference_gaussian(t);
  const std::int64_t voxels = size[0] * size[1] * size[2];
  std::vector<double> mean(static_cast<std::size_t>(K * image.dim(1) * image.dim(2) * image.dim(3)), 0.0);
  for (const auto& network : folds.f64) {
    std::vector<double> acc(static_cast<std::size_t>(K * voxels), 0.0), w(static_cast<std::size_t>(voxels), 0.0);
    Tape tape(cpu_ctx);
    tape.set_recording(false);
    for (std::int64_t s0 : starts[0])
      for (std::int64_t s1 : starts[1])
        for (std::int64_t s2 : starts[2]) {
          const TileOrigin at{s0, s1, s2};
          std::vector<double> y(static_cast<std::size_t>(t[0] * t[1] * t[2] * K), 0.0);
          int mirrorings = 0;
          for (unsigned mask = 0; mask < 8; ++mask) {
            if ((mask & ~allowed) != 0) continue;
            ++mirrorings;
            const Tensor x = reference_tile(padded, size, C, at, t, mask);
            const std::vector<double> out = network->forward(tape, Var(x))[0].value().to_vector<double>();
            for (std::int64_t x0 = 0; x0 < t[0]; ++x0)
              for (std::int64_t x1 = 0; x1 < t[1]; ++x1)
                for (std::int64_t x2 = 0; x2 < t[2]; ++x2) {
                  const std::int64_t m0 = (mask & 1) ? t[0] - 1 - x0 : x0, m1 = (mask & 2) ? t[1] - 1 - x1 : x1,
                                     m2 = (mask & 4) ? t[2] - 1 - x2 : x2;
                  for (std::int64_t k = 0; k < K; ++k)
                    y[static_cast<std::size_t>(((x0 * t[1] + x1) * t[2] + x2) * K + k)] +=
                        out[static_cast<std::size_t>(((m0 * t[1] + m1) * t[2] + m2) * K + k)];
                }
          }
          for (std::int64_t x0 = 0; x0 < t[0]; ++x0)
            for (std::int64_t x1 = 0; x1 < t[1]; ++x1)
              for (std::int64_t x2 = 0; x2 < t[2]; ++x2) {
                const std::int64_t x = (x0 * t[1] + x1) * t[2] + x2;
                const std::int64_t v = ((s0 + x0) * size[1] + s1 + x1) * size[2] + s2 + x2;
                for (std::int64_t k = 0; k < K; ++k)
                  acc[static_cast<std::size_t>(k * voxels + v)] +=
                      y[static_cast<std::size_t>(x * K + k)] / mirrorings * g[static_cast<std::size_t>(x)];
                w[static_cast<std::size_t>(v)] += g[static_cast<std::size_t>(x)];
              }
        }
    std::size_t i = 0;
    for (std::int64_t k = 0; k < K; ++k)
      for (std::int64_t v0 = before[0]; v0 < before[0] + image.dim(1); ++v0)
        for (std::int64_t v1 = before[1]; v1 < before[1] + image.dim(2); ++v1)
          for (std::int64_t v2 = before[2]; v2 < before[2] + image.dim(3); ++v2, ++i) {
            const std::int64_t v = (v0 * size[1] + v1) * size[2] + v2;
            mean[i] += acc[static_cast<std::size_t>(k * voxels + v)] / w[static_cast<std::size_t>(v)] /
                       double(folds.f64.size());
          }
  }
  return Tensor::from_vector(Shape{K, image.dim(1), image.dim(2), image.dim(3)}, mean);
}

// |actual - expected| <= 1e-4 max|expected| + 1e-4 |expected|: f32 networks against their f64 twins.
void expect_matches_reference(const Tensor& actual, const Tensor& expected) {
  double largest = 0;
  for (double v : expected.to_vector<double>()) largest = std::max(largest, std::fabs(v));
  EXPECT_TRUE(testing::all_close(actual, expected, 1e-4 * largest, 1e-4));
}

// ---- tile starts and Gaussian map --------------------------------------------------------------

TEST(SlidingWindow, StartsOfAppendixA5) {
  EXPECT_EQ(sliding_window_starts(110, 64, 0.5), (std::vector<std::int64_t>{0, 23, 46}));
  EXPECT_EQ(sliding_window_starts(128, 128, 0.5), (std::vector<std::int64_t>{0}));
  EXPECT_EQ(sliding_window_starts(300, 128, 0.5), (std::vector<std::int64_t>{0, 57, 115, 172}));
  EXPECT_EQ(sliding_window_starts(161, 64, 0.5), (std::vector<std::int64_t>{0, 24, 48, 73, 97}));
}

// Brute force over sizes, tiles and steps against the exact formula round_half_even(k (S - P) / (n - 1)).
// The one deliberate difference: like nnU-Net (numpy: np.round(actual_step_size * k)), the start is
// rounded from the double product ((S - P) / (n - 1)) * k, which can land an ulp off an exact tie:
// S = 68, P = 5 gives 63 / 26 * 13 = 31.499999999999996 -> 31 (nnU-Net's start), not 31.5 -> 32.
TEST(SlidingWindow, StartsMatchTheExactFormula) {
  struct Step {
    double value;
    std::int64_t num, den;
  };
  std::int64_t ties_off_by_an_ulp = 0;
  for (const Step& step : {Step{0.5, 1, 2}, Step{0.25, 1, 4}, Step{1.0, 1, 1}, Step{0.75, 3, 4}, Step{0.125, 1, 8}})
    for (std::int64_t P = 1; P <= 80; ++P)
      for (std::int64_t S = P; S <= P + 400; ++S) {
        const std::vector<std::int64_t> starts = sliding_window_starts(S, P, step.value);
        const std::vector<std::int64_t> exact = reference_starts(S, P, step.num, step.den);
        ASSERT_EQ(starts.size(), exact.size()) << "S " << S << " P " << P << " step " << step.value;
        const auto intervals = static_cast<std::int64_t>(exact.size()) - 1;
        for (std::size_t k = 0; k < exact.size(); ++k) {
          if (starts[k] == exact[k]) continue;
          // Only at an exact tie k (S - P) / (n - 1) = m + 1/2, and then numpy's rounding of the double product.
          const auto twice = 2 * static_cast<std::int64_t>(k) * (S - P);
          ASSERT_TRUE(twice % intervals == 0 && (twice / intervals) % 2 == 1)
              << "S " << S << " P " << P << " step " << step.value << " k " << k;
          const double product = double(S - P) / double(intervals) * double(k);
          ASSERT_EQ(starts[k], static_cast<std::int64_t>(std::nearbyint(product)));
          ASSERT_EQ(std::abs(starts[k] - exact[k]), 1);
          ++ties_off_by_an_ulp;
        }
        ASSERT_EQ(starts.front(), 0);
        ASSERT_EQ(starts.back(), S - P);
        for (std::size_t k = 1; k < starts.size(); ++k)
          ASSERT_LE(starts[k] - starts[k - 1], static_cast<std::int64_t>(std::ceil(P * step.value)));
      }
  EXPECT_GT(ties_off_by_an_ulp, 0);  // 566 of the ~160 000 axes above hit such a tie
  EXPECT_EQ(sliding_window_starts(68, 5, 0.5)[13], 31);
  EXPECT_ERROR_MENTIONS(sliding_window_starts(10, 12, 0.5), "smaller than the tile");
  EXPECT_ERROR_MENTIONS(sliding_window_starts(10, 4, 0.0), "step size");
}

TEST(SlidingWindow, GaussianOfAppendixA5) {
  const std::vector<float> g = gaussian_importance_map({1, 8, 8}).to_vector<float>();
  auto at = [&](int i, int j) { return double(g[static_cast<std::size_t>(i * 8 + j)]); };
  EXPECT_EQ(at(4, 4), 10.0);
  EXPECT_NEAR(at(4, 3), 6.06531, 2e-3);  // within half an fp16 step (2^-8 at 4 .. 8)
  EXPECT_NEAR(at(3, 3), 3.67879, 1e-3);
  EXPECT_NEAR(at(0, 4), 0.00335, 1e-5);              // A.5 rounds 10 e^-8 = 0.0033546 to 0.00335
  EXPECT_NEAR(at(0, 4), 10 * std::exp(-8.0), 1e-6);  // half an fp16 step (2^-19 at 2^-9 .. 2^-8)
  EXPECT_NEAR(at(0, 0), 1.1e-6, 6e-8);

  const Tensor big = gaussian_importance_map({40, 56, 40});
  std::int64_t zeros = 0;
  const std::vector<double> expected = reference_gaussian({40, 56, 40}, &zeros);
  EXPECT_EQ(zeros, 411);
  const std::vector<float> values = big.to_vector<float>();
  const float smallest = *std::min_element(values.begin(), values.end());
  EXPECT_NEAR(smallest, 6e-8, 1e-9);
  EXPECT_EQ(smallest, f16_to_float(f16{1}));  // the smallest positive fp16 value
  EXPECT_EQ(values[0], smallest);             // corner: 10 e^-24 ~ 3.8e-10 -> 0 in fp16 -> replaced
}

TEST(SlidingWindow, GaussianEqualsAnFp16RoundedFloat64Reference) {
  for (const TileSize& tile : {TileSize{40, 56, 40}, TileSize{1, 8, 8}, TileSize{5, 7, 9}, TileSize{1, 1, 1},
                               TileSize{2, 3, 128}, TileSize{1, 512, 512}}) {
    const std::vector<float> actual = gaussian_importance_map(tile).to_vector<float>();
    const std::vector<double> expected = reference_gaussian(tile);
    ASSERT_EQ(actual.size(), expected.size());
    for (std::size_t i = 0; i < actual.size(); ++i)
      ASSERT_EQ(double(actual[i]), expected[i])
          << "tile " << tile[0] << "x" << tile[1] << "x" << tile[2] << " at " << i;
  }
}

// ---- predict_sliding_window --------------------------------------------------------------------

struct Case {
  const char* name;
  bool two_d;
  Shape image;  // (C, b0, b1, b2)
  TileSize patch;
  std::vector<int> mirror_axes;
  bool mirroring;
  int folds;
  int tile_batch;
  double step;
};

TEST(SlidingWindow, MatchesTheFloat64Reference) {
  const Case cases[] = {
      {"3d, all mirrorings, odd tile batch", false, Shape{2, 13, 17, 10}, {8, 8, 8}, {0, 1, 2}, true, 1, 3, 0.5},
      {"3d, smaller than the patch", false, Shape{1, 5, 19, 6}, {8, 12, 8}, {0, 2}, true, 1, 0, 0.5},
      {"3d, two folds, no mirroring", false, Shape{1, 11, 9, 16}, {8, 8, 8}, {0, 1, 2}, false, 2, 2, 0.5},
      {"3d, step 0.75, one axis", false, Shape{1, 9, 14, 12}, {4, 8, 8}, {1}, true, 1, 4, 0.75},
      {"2d, both axes", true, Shape{2, 3, 21, 10}, {1, 12, 8}, {0, 1}, true, 1, 5, 0.5},
      {"2d, smaller than the patch, two folds", true, Shape{1, 2, 6, 13}, {1, 8, 8}, {1}, true, 2, 0, 0.5},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const int classes = 3;
    const Folds folds = make_folds(small_config(c.two_d, static_cast<int>(c.image[0]), classes), c.folds);
    const Tensor image = testing::random_uniform(c.image, DType::f32, -2, 2);
    SlidingWindowOptions options;
    options.patch = c.patch;
    options.is_2d = c.two_d;
    options.step_size = c.step;
    options.use_mirroring = c.mirroring;
    options.mirror_axes = c.mirror_axes;
    options.tile_batch = c.tile_batch;
    SlidingWindowStats stats;
    std::vector<std::pair<std::int64_t, std::int64_t>> calls;
    const Tensor logits =
        predict_sliding_window(cpu_ctx, folds.networks(), image, options, &stats,
                               [&](std::int64_t done, std::int64_t total) { calls.emplace_back(done, total); });
    ASSERT_EQ(logits.shape(), (Shape{classes, c.image[1], c.image[2], c.image[3]}));
    EXPECT_EQ(logits.device(), Device::CPU);
    expect_matches_reference(logits, reference_prediction(folds, image, options));

    const std::int64_t variants = c.mirroring ? std::int64_t{1} << c.mirror_axes.size() : 1;
    ASSERT_GE(stats.final_tile_batch, 1);
    if (c.tile_batch > 0) {
      EXPECT_EQ(stats.final_tile_batch, std::min<std::int64_t>(c.tile_batch, stats.tiles));
    }
    const std::int64_t calls_per_fold = (stats.tiles + stats.final_tile_batch - 1) / stats.final_tile_batch;
    EXPECT_EQ(stats.network_calls, calls_per_fold * variants * c.folds);
    EXPECT_FALSE(stats.fell_back_to_host);
    ASSERT_FALSE(calls.empty());
    EXPECT_EQ(calls.back(), std::make_pair(stats.tiles * c.folds, stats.tiles * c.folds));
    for (std::size_t i = 1; i < calls.size(); ++i) EXPECT_GT(calls[i].first, calls[i - 1].first);
  }
}

TEST(SlidingWindow, TileCountsFollowTheStarts) {
  const Folds folds = make_folds(small_config(true, 1, 2), 1);
  SlidingWindowOptions options;
  options.patch = {1, 8, 8};
  options.is_2d = true;
  options.use_mirroring = false;
  SlidingWindowStats stats;
  predict_sliding_window(cpu_ctx, folds.networks(), testing::random_uniform(Shape{1, 3, 13, 8}, DType::f32), options,
                         &stats);
  EXPECT_EQ(stats.tiles, 3 * 3 * 1);  // 3 slices x starts(13, 8) = [0, 2, 5] x [0]
}

// The automatic tile batch on the CPU: small tiles go 4 to a call (memory allows it here), a tile of
// 64^3 voxels (2^18) or more goes alone.
TEST(SlidingWindow, AutomaticCpuTileBatchIsOneFrom64CubedVoxels) {
  const Folds folds = make_folds(small_config(false, 1, 2), 1);
  SlidingWindowOptions options;
  options.use_mirroring = false;
  SlidingWindowStats stats;
  options.patch = {8, 8, 8};
  predict_sliding_window(cpu_ctx, folds.networks(), testing::random_uniform(Shape{1, 16, 16, 12}, DType::f32), options,
                         &stats);
  EXPECT_EQ(stats.tiles, 18);
  EXPECT_EQ(stats.final_tile_batch, 4);
  options.patch = {32, 64, 128};  // 2^18 voxels
  predict_sliding_window(cpu_ctx, folds.networks(), testing::random_uniform(Shape{1, 32, 64, 192}, DType::f32), options,
                         &stats);
  EXPECT_EQ(stats.tiles, 2);
  EXPECT_EQ(stats.final_tile_batch, 1);
  options.patch = {16, 64, 128};  // 2^17 voxels: two to a call
  predict_sliding_window(cpu_ctx, folds.networks(), testing::random_uniform(Shape{1, 16, 64, 192}, DType::f32), options,
                         &stats);
  EXPECT_EQ(stats.final_tile_batch, 2);
}

// The tile batch does not change a bit: every tile's forward is independent of its batch, and the
// tiles are accumulated in the same order.
TEST(SlidingWindow, TileBatchChangesNoBit) {
  const Folds folds = make_folds(small_config(false, 1, 2), 1);
  const Tensor image = testing::random_uniform(Shape{1, 12, 16, 9}, DType::f32);
  SlidingWindowOptions options;
  options.patch = {8, 8, 8};
  options.mirror_axes = {0, 1, 2};
  options.tile_batch = 1;
  const std::vector<float> one = predict_sliding_window(cpu_ctx, folds.networks(), image, options).to_vector<float>();
  options.tile_batch = 5;
  EXPECT_EQ(predict_sliding_window(cpu_ctx, folds.networks(), image, options).to_vector<float>(), one);
}

// Forced OutOfMemory in the middle of the first network's tiles (the allocator's failure injection,
// armed from the progress callback, after the first batch): the accumulation moves to the host, then
// the tile batch halves; the result keeps every bit.
TEST(SlidingWindow, OutOfMemoryFallbacksGiveTheSameBits) {
  const Folds folds = make_folds(small_config(false, 1, 3), 2);
  const Tensor image = testing::random_uniform(Shape{1, 16, 16, 12}, DType::f32);  // 3 x 3 x 2 = 18 tiles
  SlidingWindowOptions options;
  options.patch = {8, 8, 8};
  options.mirror_axes = {0, 2};
  options.tile_batch = 4;
  SlidingWindowStats normal_stats;
  const std::vector<float> normal =
      predict_sliding_window(cpu_ctx, folds.networks(), image, options, &normal_stats).to_vector<float>();
  EXPECT_FALSE(normal_stats.fell_back_to_host);
  EXPECT_EQ(normal_stats.final_tile_batch, 4);

  Allocator& allocator = allocator_for(Device::CPU);
  // Each OutOfMemory takes two injected failures (the allocator retries once after releasing its cache).
  for (int out_of_memories : {1, 2, 3}) {
    SCOPED_TRACE(out_of_memories);
    bool armed = false;
    auto inject = [&](std::int64_t done, std::int64_t) {
      if (armed || done != 4) return;
      armed = true;
      allocator.release_cached();  // the next allocation needs a new block
      allocator.fail_next_allocations(2 * out_of_memories);
    };
    SlidingWindowStats stats;
    const std::vector<float> forced =
        predict_sliding_window(cpu_ctx, folds.networks(), image, options, &stats, inject).to_vector<float>();
    EXPECT_TRUE(armed);
    EXPECT_TRUE(stats.fell_back_to_host);
    EXPECT_EQ(stats.final_tile_batch, out_of_memories == 1 ? 4 : out_of_memories == 2 ? 2 : 1);
    EXPECT_EQ(forced, normal);
  }
  // A fourth OutOfMemory at tile batch 1 propagates.
  bool armed = false;
  auto inject = [&](std::int64_t done, std::int64_t) {
    if (armed || done != 4) return;
    armed = true;
    allocator.release_cached();
    allocator.fail_next_allocations(8);
  };
  EXPECT_THROW(predict_sliding_window(cpu_ctx, folds.networks(), image, options, nullptr, inject), OutOfMemory);
  allocator.fail_next_allocations(0);

  // Starting on the host with tile batch 1 gives the same bits too.
  options.accumulate_on_device = false;
  options.tile_batch = 1;
  EXPECT_EQ(predict_sliding_window(cpu_ctx, folds.networks(), image, options).to_vector<float>(), normal);
}

TEST(SlidingWindow, NonFiniteLogitsAreAnError) {
  const Folds folds = make_folds(small_config(false, 1, 2), 1);
  std::vector<NamedParameter> parameters = folds.f32[0]->parameters();
  Tensor bias = parameters.back().var->value();  // the head's bias
  bias.copy_from(Tensor::from_vector(bias.shape(), std::vector<float>(static_cast<std::size_t>(bias.numel()), NAN)),
                 cpu_ctx);
  SlidingWindowOptions options;
  options.patch = {8, 8, 8};
  options.mirror_axes = {0};
  try {
    predict_sliding_window(cpu_ctx, folds.networks(), testing::random_uniform(Shape{1, 8, 9, 8}, DType::f32), options);
    ADD_FAILURE() << "no error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("non-finite"), std::string::npos) << error.what();
  }
}

TEST(SlidingWindow, ArgumentErrorsNameTheProblem) {
  Folds folds = make_folds(small_config(false, 1, 2), 1);
  const Tensor image = testing::random_uniform(Shape{1, 8, 8, 8}, DType::f32);
  SlidingWindowOptions options;
  options.patch = {8, 8, 8};
  options.mirror_axes = {0, 3};
  EXPECT_ERROR_MENTIONS(predict_sliding_window(cpu_ctx, folds.networks(), image, options), "mirror axis 3");
  options.mirror_axes = {1, 1};
  EXPECT_ERROR_MENTIONS(predict_sliding_window(cpu_ctx, folds.networks(), image, options), "given twice");
  options.mirror_axes = {0};
  options.activations = DType::bf16;
  EXPECT_ERROR_MENTIONS(predict_sliding_window(cpu_ctx, folds.networks(), image, options), "f32 on the CPU");
  options.activations = DType::f32;
  options.is_2d = true;
  EXPECT_ERROR_MENTIONS(predict_sliding_window(cpu_ctx, folds.networks(), image, options), "(1, p1, p2)");
  options.is_2d = false;
  EXPECT_ERROR_MENTIONS(predict_sliding_window(cpu_ctx, folds.networks(),
                                               testing::random_uniform(Shape{2, 8, 8, 8}, DType::f32), options),
                        "input channels");
  folds.f32[0]->set_deep_supervision(true);
  EXPECT_ERROR_MENTIONS(predict_sliding_window(cpu_ctx, folds.networks(), image, options), "deep supervision");
  folds.f32[0]->set_deep_supervision(false);
  options.patch = {6, 8, 8};  // not divisible by the total stride 4
  EXPECT_ERROR_MENTIONS(predict_sliding_window(cpu_ctx, folds.networks(), image, options), "total stride");
}

}  // namespace
}  // namespace nnuc::nn
