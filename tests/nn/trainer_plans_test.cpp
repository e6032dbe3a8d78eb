// Reading plans back for training (planner/plans_read.h): the round trip with plans_to_json,
// inheritance (3d_cascade_fullres, custom configurations), legacy plans, errors naming file and
// field, and the network and loss a configuration trains with.
#include "planner/plans_read.h"
#include "tests/support/test_support.h"

namespace nnuc::planner {
namespace {

using Json = nlohmann::ordered_json;

ConfigurationPlan configuration(const std::string& identifier, std::vector<std::int64_t> patch, bool lowres) {
  ConfigurationPlan c;
  c.data_identifier = identifier;
  c.batch_size = 2 + static_cast<std::int64_t>(testing::rng()() % 5);
  c.patch_size = patch;
  const int dim = static_cast<int>(patch.size());
  for (int a = 0; a < dim; ++a) {
    c.median_image_size_in_voxels.push_back(lowres ? 40.0 + a : 40.5 + a);
    c.spacing.push_back(0.7 + 0.1 * a + 1e-3 * static_cast<double>(testing::rng()() % 100));
  }
  c.median_is_integer = lowres;
  c.normalization_schemes = {"ZScoreNormalization", "CTNormalization"};
  c.use_mask_for_norm = {true, false};
  c.resampling_data.force_separate_z = false;
  c.network.dim = dim;
  c.network.features_per_stage = {32, 64, 128};
  c.network.kernel_sizes = {std::vector<int>(patch.size(), 3), std::vector<int>(patch.size(), 3),
                            std::vector<int>(patch.size(), 3)};
  c.network.kernel_sizes[0][0] = dim == 3 ? 1 : 3;
  c.network.strides = {std::vector<int>(patch.size(), 1), std::vector<int>(patch.size(), 2),
                       std::vector<int>(patch.size(), 2)};
  c.network.blocks_per_stage = {2, 2, 2};
  c.network.conv_per_stage_decoder = {2, 2};
  c.batch_dice = lowres;
  c.memory_model = "exact";
  c.predicted_peak_bytes = 123456789;
  c.memory_budget_bytes = std::uint64_t{8} << 30;
  return c;
}

Plans sample_plans() {
  Plans p;
  p.dataset_name = "Dataset042_Test";
  p.plans_name = "nnUNetPlans";
  p.original_median_spacing_after_transp = {2.5, 0.79, 0.79};
  p.original_median_shape_after_transp = {90, 512, 512};
  p.image_reader_writer = "SimpleITKIO";
  p.transpose_forward = {0, 2, 1};
  p.transpose_backward = {0, 2, 1};
  p.configuration_2d = configuration("nnUNetPlans_2d", {512, 512}, false);
  p.configuration_3d_lowres = configuration("nnUNetPlans_3d_lowres", {64, 128, 128}, true);
  p.configuration_3d_lowres->next_stage = "3d_cascade_fullres";
  p.configuration_3d_fullres = configuration("nnUNetPlans_3d_fullres", {40, 224, 192}, false);
  p.has_cascade = true;
  p.experiment_planner_used = "ExperimentPlanner";
  p.foreground_intensity_properties_per_channel = Json{{"0", {{"mean", 1.5}, {"std", 2.0}}}};
  return p;
}

TEST(PlansRead, RoundTripsWithPlansToJson) {
  const Plans plans = sample_plans();
  const Json written = plans_to_json(plans);
  const PlansFile read = read_plans(written, "plans.json");
  EXPECT_EQ(plans_to_json(read.plans).dump(), written.dump());
  ASSERT_EQ(read.configurations.size(), 4u);
  const ResolvedConfiguration& cascade = read.configuration("3d_cascade_fullres");
  EXPECT_EQ(cascade.inherits_from, "3d_fullres");
  EXPECT_EQ(cascade.previous_stage, "3d_lowres");
  EXPECT_EQ(configuration_to_json(cascade.plan).dump(), configuration_to_json(*plans.configuration_3d_fullres).dump());
  EXPECT_TRUE(read.plans.has_cascade);
}

TEST(PlansRead, CustomConfigurationInheritsShallowly) {
  const Plans plans = sample_plans();
  Json document = plans_to_json(plans);
  document["configurations"]["3d_fullres_bs4"] = Json{{"inherits_from", "3d_fullres"}, {"batch_size", 4}};
  document["configurations"]["3d_fullres_bs4_big"] =
      Json{{"inherits_from", "3d_fullres_bs4"}, {"patch_size", {48, 256, 224}}};
  const PlansFile read = read_plans(document, "p.json");
  const ConfigurationPlan& big = read.configuration("3d_fullres_bs4_big").plan;
  EXPECT_EQ(big.batch_size, 4);
  EXPECT_EQ(big.patch_size, (std::vector<std::int64_t>{48, 256, 224}));
  EXPECT_EQ(big.data_identifier, "nnUNetPlans_3d_fullres");
  EXPECT_EQ(read.configuration("3d_fullres_bs4").inherits_from, "3d_fullres");
  // Custom configurations do not change the standard ones.
  EXPECT_EQ(plans_to_json(read.plans).dump(), plans_to_json(plans).dump());
}

TEST(PlansRead, ErrorsNameTheFileAndTheField) {
  Json document = plans_to_json(sample_plans());
  document["configurations"]["3d_fullres"]["patch_size"][1] = "big";
  EXPECT_ERROR_MENTIONS(read_plans(document, "x/plans.json"), "x/plans.json: configurations.3d_fullres.patch_size[1]");
  document = plans_to_json(sample_plans());
  document["configurations"]["3d_fullres"].erase("batch_dice");
  EXPECT_ERROR_MENTIONS(read_plans(document, "p.json"), "required field \"batch_dice\"");
  document = plans_to_json(sample_plans());
  document["configurations"]["a"] = Json{{"inherits_from", "b"}};
  document["configurations"]["b"] = Json{{"inherits_from", "a"}};
  EXPECT_ERROR_MENTIONS(read_plans(document, "p.json"), "inheritance cycle");
  document = plans_to_json(sample_plans());
  document["configurations"]["c"] = Json{{"inherits_from", "nowhere"}};
  EXPECT_ERROR_MENTIONS(read_plans(document, "p.json"), "\"nowhere\" names no configuration");
  document = plans_to_json(sample_plans());
  document["configurations"]["2d"]["architecture"]["arch_kwargs"]["strides"].erase(0);
  EXPECT_ERROR_MENTIONS(read_plans(document, "p.json"), "configurations.2d.architecture.arch_kwargs.strides");
  EXPECT_ERROR_MENTIONS(read_plans(plans_to_json(sample_plans()), "p.json").configuration("3d"),
                        "no configuration \"3d\"");
}

TEST(PlansRead, LegacyPlansWithoutArchitecture) {
  Json document = plans_to_json(sample_plans());
  Json& c = document["configurations"]["3d_fullres"];
  c.erase("architecture");
  c["UNet_class_name"] = "PlainConvUNet";
  c["UNet_base_num_features"] = 32;
  c["unet_max_num_features"] = 64;
  c["n_conv_per_stage_encoder"] = {2, 2, 2};
  c["n_conv_per_stage_decoder"] = {2, 2};
  c["conv_kernel_sizes"] = {{1, 3, 3}, {3, 3, 3}, {3, 3, 3}};
  c["pool_op_kernel_sizes"] = {{1, 1, 1}, {2, 2, 2}, {2, 2, 2}};
  const NetworkTopology topology = read_plans(document, "p.json").configuration("3d_fullres").plan.network;
  EXPECT_EQ(topology.features_per_stage, (std::vector<int>{32, 64, 64}));
  EXPECT_EQ(topology.kernel_sizes[0], (std::vector<int>{1, 3, 3}));
  EXPECT_EQ(topology.strides[2], (std::vector<int>{2, 2, 2}));
}

TEST(PlansRead, NetworkAndLossForTraining) {
  const data::DatasetJson dataset = data::parse_dataset_json(
      R"({"channel_names": {"0": "CT", "1": "T2"}, "labels": {"background": 0, "liver": 1, "tumor": 2, "ignore": 3},
          "numTraining": 4, "file_ending": ".nii.gz"})",
      "dataset.json");
  const PlansFile plans = read_plans(plans_to_json(sample_plans()), "p.json");
  const nn::UNetConfig fullres = unet_config_for_training(plans.configuration("3d_fullres"), dataset);
  EXPECT_EQ(fullres.input_channels, 2);
  EXPECT_EQ(fullres.num_classes, 3);  // background, liver, tumor (ignore is not a head)
  EXPECT_TRUE(fullres.deep_supervision);
  EXPECT_EQ(fullres.kernel_sizes[0], (nn::Triple{1, 3, 3}));
  const nn::UNetConfig cascade = unet_config_for_training(plans.configuration("3d_cascade_fullres"), dataset);
  EXPECT_EQ(cascade.input_channels, 4);  // + one-hot liver, tumor
  const nn::UNetConfig two_d = unet_config_for_training(plans.configuration("2d"), dataset);
  EXPECT_EQ(two_d.strides[1], (nn::Triple{1, 2, 2}));
  const nn::LossConfig loss = loss_config_for_training(plans.configuration("3d_lowres").plan, dataset);
  EXPECT_EQ(loss.ignore_label, 3);
  EXPECT_TRUE(loss.batch_dice);
  EXPECT_FALSE(loss.regions);
  EXPECT_EQ(foreground_labels(dataset), (std::vector<int>{1, 2}));
}

}  // namespace
}  // namespace nnuc::planner
