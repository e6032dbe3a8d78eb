// The exact memory model: the planner topology as the nn layer's U-Net, the invariants of plans it
// sizes (predicted peak within the budget, the next larger patch on the shrink path over it, the
// batch as large as fits up to the dataset cap), a clear error for a budget too small, and on the
// CPU the planned configuration's real training step peaking at exactly the predicted bytes.
#include <gtest/gtest.h>

#include <optional>

#include "kernels/core/allocator.h"
#include "nn/training_step.h"
#include "planner/exact_memory_model.h"
#include "planner/numeric.h"
#include "planner/planner.h"
#include "tests/planner/planner_fixtures.h"
#include "tests/support/test_support.h"

namespace nnuc::planner {
namespace {

std::int64_t voxels(const std::vector<std::int64_t>& patch) {
  std::int64_t n = 1;
  for (std::int64_t p : patch) n *= p;
  return n;
}

// The patch one shrink step before `final_patch` on the shrink path from the initial patch; nullopt
// when the planner kept the initial patch.
std::optional<PoolAndConvProps> predecessor_on_shrink_path(const ConfigurationPlan& plan, int min_feature_map_size) {
  const std::vector<double>& spacing = plan.spacing;
  const std::vector<double>& median = plan.median_image_size_in_voxels;
  PoolAndConvProps props = get_pool_and_conv_props(spacing, initial_patch_size(spacing, median), min_feature_map_size);
  std::optional<PoolAndConvProps> previous;
  for (int step = 0; step < 10000; ++step) {
    if (props.patch_size == plan.patch_size) return previous;
    previous = props;
    props = shrink_patch_step(spacing, median, props, min_feature_map_size);
  }
  ADD_FAILURE() << "the planned patch is not on the shrink path";
  return std::nullopt;
}

// Checks every invariant of one configuration sized by the exact model. `dataset_voxels` is the
// approx_n_voxels of the batch cap (nullopt: the batch is only checked to fit).
void check_exact_configuration(const std::string& what, const ConfigurationPlan& plan, const PlannerPreset& preset,
                               const data::DatasetJson& dataset, const ExactMemoryModel& model,
                               const MemoryBudget& budget, std::optional<double> dataset_voxels) {
  SCOPED_TRACE(what);
  EXPECT_EQ(plan.memory_model, "exact");
  EXPECT_EQ(plan.memory_budget_bytes, budget.bytes());
  EXPECT_EQ(plan.predicted_peak_bytes, model.predicted_peak_bytes(plan.network, plan.batch_size, plan.patch_size));
  EXPECT_LE(plan.predicted_peak_bytes, budget.bytes());
  EXPECT_GE(plan.batch_size, preset.min_batch_size);

  // The next larger patch (its predecessor on the shrink path) does not fit the shrink batch.
  const int dim = static_cast<int>(plan.patch_size.size());
  const std::int64_t shrink_batch = preset.min_batch_size;
  if (const std::optional<PoolAndConvProps> larger = predecessor_on_shrink_path(plan, preset.min_feature_map_size)) {
    const NetworkTopology larger_network = network_topology_for(preset, dataset, *larger, dim);
    EXPECT_GT(model.predicted_peak_bytes(larger_network, shrink_batch, larger->patch_size), budget.bytes())
        << "the larger patch " << nlohmann::json(larger->patch_size).dump() << " would have fit";
  }

  // The batch: the largest that fits, capped by the dataset coverage, at least the minimum.
  if (dataset_voxels) {
    const std::int64_t cap = round_half_even_to_int(*dataset_voxels * preset.max_dataset_covered /
                                                    static_cast<double>(voxels(plan.patch_size)));
    const bool next_fits = model.fits(plan.network, plan.batch_size + 1, plan.patch_size, budget);
    if (plan.batch_size > preset.min_batch_size) {
      EXPECT_LE(plan.batch_size, cap);
    }
    if (plan.batch_size < cap) {
      EXPECT_FALSE(next_fits) << "batch " << plan.batch_size + 1 << " fits, cap " << cap;
    }
  }
}

void check_exact_plans(const std::string& fixture, const PlannerPreset& preset, double gpu_memory_gb) {
  const fixtures::FixtureDataset data = fixtures::load_fixture_dataset(fixture);
  PlannerOptions options;
  options.dataset_name = "Dataset999_" + fixture;
  options.preset = preset;
  options.gpu_memory_target_gb = gpu_memory_gb;
  ExactMemoryModelOptions model_options;
  model_options.loss = loss_config_for(data.dataset);
  const ExactMemoryModel model(model_options);
  const Plans plans = plan_experiment(data.dataset, data.fingerprint, options, model);
  const MemoryBudget budget{gpu_memory_gb};
  const std::string where = fixture + " " + preset.planner_name + " at " + std::to_string(gpu_memory_gb) + " GB";
  std::optional<double> fullres_voxels;
  if (plans.configuration_3d_fullres) {
    fullres_voxels = product(plans.configuration_3d_fullres->median_image_size_in_voxels) *
                     static_cast<double>(data.dataset.num_training);
    check_exact_configuration(where + " 3d_fullres", *plans.configuration_3d_fullres, preset, data.dataset, model,
                              budget, fullres_voxels);
  }
  if (plans.configuration_3d_lowres) {
    check_exact_configuration(where + " 3d_lowres", *plans.configuration_3d_lowres, preset, data.dataset, model, budget,
                              std::nullopt);
  }
  ASSERT_TRUE(plans.configuration_2d.has_value());
  const ConfigurationPlan& plan_2d = *plans.configuration_2d;
  const double voxels_2d = fullres_voxels.value_or(product(plan_2d.median_image_size_in_voxels) *
                                                   static_cast<double>(data.dataset.num_training));
  check_exact_configuration(where + " 2d", plan_2d, preset, data.dataset, model, budget, voxels_2d);
}

TEST(PlannerExactMemory, UnetConfigMirrorsTheTopology) {
  const fixtures::FixtureDataset data = fixtures::load_fixture_dataset("hippocampus_like");
  PlannerOptions options;
  options.dataset_name = "Dataset901_hippocampus_like";
  const Plans plans = plan_experiment(data.dataset, data.fingerprint, options);
  const NetworkTopology& topology = plans.configuration_3d_fullres->network;
  const nn::UNetConfig config = unet_config_for(topology);
  EXPECT_EQ(config.encoder, nn::EncoderKind::Plain);
  EXPECT_EQ(config.input_channels, 1);
  EXPECT_EQ(config.num_classes, 3);
  EXPECT_TRUE(config.deep_supervision);
  EXPECT_EQ(config.features_per_stage, (std::vector<int>{32, 64, 128, 256}));
  EXPECT_EQ(config.strides[1], (nn::Triple{2, 2, 2}));
  EXPECT_EQ(config.n_conv_per_stage, (std::vector<int>{2, 2, 2, 2}));
  EXPECT_EQ(config.n_conv_per_stage_decoder, (std::vector<int>{2, 2, 2}));
  EXPECT_NO_THROW(config.validate());

  const nn::UNetConfig config_2d = unet_config_for(plans.configuration_2d->network);
  EXPECT_EQ(config_2d.kernel_sizes[0], (nn::Triple{1, 3, 3}));
  EXPECT_EQ(config_2d.strides[1], (nn::Triple{1, 2, 2}));
  EXPECT_EQ(patch_triple({56, 40}), (nn::Triple{1, 56, 40}));

  PlannerOptions resenc_options = options;
  resenc_options.preset = resenc_m_preset();
  const Plans resenc = plan_experiment(data.dataset, data.fingerprint, resenc_options);
  const nn::UNetConfig residual = unet_config_for(resenc.configuration_3d_fullres->network);
  EXPECT_EQ(residual.encoder, nn::EncoderKind::Residual);
  EXPECT_EQ(residual.n_conv_per_stage, (std::vector<int>{1, 3, 4, 6}));
  EXPECT_EQ(residual.n_conv_per_stage_decoder, (std::vector<int>{1, 1, 1}));
}

TEST(PlannerExactMemory, PredictionIsTheDeviceTotalOfTheModelledStepAndIsCached) {
  const fixtures::FixtureDataset data = fixtures::load_fixture_dataset("hippocampus_like");
  PlannerOptions options;
  options.dataset_name = "Dataset901_hippocampus_like";
  const Plans plans = plan_experiment(data.dataset, data.fingerprint, options);
  const ConfigurationPlan& plan = *plans.configuration_3d_fullres;
  const ExactMemoryModel model;
  const nn::TrainingStepMemory memory =
      nn::predict_training_step_memory(model.step_spec(plan.network, 2, plan.patch_size));
  EXPECT_EQ(model.step_spec(plan.network, 2, plan.patch_size).activations, DType::bf16);
  EXPECT_EQ(memory.fixed_overhead, nn::kCudaFixedOverheadBytes);
  EXPECT_EQ(memory.workspace_cap, kDefaultWorkspaceCap);
  EXPECT_EQ(model.predicted_peak_bytes(plan.network, 2, plan.patch_size), memory.peak_bytes + memory.fixed_overhead);
  EXPECT_EQ(model.predicted_peak_bytes(plan.network, 2, plan.patch_size), memory.device_total());
  const ExactMemoryModel::Statistics statistics = model.statistics();
  EXPECT_EQ(statistics.meta_runs, 1u);
  EXPECT_EQ(statistics.cache_hits, 1u);
  EXPECT_LT(model.predicted_peak_bytes(plan.network, 2, plan.patch_size),
            model.predicted_peak_bytes(plan.network, 3, plan.patch_size));
}

// Each Meta run of a full-size 3-D network takes a noticeable time on the CPU: a few datasets cover
// a shrunk 128^3-class 3-D patch, a budget-limited 2-D batch, a dataset-capped batch and ResEnc.
TEST(PlannerExactMemory, PlansKeepTheirInvariants) {
  check_exact_plans("hippocampus_like", default_planner_preset(), 8.0);
  check_exact_plans("hippocampus_like", resenc_planner_preset(), 8.0);
  check_exact_plans("tiny_cube_ct", default_planner_preset(), 8.0);
  check_exact_plans("natural_2d_rgb", default_planner_preset(), 4.0);
}

TEST(PlannerExactMemory, ABudgetBelowTheSmallestNetworkIsAClearError) {
  const fixtures::FixtureDataset data = fixtures::load_fixture_dataset("hippocampus_like");
  PlannerOptions options;
  options.dataset_name = "Dataset901_hippocampus_like";
  options.gpu_memory_target_gb = 0.25;  // less than the CUDA context alone
  const ExactMemoryModel model;
  try {
    plan_experiment(data.dataset, data.fingerprint, options, model);
    ADD_FAILURE() << "planned within 0.25 GB";
  } catch (const InvalidInput& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("cannot shrink further"), std::string::npos) << message;
    EXPECT_NE(message.find("budget of 268435456 bytes"), std::string::npos) << message;
    EXPECT_NE(message.find("exact"), std::string::npos) << message;
  }
}

TEST(PlannerExactMemory, BudgetResolution) {
  const ResolvedBudget explicit_budget = resolve_memory_budget(24.0, true, 8.0);
  EXPECT_EQ(explicit_budget.budget.bytes(), 24ull << 30);
  EXPECT_NE(explicit_budget.source.find("--gpu-memory"), std::string::npos);
  const ResolvedBudget preset_budget = resolve_memory_budget(std::nullopt, false, 8.0);
  EXPECT_EQ(preset_budget.budget.bytes(), 8ull << 30);
  const ResolvedBudget device_budget = resolve_memory_budget(std::nullopt, true, 8.0);
  if (const auto total = cuda_device_total_bytes()) {
    EXPECT_EQ(device_budget.budget.bytes(), *total - kCudaDeviceReserveBytes);
  } else {
    EXPECT_EQ(device_budget.budget.bytes(), 8ull << 30);
  }
}

// A dataset of 60 small volumes: 3d_fullres and 2d networks of 3 stages that train a step in seconds.
fixtures::FixtureDataset tiny_dataset() {
  fixtures::FixtureDataset data;
  data.dataset.channel_names = {"MRI"};
  data.dataset.labels = {{"background", {0}, false}, {"a", {1}, false}, {"b", {2}, false}};
  data.dataset.num_training = 60;
  data.dataset.file_ending = ".nii.gz";
  for (int i = 0; i < 60; ++i) {
    data.fingerprint.spacings.push_back({1.0, 1.0, 1.0});
    data.fingerprint.shapes_after_crop.push_back({16, 20 + (i % 3) - 1, 16});
  }
  data.fingerprint.foreground_intensity_properties_per_channel = {data::IntensityProperties{}};
  return data;
}

// Trains one real step of the planned configuration on the CPU and returns the allocator's peak.
std::uint64_t measured_step_peak(const ConfigurationPlan& plan, const nn::LossConfig& loss) {
  const nn::UNetConfig config = unet_config_for(plan.network);
  const nn::Triple p = patch_triple(plan.patch_size);
  const int batch = static_cast<int>(plan.batch_size);
  Allocator& cpu = allocator_for(Device::CPU);
  const std::uint64_t base = cpu.stats().current_bytes;
  nn::UNet network(Context::cpu(), config, DType::f32, 7);
  nn::SGD optimizer(Context::cpu(), network.parameters(), nn::OptimizerConfig{});
  const Tensor input = testing::random_uniform(Shape{batch, p[0], p[1], p[2], config.input_channels}, DType::f32);
  const Tensor labels = testing::random_labels(Shape{batch, p[0], p[1], p[2], 1}, DType::i16, config.num_classes);
  cpu.reset_peak();
  nn::training_step(Context::cpu(), network, optimizer, input, labels, loss, 0.01);
  return cpu.stats().peak_bytes - base;
}

TEST(PlannerExactMemory, CpuModelEqualsTheMeasuredPeakOfThePlannedStep) {
  const fixtures::FixtureDataset data = tiny_dataset();
  ExactMemoryModelOptions model_options;
  model_options.device = Device::CPU;
  model_options.loss = loss_config_for(data.dataset);
  const ExactMemoryModel model(model_options);

  // A budget just below the initial 3-D patch at batch 2, so the shrink loop runs.
  PlannerOptions options;
  options.dataset_name = "Dataset998_tiny";
  options.gpu_memory_target_gb = 8.0;
  const Plans unconstrained = plan_experiment(data.dataset, data.fingerprint, options, model);
  const ConfigurationPlan& initial = *unconstrained.configuration_3d_fullres;
  const std::uint64_t initial_peak = model.predicted_peak_bytes(initial.network, 2, initial.patch_size);
  options.gpu_memory_target_gb = static_cast<double>(initial_peak - 1) / 1073741824.0;
  const Plans plans = plan_experiment(data.dataset, data.fingerprint, options, model);
  ASSERT_TRUE(plans.configuration_3d_fullres && plans.configuration_2d);
  EXPECT_NE(plans.configuration_3d_fullres->patch_size, initial.patch_size) << "the shrink loop did not run";
  EXPECT_EQ(plans.configuration_3d_fullres->memory_budget_bytes, initial_peak - 1);

  for (const ConfigurationPlan* plan : {&*plans.configuration_3d_fullres, &*plans.configuration_2d}) {
    SCOPED_TRACE(plan->data_identifier + " patch " + nlohmann::json(plan->patch_size).dump() + " batch " +
                 std::to_string(plan->batch_size));
    EXPECT_LE(plan->predicted_peak_bytes, plan->memory_budget_bytes);
    EXPECT_EQ(plan->predicted_peak_bytes, measured_step_peak(*plan, model_options.loss));
  }
}

}  // namespace
}  // namespace nnuc::planner
