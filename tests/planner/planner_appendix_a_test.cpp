// Spec Appendix A vectors for the planner, in nnunet memory-model mode: the Hippocampus 3d_fullres and
// 2d plans (A.1) with every intermediate value, the topology walk-through (A.2), the feature-map counts
// (A.3) and the deep-supervision weights (A.7).
#include <gtest/gtest.h>

#include <cmath>

#include "data/preprocess/normalization.h"
#include "kernels/core/error.h"
#include "nn/loss.h"
#include "planner/memory_model.h"
#include "planner/planner.h"
#include "planner/topology.h"
#include "tests/planner/planner_fixtures.h"

namespace nnuc::planner {
namespace {

using Json = nlohmann::ordered_json;
using Ints = std::vector<std::int64_t>;
using IntLists = std::vector<std::vector<int>>;

// The hippocampus_like fixture: 260 cases, spacing (1,1,1), one MRI channel, labels {background,
// Anterior, Posterior}; its shapes are drawn so that the median is exactly (36, 50, 35) as in A.1.
class AppendixAHippocampus : public ::testing::Test {
 protected:
  void SetUp() override {
    fixture_ = fixtures::load_fixture_dataset("hippocampus_like");
    preset_ = default_planner_preset();
    context_.dataset = &fixture_.dataset;
    context_.fingerprint = &fixture_.fingerprint;
    context_.preset = &preset_;
    context_.memory_model = &model_;
    context_.budget.gpu_memory_gb = 8.0;
  }
  fixtures::FixtureDataset fixture_;
  PlannerPreset preset_;
  NnunetMemoryModel model_;
  ConfigurationContext context_;
};

TEST_F(AppendixAHippocampus, InputsAndSharedRules) {
  EXPECT_EQ(fixture_.dataset.num_training, 260);
  EXPECT_EQ(fixture_.dataset.labels.size(), 3u);
  const std::array<double, 3> target = fullres_target_spacing(fixture_.fingerprint);
  EXPECT_EQ(target, (std::array<double, 3>{1.0, 1.0, 1.0}));
  const Transpose t = determine_transpose(target);
  EXPECT_EQ(t.forward, (std::array<int, 3>{0, 1, 2}));
  EXPECT_EQ(median_resampled_shape(fixture_.fingerprint, target), (std::array<double, 3>{36.0, 50.0, 35.0}));
  EXPECT_EQ(data::normalization_scheme_for_channel_name("MRI"), data::NormalizationScheme::ZScore);
  EXPECT_GE(fixture_.fingerprint.median_relative_size_after_cropping, 0.75);
}

TEST_F(AppendixAHippocampus, FullresIntermediateValues) {
  const std::vector<double> spacing{1.0, 1.0, 1.0};
  const std::vector<double> median{36.0, 50.0, 35.0};
  // Initial patch 256^3, clipped to the median shape.
  EXPECT_EQ(initial_patch_size(spacing, median), median);
  const PoolAndConvProps props = get_pool_and_conv_props(spacing, median);
  EXPECT_EQ(props.num_pool_per_axis, (std::vector<int>{3, 3, 3}));
  EXPECT_EQ(props.strides, (IntLists{{1, 1, 1}, {2, 2, 2}, {2, 2, 2}, {2, 2, 2}}));
  EXPECT_EQ(props.kernel_sizes, (IntLists(4, std::vector<int>{3, 3, 3})));
  EXPECT_EQ(props.patch_size, (Ints{40, 56, 40}));
  EXPECT_EQ(features_per_stage(4, 32, 320), (std::vector<int>{32, 64, 128, 256}));

  const ConfigurationPlan plan =
      plan_configuration(context_, spacing, median, false, "nnUNetPlans_3d_fullres", 36.0 * 50.0 * 35.0 * 260.0);
  EXPECT_EQ(model_.estimate(plan.network, plan.patch_size), 19174400);
  EXPECT_EQ(model_.batch_for_budget(plan.network, plan.patch_size, context_.budget, 1000), 58);
  EXPECT_EQ(plan.batch_size, 9);  // the 5 % cap: round(36*50*35*260*0.05 / (40*56*40)) = 9
  EXPECT_EQ(plan.patch_size, (Ints{40, 56, 40}));
}

TEST_F(AppendixAHippocampus, TwoDIntermediateValues) {
  const std::vector<double> spacing{1.0, 1.0};
  const std::vector<double> median{50.0, 35.0};
  EXPECT_EQ(initial_patch_size(spacing, median), median);  // 2048^2 clipped
  const PoolAndConvProps props = get_pool_and_conv_props(spacing, median);
  EXPECT_EQ(props.strides, (IntLists{{1, 1}, {2, 2}, {2, 2}, {2, 2}}));
  EXPECT_EQ(props.patch_size, (Ints{56, 40}));
  const ConfigurationPlan plan =
      plan_configuration(context_, spacing, median, false, "nnUNetPlans_2d", 36.0 * 50.0 * 35.0 * 260.0);
  EXPECT_EQ(model_.estimate(plan.network, plan.patch_size), 651840);
  EXPECT_EQ(model_.batch_for_budget(plan.network, plan.patch_size, context_.budget, 1000), 1565);
  EXPECT_EQ(plan.batch_size, 366);  // round(16,380,000 * 0.05 / 2240)
}

TEST_F(AppendixAHippocampus, PlansMatchThePublishedFullresEntry) {
  PlannerOptions options;
  options.dataset_name = "Dataset004_Hippocampus";
  const Plans plans = plan_experiment(fixture_.dataset, fixture_.fingerprint, options);
  ASSERT_TRUE(plans.configuration_3d_fullres.has_value());
  EXPECT_FALSE(plans.configuration_3d_lowres.has_value());  // the patch covers > 25 % of the median
  EXPECT_FALSE(plans.has_cascade);
  EXPECT_TRUE(plans.configuration_2d->batch_dice);
  EXPECT_EQ(plans.configuration_2d->batch_size, 366);
  EXPECT_EQ(plans.configuration_2d->patch_size, (Ints{56, 40}));

  // A.1's JSON, verbatim; our entry equals it once nnuc's own fields are dropped.
  const Json expected = Json::parse(R"({
  "data_identifier": "nnUNetPlans_3d_fullres", "preprocessor_name": "DefaultPreprocessor",
  "batch_size": 9, "patch_size": [40, 56, 40], "median_image_size_in_voxels": [36.0, 50.0, 35.0],
  "spacing": [1.0, 1.0, 1.0], "normalization_schemes": ["ZScoreNormalization"], "use_mask_for_norm": [false],
  "resampling_fn_data": "resample_data_or_seg_to_shape", "resampling_fn_seg": "resample_data_or_seg_to_shape",
  "resampling_fn_data_kwargs": {"is_seg": false, "order": 3, "order_z": 0, "force_separate_z": null},
  "resampling_fn_seg_kwargs": {"is_seg": true, "order": 1, "order_z": 0, "force_separate_z": null},
  "resampling_fn_probabilities": "resample_data_or_seg_to_shape",
  "resampling_fn_probabilities_kwargs": {"is_seg": false, "order": 1, "order_z": 0, "force_separate_z": null},
  "architecture": {
    "network_class_name": "dynamic_network_architectures.architectures.unet.PlainConvUNet",
    "arch_kwargs": {"n_stages": 4, "features_per_stage": [32, 64, 128, 256],
      "conv_op": "torch.nn.modules.conv.Conv3d",
      "kernel_sizes": [[3,3,3],[3,3,3],[3,3,3],[3,3,3]], "strides": [[1,1,1],[2,2,2],[2,2,2],[2,2,2]],
      "n_conv_per_stage": [2,2,2,2], "n_conv_per_stage_decoder": [2,2,2], "conv_bias": true,
      "norm_op": "torch.nn.modules.instancenorm.InstanceNorm3d", "norm_op_kwargs": {"eps": 1e-05, "affine": true},
      "dropout_op": null, "dropout_op_kwargs": null, "nonlin": "torch.nn.LeakyReLU", "nonlin_kwargs": {"inplace": true}},
    "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"]},
  "batch_dice": false })");
  Json ours = configuration_to_json(*plans.configuration_3d_fullres);
  EXPECT_EQ(ours["memory_model"], "nnunet");
  EXPECT_EQ(ours["memory_budget_bytes"], 8ull << 30);
  // nnU-Net's reference: 560e6 feature maps at batch 2 are 8 GB; batch 9 x 19,174,400 / 2.
  EXPECT_EQ(ours["predicted_peak_bytes"].get<std::uint64_t>(),
            static_cast<std::uint64_t>(std::llround(19174400.0 / 2 * 9 * (8.0 * 1073741824.0 / 560e6))));
  ours.erase("memory_model");
  ours.erase("predicted_peak_bytes");
  ours.erase("memory_budget_bytes");
  EXPECT_EQ(ours.dump(), expected.dump());
}

// A.2: spacing (3.6, 0.625, 0.625), patch (20, 320, 320).
TEST(AppendixATopology, AnisotropicWalkThrough) {
  const PoolAndConvProps p = get_pool_and_conv_props({3.6, 0.625, 0.625}, {20, 320, 320});
  EXPECT_EQ(p.num_pool_per_axis, (std::vector<int>{2, 6, 6}));
  EXPECT_EQ(p.strides, (IntLists{{1, 1, 1}, {1, 2, 2}, {1, 2, 2}, {2, 2, 2}, {2, 2, 2}, {1, 2, 2}, {1, 2, 2}}));
  EXPECT_EQ(p.kernel_sizes, (IntLists{{1, 3, 3}, {1, 3, 3}, {3, 3, 3}, {3, 3, 3}, {3, 3, 3}, {3, 3, 3}, {3, 3, 3}}));
  EXPECT_EQ(p.shape_must_be_divisible_by, (Ints{4, 64, 64}));
  EXPECT_EQ(p.patch_size, (Ints{20, 320, 320}));
}

NetworkTopology uniform_topology(NetworkClass network_class, int dim, std::vector<int> features,
                                 std::vector<int> blocks, std::vector<int> decoder) {
  NetworkTopology t;
  t.network_class = network_class;
  t.dim = dim;
  t.features_per_stage = std::move(features);
  const int stages = static_cast<int>(t.features_per_stage.size());
  t.kernel_sizes.assign(stages, std::vector<int>(dim, 3));
  t.strides.assign(stages, std::vector<int>(dim, 2));
  t.strides[0] = std::vector<int>(dim, 1);
  t.blocks_per_stage = std::move(blocks);
  t.conv_per_stage_decoder = std::move(decoder);
  return t;
}

// A.3 (and the reference values in residual_encoder_unet_planners.py).
TEST(AppendixAFeatureMaps, ReferenceCounts) {
  const NetworkTopology resenc3d = uniform_topology(NetworkClass::ResidualEncoderUNet, 3, {32, 64, 128, 256, 320, 320},
                                                    {1, 3, 4, 6, 6, 6}, {1, 1, 1, 1, 1});
  EXPECT_EQ(conv_feature_map_count(resenc3d, {128, 128, 128}, 3, true), 558319104);
  const NetworkTopology resenc2d =
      uniform_topology(NetworkClass::ResidualEncoderUNet, 2, {32, 64, 128, 256, 512, 512, 512}, {1, 3, 4, 6, 6, 6, 6},
                       {1, 1, 1, 1, 1, 1});
  EXPECT_EQ(conv_feature_map_count(resenc2d, {512, 512}, 3, true), 129793792);
  const NetworkTopology plain3d = uniform_topology(NetworkClass::PlainConvUNet, 3, {32, 64, 128, 256, 320, 320},
                                                   {2, 2, 2, 2, 2, 2}, {2, 2, 2, 2, 2});
  EXPECT_EQ(conv_feature_map_count(plain3d, {128, 128, 128}, 3, false), 452796416);
}

// A.7: by number of outputs S - 1.
TEST(AppendixADeepSupervision, Weights) {
  const std::vector<std::vector<double>> expected = {{0.6667, 0.3333, 0},
                                                     {0.5714, 0.2857, 0.1429, 0},
                                                     {0.5333, 0.2667, 0.1333, 0.0667, 0},
                                                     {0.5161, 0.2581, 0.1290, 0.0645, 0.0323, 0}};
  for (const auto& e : expected) {
    const std::vector<double> w = nn::deep_supervision_weights(static_cast<int>(e.size()));
    ASSERT_EQ(w.size(), e.size());
    double sum = 0;
    for (std::size_t i = 0; i < w.size(); ++i) {
      EXPECT_NEAR(w[i], e[i], 5e-5) << "outputs " << e.size() << ", index " << i;
      sum += w[i];
    }
    EXPECT_DOUBLE_EQ(sum, 1.0);
    EXPECT_EQ(w.back(), 0.0);
  }
  EXPECT_EQ(nn::deep_supervision_weights(1), std::vector<double>{1.0});  // no deep supervision
}

}  // namespace
}  // namespace nnuc::planner
