// data/augment augment.h on the CPU: the configuration of a plan (§7.2, A.4, deep-supervision
// shapes), the statistics of the per-sample draws, determinism in (seed, iteration), the training
// pipeline as the composition of its steps, and the validation targets (nearest-exact deep
// supervision, regions, channels-last data).
#include "data/augment/augment.h"

#include <cmath>
#include <cstring>

#include "kernels/layout/resize_nearest.h"
#include "tests/augment/pipeline_test_util.h"
#include "tests/support/test_support.h"

namespace nnuc::augment {
namespace {

using namespace testing_pipeline;

const Context& cpu_ctx = Context::cpu();

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw(), b.raw(), a.bytes()) == 0;
}

Shape crop_shape(std::int64_t batch, std::int64_t channels, const Triple& extent) {
  return Shape{batch, channels, extent[0], extent[1], extent[2]};
}

TEST(AugmentConfig, RotationDummy2dAndMirrorAxesFollowSection72) {
  const RotationAndMirroring volumetric = rotation_and_mirroring({128, 128, 128});
  EXPECT_FALSE(volumetric.dummy_2d);
  EXPECT_NEAR(volumetric.rotation[0], kPi / 6, 1e-12);
  EXPECT_EQ(volumetric.mirror_axes, (std::vector<int>{0, 1, 2}));
  const RotationAndMirroring anisotropic = rotation_and_mirroring({20, 320, 256});
  EXPECT_TRUE(anisotropic.dummy_2d);
  EXPECT_NEAR(anisotropic.rotation[0], kPi, 1e-12);
  const RotationAndMirroring square = rotation_and_mirroring({512, 512});
  EXPECT_NEAR(square.rotation[0], kPi, 1e-12);
  EXPECT_EQ(square.mirror_axes, (std::vector<int>{1, 2}));  // 2-D axes (0, 1) of (1, p1, p2)
  EXPECT_NEAR(rotation_and_mirroring({320, 160}).rotation[0], 15 * kPi / 180, 1e-12);
}

TEST(AugmentConfig, EnlargedPatchAndTargetShapes) {
  const AugmentConfig cube = make_augment_config({128, 128, 128}, 1, {false},
                                                 {{1, 1, 1}, {2, 2, 2}, {2, 2, 2}, {2, 2, 2}, {2, 2, 2}, {2, 2, 2}});
  EXPECT_EQ(cube.patch_load, (Triple{205, 205, 205}));  // Appendix A.4
  ASSERT_EQ(cube.target_shapes.size(), 5u);
  EXPECT_EQ(cube.target_shapes[0], (Triple{128, 128, 128}));
  EXPECT_EQ(cube.target_shapes[4], (Triple{8, 8, 8}));
  const AugmentConfig dummy = make_augment_config({20, 320, 256}, 2, {true, false}, {});
  EXPECT_TRUE(dummy.dummy_2d && dummy.planar());
  EXPECT_EQ(dummy.patch_load, (Triple{20, 376, 376}));
  ASSERT_EQ(dummy.target_shapes.size(), 1u);  // no deep supervision
  const AugmentConfig flat = make_augment_config({512, 512}, 1, {false}, {{1, 1}, {2, 2}, {2, 2}});
  EXPECT_TRUE(flat.is_2d && flat.planar());
  EXPECT_EQ(flat.patch, (Triple{1, 512, 512}));
  EXPECT_EQ(flat.patch_load, (Triple{1, 602, 602}));
  EXPECT_EQ(flat.target_shapes, (std::vector<Triple>{{1, 512, 512}, {1, 256, 256}}));
  // round(extent · scale) half to even: 5 / 2 -> 2, 7 / 2 -> 4.
  const AugmentConfig odd = make_augment_config({5, 6, 7}, 1, {false}, {{1, 1, 1}, {2, 2, 2}, {2, 2, 2}});
  EXPECT_EQ(odd.target_shapes, (std::vector<Triple>{{5, 6, 7}, {2, 3, 4}}));
  EXPECT_ERROR_MENTIONS(make_augment_config({64, 64, 64}, 2, {false}, {}), "use_mask_for_norm");
  EXPECT_ERROR_MENTIONS(make_augment_config({64, 64}, 1, {false}, {{1, 1, 1}, {2, 2, 2}}), "pool strides");
}

TEST(AugmentDraws, ProbabilitiesAndRangesOverManyDraws) {
  const AugmentConfig config = make_augment_config({64, 64, 64}, 2, {false, false}, {});
  const AugmentConfig planar = make_augment_config({12, 96, 96}, 1, {false}, {});  // dummy-2D, ±180°
  ASSERT_TRUE(planar.dummy_2d);
  constexpr int kDraws = 6000;
  int rotated = 0, scaled = 0, both = 0, mirrored[3] = {0, 0, 0};
  for (int i = 0; i < kDraws; ++i) {
    const SampleParams p =
        draw_sample(config, 42, static_cast<std::uint32_t>(i / 4), static_cast<std::uint32_t>(i % 4));
    rotated += p.spatial.rotated;
    scaled += p.spatial.scaled;
    both += p.spatial.rotated && p.spatial.scaled;
    for (int axis = 0; axis < 3; ++axis) mirrored[axis] += (p.mirror >> axis) & 1u;
    if (p.spatial.scaled) {
      ASSERT_GE(p.spatial.scale, 0.7);
      ASSERT_LT(p.spatial.scale, 1.4);
    } else {
      ASSERT_EQ(p.spatial.scale, 1.0);
    }
    for (double angle : p.spatial.angles) {
      ASSERT_LE(std::fabs(angle), kPi / 6 + 1e-12);
      if (!p.spatial.rotated) {
        ASSERT_EQ(angle, 0.0);
      }
    }
    const SampleParams q = draw_sample(planar, 42, static_cast<std::uint32_t>(i), 0);
    ASSERT_LE(std::fabs(q.spatial.angles[0]), kPi);
    ASSERT_EQ(q.spatial.angles[1], 0.0);
    ASSERT_EQ(q.spatial.angles[2], 0.0);
    ASSERT_EQ(q.intensity.channels[0].zoom[0], 1.0f);  // dummy-2D keeps axis 0 in step 8
  }
  // 5 standard deviations of a binomial proportion: sqrt(p (1 − p) / n).
  const auto near = [](int count, double p) {
    return std::fabs(count / static_cast<double>(kDraws) - p) < 5 * std::sqrt(p * (1 - p) / kDraws);
  };
  EXPECT_TRUE(near(rotated, 0.2)) << rotated;
  EXPECT_TRUE(near(scaled, 0.2)) << scaled;
  EXPECT_TRUE(near(both, 0.04)) << both;  // independent
  for (int axis = 0; axis < 3; ++axis) EXPECT_TRUE(near(mirrored[axis], 0.5)) << axis << ": " << mirrored[axis];
}

TEST(AugmentDraws, OrderIsSpatialIntensityMirrorCascade) {
  const AugmentConfig config = make_augment_config({16, 16, 16}, 2, {false, false}, {}, {1, 2});
  for (std::uint32_t element = 0; element < 8; ++element) {
    const SampleParams sample = draw_sample(config, 77, 3, element);
    PhiloxDraws draws(philox_key(77, PhiloxStream::augmentation), 3, element, 0);
    const SpatialParams spatial = draw_spatial(draws, config.rotation, false);
    const IntensityParams intensity = draw_intensity(draws, 2, false);
    unsigned mirror = 0;
    for (int axis = 0; axis < 3; ++axis)
      if (draws.bernoulli(kMirrorProbability)) mirror |= 1u << axis;
    const CascadeParams cascade = draw_cascade(draws, 2);
    EXPECT_EQ(sample.spatial.rotated, spatial.rotated);
    EXPECT_EQ(sample.spatial.angles, spatial.angles);
    EXPECT_EQ(sample.spatial.scale, spatial.scale);
    EXPECT_EQ(sample.intensity.noise_sigma, intensity.noise_sigma);
    EXPECT_EQ(sample.intensity.channels[1].gamma, intensity.channels[1].gamma);
    EXPECT_EQ(sample.mirror, mirror);
    ASSERT_EQ(sample.cascade.morphology.size(), cascade.morphology.size());
    for (std::size_t i = 0; i < cascade.morphology.size(); ++i)
      EXPECT_EQ(sample.cascade.morphology[i].radius, cascade.morphology[i].radius);
    EXPECT_EQ(sample.cascade.binary_operator, cascade.binary_operator);
  }
}

TEST(AugmentDraws, TwoDimensionalConfigurationsMirrorOnlyInPlane) {
  const AugmentConfig config = make_augment_config({40, 56}, 1, {false}, {});
  unsigned seen = 0;
  for (std::uint32_t i = 0; i < 64; ++i) seen |= draw_sample(config, 7, i, 0).mirror;
  EXPECT_EQ(seen, kMirror1 | kMirror2);
}

// A small 3-D configuration whose crops the CPU augments in milliseconds.
AugmentConfig small_config(bool cascade, bool regions) {
  return make_augment_config({6, 8, 10}, 2, {true, false}, {{1, 1, 1}, {2, 2, 2}, {2, 2, 2}},
                             cascade ? std::vector<int>{1, 3} : std::vector<int>{},
                             regions ? std::vector<std::vector<int>>{{1, 2, 3}, {3}} : std::vector<std::vector<int>>{},
                             regions ? std::optional<int>(4) : std::nullopt);
}

TEST(AugmentBatch, SameSeedAndIterationGiveIdenticalBytes) {
  const AugmentConfig config = small_config(true, true);
  const Tensor data = testing::random_uniform(crop_shape(3, 2, config.patch_load), DType::f32);
  const Tensor seg = random_labels_in(crop_shape(3, 2, config.patch_load), -1, 4);
  const AugmentedBatch a = augment_batch(cpu_ctx, data, seg, config, 99, 5, true, DType::f32);
  const AugmentedBatch b = augment_batch(cpu_ctx, data, seg, config, 99, 5, true, DType::f32);
  ASSERT_EQ(a.targets.size(), 2u);
  EXPECT_TRUE(same_bytes(a.data, b.data));
  for (std::size_t i = 0; i < a.targets.size(); ++i) EXPECT_TRUE(same_bytes(a.targets[i], b.targets[i])) << i;
  // Another iteration draws other parameters (noise and mirrors at least) and so other bytes.
  const AugmentedBatch c = augment_batch(cpu_ctx, data, seg, config, 99, 6, true, DType::f32);
  EXPECT_FALSE(same_bytes(a.data, c.data));
}

TEST(AugmentBatch, TrainingIsTheCompositionOfItsSteps) {
  for (const bool cascade : {false, true}) {
    const AugmentConfig config = small_config(cascade, false);
    const std::int64_t batch = 3;
    const Tensor data = testing::random_uniform(crop_shape(batch, 2, config.patch_load), DType::f32);
    const Tensor seg = random_labels_in(crop_shape(batch, config.seg_channels(), config.patch_load), -1, 3);
    const Tensor data_before = data.copy_to(cpu_ctx), seg_before = seg.copy_to(cpu_ctx);
    const std::uint64_t seed = 1234;
    const std::uint32_t iteration = 17;
    const AugmentedBatch out = augment_batch(cpu_ctx, data, seg, config, seed, iteration, true, DType::f32);
    EXPECT_TRUE(same_bytes(data, data_before) && same_bytes(seg, seg_before)) << "inputs modified";

    std::vector<SpatialParams> spatial;
    std::vector<IntensityParams> intensity;
    std::vector<unsigned> mirror;
    std::vector<CascadeParams> perturb;
    for (std::uint32_t b = 0; b < batch; ++b) {
      const SampleParams p = draw_sample(config, seed, iteration, b);
      spatial.push_back(p.spatial);
      intensity.push_back(p.intensity);
      mirror.push_back(p.mirror);
      perturb.push_back(p.cascade);
    }
    SpatialResult step2 = spatial_transform(cpu_ctx, data, seg, spatial, config.patch, config.planar());
    apply_intensity(cpu_ctx, step2.data, intensity, philox_key(seed, PhiloxStream::augment_noise), iteration);
    Tensor image = mirror_samples(cpu_ctx, step2.data, mirror);
    const Tensor labels = mirror_samples(cpu_ctx, step2.seg, mirror);
    mask_image(cpu_ctx, image, labels, config.mask_channels);
    const std::vector<Tensor> split = remove_label(cpu_ctx, labels);
    if (cascade) image = cascade_inputs(cpu_ctx, image, split[1], config.foreground_labels, &perturb);
    EXPECT_TRUE(same_bytes(out.data, to_channels_last(cpu_ctx, image, DType::f32)));
    const Tensor target = split[0].reshape(Shape{batch, 6, 8, 10, 1});
    ASSERT_EQ(out.targets.size(), 2u);
    EXPECT_TRUE(same_bytes(out.targets[0], target));
    EXPECT_TRUE(same_bytes(out.targets[1], resize_nearest_exact(cpu_ctx, target, {3, 4, 5})));
    EXPECT_EQ(out.data.shape(), (Shape{batch, 6, 8, 10, cascade ? 4 : 2}));
  }
}

TEST(AugmentBatch, PlanarConfigurationsRunEndToEnd) {
  for (const std::vector<std::int64_t>& patch : {std::vector<std::int64_t>{12, 16}, {4, 20, 24}}) {
    const AugmentConfig config = make_augment_config(patch, 1, {true}, {});
    ASSERT_TRUE(config.planar());
    const Tensor data = testing::random_uniform(crop_shape(2, 1, config.patch_load), DType::f32);
    const Tensor seg = random_labels_in(crop_shape(2, 1, config.patch_load), -1, 2);
    for (std::uint32_t iteration = 0; iteration < 4; ++iteration) {
      const AugmentedBatch out = augment_batch(cpu_ctx, data, seg, config, 3, iteration, true, DType::f32);
      EXPECT_EQ(out.data.shape(), (Shape{2, config.patch[0], config.patch[1], config.patch[2], 1}));
      for (std::int16_t label : out.targets[0].to_vector<std::int16_t>()) ASSERT_TRUE(label >= 0 && label <= 2);
    }
  }
}

TEST(AugmentBatch, ValidationTargetsAreNearestExactAndChannelsLast) {
  const AugmentConfig config = small_config(true, false);
  const std::int64_t batch = 2;
  const Tensor data = testing::random_uniform(crop_shape(batch, 2, config.patch), DType::f32);
  const Tensor seg = random_labels_in(crop_shape(batch, 2, config.patch), -1, 3);
  const AugmentedBatch out = augment_batch(cpu_ctx, data, seg, config, 0, 0, false, DType::f32);
  const std::int64_t X = 6, Y = 8, Z = 10, V = X * Y * Z;
  ASSERT_EQ(out.data.shape(), (Shape{batch, X, Y, Z, 4}));
  ASSERT_EQ(out.targets.size(), 2u);
  ASSERT_EQ(out.targets[1].shape(), (Shape{batch, 3, 4, 5, 1}));
  const auto label = [&](std::int64_t b, std::int64_t s, std::int64_t v) {
    const std::int16_t value = seg.data<std::int16_t>()[(b * 2 + s) * V + v];
    return value == -1 ? 0 : value;
  };
  for (std::int64_t b = 0; b < batch; ++b)
    for (std::int64_t v = 0; v < V; ++v) {
      // No masking in validation: the image channels pass through; then the one-hot of labels 1, 3.
      for (std::int64_t c = 0; c < 2; ++c)
        ASSERT_EQ(out.data.data<float>()[(b * V + v) * 4 + c], data.data<float>()[(b * 2 + c) * V + v]);
      ASSERT_EQ(out.data.data<float>()[(b * V + v) * 4 + 2], label(b, 1, v) == 1 ? 1.0f : 0.0f);
      ASSERT_EQ(out.data.data<float>()[(b * V + v) * 4 + 3], label(b, 1, v) == 3 ? 1.0f : 0.0f);
      ASSERT_EQ(out.targets[0].data<std::int16_t>()[b * V + v], label(b, 0, v));
    }
  for (std::int64_t b = 0; b < batch; ++b)
    for (std::int64_t x = 0; x < 3; ++x)
      for (std::int64_t y = 0; y < 4; ++y)
        for (std::int64_t z = 0; z < 5; ++z) {
          const std::int64_t source =
              (nearest_exact_source_index(x, X, 3) * Y + nearest_exact_source_index(y, Y, 4)) * Z +
              nearest_exact_source_index(z, Z, 5);
          ASSERT_EQ(out.targets[1].data<std::int16_t>()[((b * 3 + x) * 4 + y) * 5 + z], label(b, 0, source));
        }
}

TEST(AugmentBatch, RegionTargetsAtEveryScale) {
  const AugmentConfig config = small_config(false, true);
  const Tensor data = testing::random_uniform(crop_shape(2, 2, config.patch), DType::f32);
  const Tensor seg = random_labels_in(crop_shape(2, 1, config.patch), -1, 4);
  const AugmentedBatch out = augment_batch(cpu_ctx, data, seg, config, 0, 0, false, DType::f32);
  ASSERT_EQ(out.targets.size(), 2u);
  for (const Tensor& target : out.targets) {
    ASSERT_EQ(target.dtype(), DType::u8);
    ASSERT_EQ(target.dim(4), 3);  // regions {1, 2, 3}, {3}, then ignore (4)
  }
  const Tensor labels = remove_label(cpu_ctx, seg)[0].reshape(Shape{2, 6, 8, 10, 1});
  EXPECT_TRUE(same_bytes(out.targets[0], labels_to_regions(cpu_ctx, labels, config.regions, 4)));
  EXPECT_TRUE(same_bytes(
      out.targets[1], labels_to_regions(cpu_ctx, resize_nearest_exact(cpu_ctx, labels, {3, 4, 5}), config.regions, 4)));
}

TEST(AugmentBatch, MetaGivesTheShapesWithoutComputing) {
  const AugmentConfig config = small_config(true, true);
  auto meta = Context::meta(Device::CPU);
  const Tensor data = Tensor::empty(crop_shape(2, 2, config.patch_load), DType::f32, *meta);
  const Tensor seg = Tensor::empty(crop_shape(2, 2, config.patch_load), DType::i16, *meta);
  const AugmentedBatch out = augment_batch(*meta, data, seg, config, 1, 2, true, DType::f32);
  EXPECT_EQ(out.data.shape(), (Shape{2, 6, 8, 10, 4}));
  ASSERT_EQ(out.targets.size(), 2u);
  EXPECT_EQ(out.targets[1].shape(), (Shape{2, 3, 4, 5, 3}));
  EXPECT_EQ(out.targets[1].dtype(), DType::u8);
}

TEST(AugmentBatch, RejectsCropsOfTheWrongSize) {
  const AugmentConfig config = small_config(false, false);
  const Tensor data = testing::random_uniform(crop_shape(1, 2, config.patch), DType::f32);
  const Tensor seg = random_labels_in(crop_shape(1, 1, config.patch), 0, 2);
  EXPECT_ERROR_MENTIONS(augment_batch(cpu_ctx, data, seg, config, 0, 0, true, DType::f32), "P_load");
  const Tensor two_channel_seg = random_labels_in(crop_shape(1, 2, config.patch), 0, 2);
  EXPECT_ERROR_MENTIONS(augment_batch(cpu_ctx, data, two_channel_seg, config, 0, 0, false, DType::f32), "seg must be");
  EXPECT_ERROR_MENTIONS(augment_batch(cpu_ctx, data, seg, config, 0, 0, false, DType::bf16), "bf16 on CUDA");
}

}  // namespace
}  // namespace nnuc::augment
