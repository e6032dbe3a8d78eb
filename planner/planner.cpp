#include "planner/planner.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "data/preprocess/normalization.h"
#include "data/preprocess/numpy_stats.h"
#include "kernels/core/error.h"
#include "planner/numeric.h"

namespace nnuc::planner {

namespace {

constexpr double kLowresCreationThreshold = 0.25;  // fullres patch below 25 % of the median volume
constexpr double kLowresSpacingIncrease = 1.03;    // per step of the lowres search
constexpr int kMaxLowresSteps = 100000;

std::vector<double> as_doubles(const std::vector<std::int64_t>& values) {
  return std::vector<double>(values.begin(), values.end());
}

NetworkTopology make_topology(const ConfigurationContext& context, const PoolAndConvProps& props, int dim) {
  return network_topology_for(*context.preset, *context.dataset, props, dim);
}

std::string data_identifier(const PlannerPreset& preset, const std::string& plans_name,
                            const std::string& configuration) {
  if (preset.share_default_data_identifiers && (configuration == "2d" || configuration == "3d_fullres")) {
    return "nnUNetPlans_" + configuration;
  }
  return plans_name + "_" + configuration;
}

template <typename T, std::size_t N>
std::vector<T> transposed(const std::array<T, N>& values, const std::array<int, 3>& order) {
  std::vector<T> out;
  for (int axis : order) out.push_back(values[static_cast<std::size_t>(axis)]);
  return out;
}

}  // namespace

NetworkTopology network_topology_for(const PlannerPreset& preset, const data::DatasetJson& dataset,
                                     const PoolAndConvProps& props, int dim) {
  const int stages = props.n_stages();
  NNUC_CHECK(stages <= static_cast<int>(preset.blocks_per_stage_encoder.size()) &&
                 stages - 1 <= static_cast<int>(preset.conv_per_stage_decoder.size()),
             "planner preset ", preset.planner_name, ": the topology has ", stages, " stages but the preset lists ",
             preset.blocks_per_stage_encoder.size(), " encoder and ", preset.conv_per_stage_decoder.size(),
             " decoder stage entries");
  NetworkTopology t;
  t.network_class = preset.network_class;
  t.dim = dim;
  t.input_channels = static_cast<int>(dataset.channel_names.size());
  t.output_channels = dataset.num_segmentation_heads();
  // nnU-Net's feature-map estimate counts every entry of "labels" (background and ignore included).
  t.estimate_output_channels = static_cast<int>(dataset.labels.size());
  t.features_per_stage =
      features_per_stage(stages, preset.base_features, dim == 2 ? preset.max_features_2d : preset.max_features_3d);
  t.kernel_sizes = props.kernel_sizes;
  t.strides = props.strides;
  t.blocks_per_stage.assign(preset.blocks_per_stage_encoder.begin(), preset.blocks_per_stage_encoder.begin() + stages);
  t.conv_per_stage_decoder.assign(preset.conv_per_stage_decoder.begin(),
                                  preset.conv_per_stage_decoder.begin() + (stages - 1));
  return t;
}

PoolAndConvProps shrink_patch_step(const std::vector<double>& spacing, const std::vector<double>& median_shape,
                                   const PoolAndConvProps& current, int min_feature_map_size) {
  const std::size_t dim = spacing.size();
  NNUC_CHECK(median_shape.size() == dim && current.patch_size.size() == dim &&
                 current.shape_must_be_divisible_by.size() == dim,
             "shrink_patch_step: spacing, median shape and patch need ", dim, " entries each");
  const std::vector<std::int64_t>& patch = current.patch_size;
  // Shrink the axis whose patch is largest relative to the median shape (the last one on ties).
  std::vector<double> ratios(dim);
  for (std::size_t d = 0; d < dim; ++d) ratios[d] = static_cast<double>(patch[d]) / median_shape[d];
  const std::size_t axis = argmax_last(ratios);
  // Subtract the divisor of the reduced patch (not the current one) so that no valid size is skipped.
  std::vector<double> reduced = as_doubles(patch);
  reduced[axis] -= static_cast<double>(current.shape_must_be_divisible_by[axis]);
  NNUC_CHECK(reduced[axis] > 0.0, "the patch ", nlohmann::json(patch).dump(), " cannot shrink further along axis ",
             axis);
  const PoolAndConvProps reduced_props = get_pool_and_conv_props(spacing, reduced, min_feature_map_size);
  std::vector<double> next = as_doubles(patch);
  next[axis] -= static_cast<double>(reduced_props.shape_must_be_divisible_by[axis]);
  return get_pool_and_conv_props(spacing, next, min_feature_map_size);
}

ConfigurationPlan plan_configuration(const ConfigurationContext& context, const std::vector<double>& spacing,
                                     const std::vector<double>& median_shape, bool median_is_integer,
                                     const std::string& data_identifier_name, double approximate_n_voxels_dataset) {
  NNUC_CHECK(context.dataset && context.fingerprint && context.preset && context.memory_model,
             "plan_configuration: the context lacks the dataset, fingerprint, preset or memory model");
  const int dim = static_cast<int>(spacing.size());
  NNUC_CHECK(dim == 2 || dim == 3, "plan_configuration: spacing has ", dim, " entries, expected 2 or 3");
  NNUC_CHECK(median_shape.size() == spacing.size(), "plan_configuration: median shape has ", median_shape.size(),
             " entries, spacing has ", dim);
  for (int d = 0; d < dim; ++d) {
    NNUC_CHECK(spacing[d] > 0.0, "plan_configuration: spacing[", d, "] = ", spacing[d], ", expected > 0");
    NNUC_CHECK(median_shape[d] > 0.0, "plan_configuration: median shape[", d, "] = ", median_shape[d],
               ", expected > 0 voxels");
  }
  const PlannerPreset& preset = *context.preset;
  const MemoryModel& model = *context.memory_model;
  const int min_fmap = preset.min_feature_map_size;

  PoolAndConvProps props = get_pool_and_conv_props(spacing, initial_patch_size(spacing, median_shape), min_fmap);
  NetworkTopology topology = make_topology(context, props, dim);
  std::vector<std::int64_t> patch = props.patch_size;

  const NnunetReference& reference = preset.reference;
  const std::int64_t shrink_batch = preset.shrink_until_reference_batch_fits
                                        ? (dim == 2 ? reference.batch_2d : reference.batch_3d)
                                        : preset.min_batch_size;
  while (!model.fits(topology, shrink_batch, patch, context.budget)) {
    try {
      PoolAndConvProps smaller = shrink_patch_step(spacing, median_shape, props, min_fmap);
      // A U-Net needs an encoder and a decoder stage; nnU-Net would go on into a network it cannot build.
      NNUC_CHECK(smaller.n_stages() >= 2 || props.n_stages() < 2, "the patch ", nlohmann::json(patch).dump(),
                 " cannot shrink further without leaving a network of a single stage");
      props = std::move(smaller);
    } catch (const InvalidInput& error) {
      NNUC_THROW(InvalidInput, "plan_configuration (", data_identifier_name, "): ", error.what(), "; memory model \"",
                 model.name(), "\" predicts ", model.predicted_peak_bytes(topology, shrink_batch, patch),
                 " bytes for batch ", shrink_batch, " at patch ", nlohmann::json(patch).dump(), ", over the budget of ",
                 context.budget.bytes(), " bytes (", context.budget.gpu_memory_gb,
                 " GB of 2^30 bytes): the budget is too small for this network even at the smallest patch");
    }
    topology = make_topology(context, props, dim);
    patch = props.patch_size;
  }

  // Batch size: what the budget allows, capped so that one batch covers at most
  // max_dataset_covered of the dataset's voxels, and at least min_batch_size.
  const double patch_voxels = product(as_doubles(patch));
  const std::int64_t coverage_cap =
      round_half_even_to_int(approximate_n_voxels_dataset * preset.max_dataset_covered / patch_voxels);
  const std::int64_t budget_batch =
      model.batch_for_budget(topology, patch, context.budget, std::max<std::int64_t>(coverage_cap, 1));
  const std::int64_t batch_size = std::max<std::int64_t>(std::min(budget_batch, coverage_cap), preset.min_batch_size);

  ConfigurationPlan plan;
  plan.data_identifier = data_identifier_name;
  plan.preprocessor_name = context.preprocessor_name;
  plan.batch_size = batch_size;
  plan.patch_size = patch;
  plan.median_image_size_in_voxels = median_shape;
  plan.median_is_integer = median_is_integer;
  plan.spacing = spacing;
  for (const std::string& channel : context.dataset->channel_names) {
    plan.normalization_schemes.push_back(
        data::normalization_scheme_name(data::normalization_scheme_for_channel_name(channel)));
  }
  plan.use_mask_for_norm =
      use_mask_for_norm(plan.normalization_schemes, context.fingerprint->median_relative_size_after_cropping);
  plan.network = topology;
  plan.memory_model = model.name();
  plan.predicted_peak_bytes = model.predicted_peak_bytes(topology, batch_size, patch);
  plan.memory_budget_bytes = context.budget.bytes();
  return plan;
}

Plans plan_experiment(const data::DatasetJson& dataset, const data::DatasetFingerprint& fingerprint,
                      const PlannerOptions& options, const MemoryModel& memory_model) {
  NNUC_CHECK(!fingerprint.spacings.empty() && fingerprint.spacings.size() == fingerprint.shapes_after_crop.size(),
             "plan_experiment: the fingerprint needs one spacing and one shape per case (got ",
             fingerprint.spacings.size(), " and ", fingerprint.shapes_after_crop.size(), ")");
  NNUC_CHECK(!dataset.channel_names.empty(), "plan_experiment: dataset.json lists no channels");
  NNUC_CHECK(dataset.num_training > 0, "plan_experiment: numTraining = ", dataset.num_training, ", expected > 0");
  const PlannerPreset& preset = options.preset;
  const std::string plans_name = options.plans_name.value_or(preset.plans_name);

  ConfigurationContext context;
  context.dataset = &dataset;
  context.fingerprint = &fingerprint;
  context.preset = &preset;
  context.memory_model = &memory_model;
  context.budget.gpu_memory_gb = options.gpu_memory_target_gb.value_or(preset.default_gpu_memory_gb);
  context.preprocessor_name = options.preprocessor_name;
  (void)context.budget.bytes();  // validates the target

  const std::array<double, 3> target = fullres_target_spacing(fingerprint, options.overwrite_target_spacing);
  const Transpose transpose = determine_transpose(target, options.suppress_transpose);
  const std::vector<double> spacing_t = transposed(target, transpose.forward);
  const std::vector<double> median_t = transposed(median_resampled_shape(fingerprint, target), transpose.forward);
  const double median_voxels = product(median_t);
  const double approximate_n_voxels = median_voxels * static_cast<double>(dataset.num_training);

  Plans plans;
  plans.dataset_name = options.dataset_name;
  plans.plans_name = plans_name;
  plans.image_reader_writer =
      options.image_reader_writer.empty() ? image_reader_writer_for(dataset) : options.image_reader_writer;
  plans.transpose_forward = transpose.forward;
  plans.transpose_backward = transpose.backward;
  plans.experiment_planner_used = preset.planner_name;
  plans.foreground_intensity_properties_per_channel =
      data::intensity_properties_to_json(fingerprint.foreground_intensity_properties_per_channel);

  if (median_t[0] != 1.0) {
    ConfigurationPlan fullres = plan_configuration(
        context, spacing_t, median_t, false, data_identifier(preset, plans_name, "3d_fullres"), approximate_n_voxels);
    // 3d_lowres: coarsen the spacing by 1.03 per step (first the fine axes, until within a factor 2
    // of the coarsest) until the patch covers >= 25 % of the median volume.
    double lowres_median_voxels = median_voxels;
    double patch_voxels = product(as_doubles(fullres.patch_size));
    std::optional<ConfigurationPlan> lowres;
    std::vector<double> lowres_spacing = spacing_t;
    int steps = 0;
    while (patch_voxels / lowres_median_voxels < kLowresCreationThreshold) {
      NNUC_CHECK(++steps <= kMaxLowresSteps, "plan_experiment: the 3d_lowres search did not converge after ",
                 kMaxLowresSteps, " steps (spacing ", nlohmann::json(lowres_spacing).dump(), ")");
      const double max_spacing = *std::max_element(lowres_spacing.begin(), lowres_spacing.end());
      bool any_fine = false;
      for (double s : lowres_spacing) any_fine = any_fine || max_spacing / s > 2.0;
      for (double& s : lowres_spacing) {
        if (!any_fine || max_spacing / s > 2.0) s *= kLowresSpacingIncrease;
      }
      std::vector<double> scaled_median(3);
      std::vector<double> rounded_median(3);
      for (std::size_t d = 0; d < 3; ++d) {
        scaled_median[d] = spacing_t[d] / lowres_spacing[d] * median_t[d];
        rounded_median[d] = round_half_even(scaled_median[d]);
      }
      lowres_median_voxels = product(scaled_median);
      lowres = plan_configuration(context, lowres_spacing, rounded_median, true,
                                  data_identifier(preset, plans_name, "3d_lowres"),
                                  lowres_median_voxels * static_cast<double>(dataset.num_training));
      patch_voxels = product(as_doubles(lowres->patch_size));
    }
    // Too little downsampling (or none): no lowres stage.
    if (median_voxels / lowres_median_voxels < 2.0) lowres.reset();
    if (lowres) {
      lowres->batch_dice = false;
      lowres->next_stage = "3d_cascade_fullres";
      fullres.batch_dice = true;
      plans.has_cascade = true;
    } else {
      fullres.batch_dice = false;
    }
    plans.configuration_3d_lowres = lowres;
    plans.configuration_3d_fullres = fullres;
  }

  ConfigurationPlan plan_2d =
      plan_configuration(context, {spacing_t[1], spacing_t[2]}, {median_t[1], median_t[2]}, false,
                         data_identifier(preset, plans_name, "2d"), approximate_n_voxels);
  plan_2d.batch_dice = true;
  plans.configuration_2d = plan_2d;

  std::array<double, 3> median_spacing{};
  std::array<std::int64_t, 3> median_shape{};
  for (std::size_t a = 0; a < 3; ++a) {
    std::vector<double> spacings;
    std::vector<double> shapes;
    for (std::size_t i = 0; i < fingerprint.spacings.size(); ++i) {
      spacings.push_back(fingerprint.spacings[i][a]);
      shapes.push_back(static_cast<double>(fingerprint.shapes_after_crop[i][a]));
    }
    median_spacing[a] = data::numpy_median_f64(spacings);
    median_shape[a] = round_half_even_to_int(data::numpy_median_f64(shapes));
  }
  plans.original_median_spacing_after_transp = transposed(median_spacing, transpose.forward);
  plans.original_median_shape_after_transp = transposed(median_shape, transpose.forward);
  return plans;
}

Plans plan_experiment(const data::DatasetJson& dataset, const data::DatasetFingerprint& fingerprint,
                      const PlannerOptions& options) {
  const NnunetMemoryModel model(options.preset.reference);
  return plan_experiment(dataset, fingerprint, options, model);
}

}  // namespace nnuc::planner
