// The pipeline of augment.h: configuration from a plan, per-sample draws, and augment_batch.
#include "data/augment/augment.h"

#include <string>

#include "data/loader/patch.h"
#include "kernels/core/nvtx.h"
#include "kernels/elementwise/dispatch.h"
#include "kernels/layout/resize_nearest.h"

namespace nnuc::augment {

namespace {

std::string triple(const std::array<std::int64_t, 3>& t) {
  return "(" + std::to_string(t[0]) + ", " + std::to_string(t[1]) + ", " + std::to_string(t[2]) + ")";
}

// (p1, p2) -> (1, p1, p2); (p0, p1, p2) unchanged.
std::array<std::int64_t, 3> as_triple(const std::vector<std::int64_t>& values, const char* what) {
  NNUC_CHECK(values.size() == 2 || values.size() == 3, "make_augment_config: ", what, " must have 2 or 3 values, got ",
             values.size());
  if (values.size() == 2) return {1, values[0], values[1]};
  return {values[0], values[1], values[2]};
}

unsigned mirror_mask_bit(int axis) { return 1u << axis; }

}  // namespace

RotationAndMirroring rotation_and_mirroring(const std::vector<std::int64_t>& patch) {
  const data::AugmentationGeometry geometry = data::rotation_and_dummy_2d(patch);
  RotationAndMirroring out;
  out.rotation = geometry.rotation_range;
  out.dummy_2d = geometry.dummy_2d;
  // The loader numbers a 2-D patch's axes (0, 1); here they are axes 1, 2 of (1, p1, p2).
  for (int axis : geometry.mirror_axes) out.mirror_axes.push_back(patch.size() == 2 ? axis + 1 : axis);
  return out;
}

AugmentConfig make_augment_config(const std::vector<std::int64_t>& patch, int input_channels,
                                  const std::vector<bool>& use_mask_for_norm,
                                  const std::vector<std::vector<std::int64_t>>& pool_strides,
                                  const std::vector<int>& foreground_labels,
                                  const std::vector<std::vector<int>>& regions, std::optional<int> ignore_label) {
  AugmentConfig config;
  config.patch = as_triple(patch, "patch");
  config.is_2d = patch.size() == 2;
  const RotationAndMirroring geometry = rotation_and_mirroring(patch);
  config.rotation = geometry.rotation;
  config.dummy_2d = geometry.dummy_2d;
  config.mirror_axes = geometry.mirror_axes;
  config.patch_load =
      as_triple(data::enlarged_patch_size(patch, geometry.rotation, geometry.dummy_2d), "enlarged patch");
  config.input_channels = input_channels;
  config.mask_channels = use_mask_for_norm;
  config.foreground_labels = foreground_labels;
  config.regions = regions;
  config.ignore_label = ignore_label;
  // Deep supervision: scales 1 / cumprod(strides) of every stage but the last.
  std::array<double, 3> cumulative{1, 1, 1};
  for (std::size_t stage = 0; stage + 1 < pool_strides.size(); ++stage) {
    const std::array<std::int64_t, 3> strides = as_triple(pool_strides[stage], "pool strides");
    NNUC_CHECK(pool_strides[stage].size() == patch.size(), "make_augment_config: pool strides of stage ", stage,
               " have ", pool_strides[stage].size(), " values for a patch of ", patch.size());
    std::array<std::int64_t, 3> shape{};
    for (int d = 0; d < 3; ++d) {
      NNUC_CHECK(strides[d] >= 1, "make_augment_config: pool stride ", strides[d], " of stage ", stage,
                 " must be >= 1");
      cumulative[d] *= static_cast<double>(strides[d]);
      shape[d] = deep_supervision_extent(config.patch[d], 1.0 / cumulative[d]);
    }
    config.target_shapes.push_back(shape);
  }
  if (config.target_shapes.empty()) config.target_shapes.push_back(config.patch);
  validate_config(config);
  return config;
}

void validate_config(const AugmentConfig& c) {
  for (int d = 0; d < 3; ++d) {
    NNUC_CHECK(c.patch[d] >= 1 && c.patch_load[d] >= c.patch[d], "AugmentConfig: patch ", triple(c.patch),
               " and patch_load ", triple(c.patch_load), " must be >= 1 with patch_load >= patch");
    NNUC_CHECK(c.rotation[d] >= 0, "AugmentConfig: rotation range ", c.rotation[d], " on axis ", d, " must be >= 0");
  }
  NNUC_CHECK(!c.is_2d || (c.patch[0] == 1 && c.patch_load[0] == 1 && !c.dummy_2d),
             "AugmentConfig: a 2-D configuration has patch (1, p1, p2) and no dummy-2D, got ", triple(c.patch));
  NNUC_CHECK(!c.planar() || c.patch_load[0] == c.patch[0], "AugmentConfig: a planar transform keeps axis 0, but patch ",
             triple(c.patch), " and patch_load ", triple(c.patch_load), " differ there");
  for (int axis : c.mirror_axes)
    NNUC_CHECK(axis >= (c.is_2d ? 1 : 0) && axis <= 2, "AugmentConfig: mirror axis ", axis, " is not a spatial axis",
               c.is_2d ? " of a 2-D configuration (1, 2)" : " (0, 1, 2)");
  NNUC_CHECK(c.input_channels >= 1 && c.mask_channels.size() == static_cast<std::size_t>(c.input_channels),
             "AugmentConfig: ", c.mask_channels.size(), " use_mask_for_norm flags for ", c.input_channels,
             " input channels (one per channel expected)");
  for (int label : c.foreground_labels)
    NNUC_CHECK(label >= 1, "AugmentConfig: cascade foreground label ", label, " must be >= 1");
  NNUC_CHECK(!c.ignore_label || *c.ignore_label >= 0, "AugmentConfig: ignore label ", c.ignore_label.value_or(0),
             " must be >= 0");
  NNUC_CHECK(!c.target_shapes.empty(), "AugmentConfig: at least one target shape (the patch) expected");
  for (const auto& shape : c.target_shapes)
    for (int d = 0; d < 3; ++d)
      NNUC_CHECK(shape[d] >= 1 && shape[d] <= c.patch[d], "AugmentConfig: target shape ", triple(shape),
                 " must lie within the patch ", triple(c.patch));
}

SampleParams draw_sample(const AugmentConfig& config, std::uint64_t seed, std::uint32_t iteration,
                         std::uint32_t element) {
  PhiloxDraws draws(philox_key(seed, PhiloxStream::augmentation), iteration, element, 0);
  SampleParams sample;
  sample.spatial = draw_spatial(draws, config.rotation, config.planar());
  sample.intensity = draw_intensity(draws, config.input_channels, config.dummy_2d);
  for (int axis : config.mirror_axes)
    if (draws.bernoulli(kMirrorProbability)) sample.mirror |= mirror_mask_bit(axis);
  if (!config.foreground_labels.empty())
    sample.cascade = draw_cascade(draws, static_cast<int>(config.foreground_labels.size()));
  return sample;
}

AugmentedBatch augment_batch(const Context& ctx, const Tensor& data, const Tensor& seg, const AugmentConfig& config,
                             std::uint64_t seed, std::uint32_t iteration, bool training, DType out_dtype,
                             std::uint32_t first_element) {
  NNUC_RANGE("augment_batch");
  validate_config(config);
  nnuc::detail::check_operand(data, ctx, "augment_batch", "data");
  nnuc::detail::check_operand(seg, ctx, "augment_batch", "seg");
  check_dtype(data, DType::f32, "augment_batch: data");
  check_dtype(seg, DType::i16, "augment_batch: seg");
  const std::array<std::int64_t, 3>& crop = training ? config.patch_load : config.patch;
  const Shape data_shape{data.dim(0), config.input_channels, crop[0], crop[1], crop[2]};
  const Shape seg_shape{data.dim(0), config.seg_channels(), crop[0], crop[1], crop[2]};
  NNUC_CHECK(data.rank() == 5 && data.dim(0) >= 1 && data.shape() == data_shape, "augment_batch: data must be ",
             data_shape.str(), " (", training ? "the training crop P_load" : "the plan patch", "), got ",
             data.describe());
  NNUC_CHECK(seg.rank() == 5 && seg.shape() == seg_shape, "augment_batch: seg must be ", seg_shape.str(), ", got ",
             seg.describe());
  const std::int64_t batch = data.dim(0);

  Tensor image = data;  // (B, C, X, Y, Z) f32
  Tensor labels = seg;  // (B, S, X, Y, Z) i16
  std::vector<CascadeParams> cascade_params;
  if (training) {
    std::vector<SpatialParams> spatial;
    std::vector<IntensityParams> intensity;
    std::vector<unsigned> mirror;
    bool any_mirror = false;
    for (std::int64_t b = 0; b < batch; ++b) {
      const SampleParams sample = draw_sample(config, seed, iteration, first_element + static_cast<std::uint32_t>(b));
      spatial.push_back(sample.spatial);
      intensity.push_back(sample.intensity);
      mirror.push_back(sample.mirror);
      any_mirror = any_mirror || sample.mirror != 0;
      cascade_params.push_back(sample.cascade);
    }
    SpatialResult transformed = spatial_transform(ctx, data, seg, spatial, config.patch, config.planar());
    apply_intensity(ctx, transformed.data, intensity, philox_key(seed, PhiloxStream::augment_noise), iteration);
    image = any_mirror ? mirror_samples(ctx, transformed.data, mirror) : transformed.data;
    labels = any_mirror ? mirror_samples(ctx, transformed.seg, mirror) : transformed.seg;
  }

  // Step 12 (training only: nnU-Net's validation transforms do not mask) on the pipeline's own copy.
  if (training) mask_image(ctx, image, labels, config.mask_channels);
  const std::vector<Tensor> seg_channels = remove_label(ctx, labels);  // S x (B, 1, X, Y, Z)
  if (!config.foreground_labels.empty())
    image = cascade_inputs(ctx, image, seg_channels[1], config.foreground_labels, training ? &cascade_params : nullptr);

  AugmentedBatch out;
  out.data = to_channels_last(ctx, image, out_dtype);
  const Tensor target = seg_channels[0].reshape(Shape{batch, config.patch[0], config.patch[1], config.patch[2], 1});
  for (const std::array<std::int64_t, 3>& shape : config.target_shapes) {
    Tensor scaled = shape == config.patch ? target : resize_nearest_exact(ctx, target, shape);
    if (!config.regions.empty()) scaled = labels_to_regions(ctx, scaled, config.regions, config.ignore_label);
    out.targets.push_back(scaled);
  }
  return out;
}

}  // namespace nnuc::augment
