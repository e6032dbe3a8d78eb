// The single rules of planning on hand-built fingerprints: target spacing (median and the
// 10th-percentile rule), transpose, resampled median shape, initial patch, normalization, reader/writer,
// presets, configuration selection (lowres, cascade, batch Dice), and writing plans files.
#include <gtest/gtest.h>

#include <fstream>

#include "data/dataset/atomic_file.h"
#include "data/preprocess/normalization.h"
#include "data/preprocess/numpy_stats.h"
#include "kernels/core/error.h"
#include "planner/numeric.h"
#include "planner/planner.h"
#include "tests/support/test_support.h"

namespace nnuc::planner {
namespace {

using Json = nlohmann::ordered_json;

data::DatasetFingerprint make_fingerprint(std::vector<std::array<double, 3>> spacings,
                                          std::vector<std::array<std::int64_t, 3>> shapes, double relative_size = 1.0) {
  data::DatasetFingerprint f;
  f.spacings = std::move(spacings);
  f.shapes_after_crop = std::move(shapes);
  f.median_relative_size_after_cropping = relative_size;
  data::IntensityProperties properties;
  properties.mean = 10.0;
  f.foreground_intensity_properties_per_channel = {properties};
  return f;
}

// `labels` entries: background 0 and the foreground labels 1 .. labels - 1.
data::DatasetJson make_dataset(std::vector<std::string> channels, int labels, std::int64_t cases,
                               std::string ending = ".nii.gz") {
  data::DatasetJson d;
  d.channel_names = std::move(channels);
  for (int label = 0; label < labels; ++label) {
    d.labels.push_back({label == 0 ? "background" : "label" + std::to_string(label), {label}, false});
  }
  d.num_training = cases;
  d.file_ending = std::move(ending);
  return d;
}

std::string scheme_for(const std::string& channel_name) {
  return data::normalization_scheme_name(data::normalization_scheme_for_channel_name(channel_name));
}

TEST(PlannerRules, TargetSpacingIsTheMedianForIsotropicData) {
  const data::DatasetFingerprint f = make_fingerprint({{1.0, 0.8, 0.8}, {1.2, 0.7, 0.7}, {0.9, 0.75, 0.75}},
                                                      {{100, 200, 200}, {90, 210, 190}, {110, 190, 210}});
  EXPECT_EQ(fullres_target_spacing(f), (std::array<double, 3>{1.0, 0.75, 0.75}));
  const std::array<double, 3> overwrite{2.0, 0.5, 0.5};
  EXPECT_EQ(fullres_target_spacing(f, overwrite), overwrite);
  EXPECT_THROW(fullres_target_spacing(f, std::array<double, 3>{2.0, -1.0, 0.5}), InvalidInput);
}

TEST(PlannerRules, TenthPercentileRuleForAnisotropicData) {
  // Axis 0: median spacing 5 > 3 x 0.7 and median size 20 x 3 < 300 -> 10th percentile of axis 0.
  std::vector<std::array<double, 3>> spacings;
  std::vector<std::array<std::int64_t, 3>> shapes;
  const std::vector<double> z = {2.5, 5.0, 5.0, 5.0, 6.0, 4.0, 5.0, 3.0, 5.0, 5.0, 8.0};
  for (double s : z) {
    spacings.push_back({s, 0.7, 0.7});
    shapes.push_back({20, 300, 310});
  }
  const data::DatasetFingerprint f = make_fingerprint(spacings, shapes);
  EXPECT_EQ(fullres_target_spacing(f)[0], data::numpy_percentile_f64(z, 10));  // 3.0
  EXPECT_EQ(fullres_target_spacing(f)[0], 3.0);
  EXPECT_EQ(fullres_target_spacing(f)[1], 0.7);

  // The 10th percentile would fall below the in-plane spacing: clamp to it + 1e-5.
  std::vector<std::array<double, 3>> fine = spacings;
  for (auto& s : fine) s[1] = s[2] = 1.5;
  fine[0][0] = 0.5;
  fine[7][0] = 0.6;
  const data::DatasetFingerprint g = make_fingerprint(fine, shapes);
  EXPECT_EQ(fullres_target_spacing(g)[0], 1.5 + 1e-5);  // the 10th percentile is 0.6

  // Not enough anisotropy in voxels (20 x 3 >= 55): the median stays.
  std::vector<std::array<std::int64_t, 3>> few = shapes;
  for (auto& s : few) s = {20, 55, 400};
  EXPECT_EQ(fullres_target_spacing(make_fingerprint(spacings, few))[0], 5.0);
}

TEST(PlannerRules, TransposePutsTheCoarsestAxisFirst) {
  Transpose t = determine_transpose({0.7, 0.7, 4.5});
  EXPECT_EQ(t.forward, (std::array<int, 3>{2, 0, 1}));
  EXPECT_EQ(t.backward, (std::array<int, 3>{1, 2, 0}));
  t = determine_transpose({1.0, 3.0, 1.0});
  EXPECT_EQ(t.forward, (std::array<int, 3>{1, 0, 2}));
  EXPECT_EQ(t.backward, (std::array<int, 3>{1, 0, 2}));
  t = determine_transpose({1.0, 1.0, 1.0});  // first maximum
  EXPECT_EQ(t.forward, (std::array<int, 3>{0, 1, 2}));
  t = determine_transpose({0.7, 0.7, 4.5}, true);
  EXPECT_EQ(t.forward, (std::array<int, 3>{0, 1, 2}));
  // forward and backward are inverse permutations for fresh spacings.
  std::uniform_real_distribution<double> uniform(0.3, 6.0);
  for (int i = 0; i < 20; ++i) {
    const std::array<double, 3> s{uniform(testing::rng()), uniform(testing::rng()), uniform(testing::rng())};
    t = determine_transpose(s);
    for (int a = 0; a < 3; ++a) EXPECT_EQ(t.backward[t.forward[a]], a);
    EXPECT_EQ(s[t.forward[0]], *std::max_element(s.begin(), s.end()));
    EXPECT_LT(t.forward[1], t.forward[2]);
  }
}

TEST(PlannerRules, MedianResampledShapeRoundsHalfToEvenPerCase) {
  // 0.5 / 1.0 * 5 = 2.5 -> 2; 0.5 / 1.0 * 7 = 3.5 -> 4; median of (2, 4) = 3.
  const data::DatasetFingerprint f = make_fingerprint({{0.5, 1.0, 2.0}, {0.5, 1.0, 2.0}}, {{5, 10, 9}, {7, 11, 3}});
  EXPECT_EQ(median_resampled_shape(f, {1.0, 1.0, 1.0}), (std::array<double, 3>{3.0, 10.5, 12.0}));
}

TEST(PlannerRules, InitialPatch) {
  // 3-D isotropic: 256^3 clipped to the median; anisotropic keeps the aspect ratio of 1/spacing.
  EXPECT_EQ(initial_patch_size({1.0, 1.0, 1.0}, {300, 200, 400}), (std::vector<double>{256, 200, 256}));
  const std::vector<double> p = initial_patch_size({4.0, 1.0, 1.0}, {1000, 1000, 1000});
  EXPECT_EQ(p, (std::vector<double>{102, 406, 406}));  // round(q * (256^3 / prod q)^(1/3)), q = (1/4, 1, 1)
  EXPECT_EQ(initial_patch_size({1.0, 1.0}, {3000, 35.5}), (std::vector<double>{2048, 35.5}));
  EXPECT_THROW(initial_patch_size({1.0, 0.0, 1.0}, {10, 10, 10}), InvalidInput);
}

TEST(PlannerRules, NormalizationAndMask) {
  EXPECT_EQ(scheme_for("CT"), "CTNormalization");
  EXPECT_EQ(scheme_for("ct"), "CTNormalization");
  EXPECT_EQ(scheme_for("noNorm"), "NoNormalization");
  EXPECT_EQ(scheme_for("zscore"), "ZScoreNormalization");
  EXPECT_EQ(scheme_for("Rescale_To_0_1"), "RescaleTo01Normalization");
  EXPECT_EQ(scheme_for("rgb_to_0_1"), "RGBTo01Normalization");
  EXPECT_EQ(scheme_for("T2"), "ZScoreNormalization");
  const std::vector<std::string> schemes{"CTNormalization", "ZScoreNormalization", "NoNormalization"};
  EXPECT_EQ(use_mask_for_norm(schemes, 0.74), (std::vector<bool>{false, true, false}));
  EXPECT_EQ(use_mask_for_norm(schemes, 0.75), (std::vector<bool>{false, false, false}));
}

TEST(PlannerRules, ImageReaderWriter) {
  data::DatasetJson d = make_dataset({"CT"}, 2, 10);
  EXPECT_EQ(image_reader_writer_for(d), "SimpleITKIO");
  d.file_ending = ".NII";
  EXPECT_EQ(image_reader_writer_for(d), "NibabelIO");
  d.file_ending = ".png";
  EXPECT_EQ(image_reader_writer_for(d), "NaturalImage2DIO");
  d.file_ending = ".tiff";
  EXPECT_EQ(image_reader_writer_for(d), "Tiff3DIO");
  d.overwrite_image_reader_writer = "NibabelIOWithReorient";
  EXPECT_EQ(image_reader_writer_for(d), "NibabelIOWithReorient");
  d.overwrite_image_reader_writer = "NoSuchIO";  // unknown: auto-detection, as nnU-Net does
  EXPECT_EQ(image_reader_writer_for(d), "Tiff3DIO");
  d.overwrite_image_reader_writer.clear();
  d.file_ending = ".jpg";
  try {
    image_reader_writer_for(d);
    ADD_FAILURE() << "no error for .jpg";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find(".jpg"), std::string::npos);
  }
}

TEST(PlannerRules, Presets) {
  EXPECT_EQ(planner_preset_by_name("default").plans_name, "nnUNetPlans");
  EXPECT_EQ(planner_preset_by_name("ExperimentPlanner").reference.feature_maps_3d, 560e6);
  const PlannerPreset m = planner_preset_by_name("M");
  EXPECT_EQ(m.planner_name, "nnUNetPlannerResEncM");
  EXPECT_EQ(m.max_dataset_covered, 1.0);
  EXPECT_EQ(m.network_class, NetworkClass::ResidualEncoderUNet);
  const PlannerPreset l = planner_preset_by_name("nnUNetPlannerResEncL");
  EXPECT_EQ(l.default_gpu_memory_gb, 24.0);
  EXPECT_EQ(l.reference.feature_maps_3d, 2.1e9);
  EXPECT_EQ(planner_preset_by_name("XL").reference.feature_maps_2d, 560e6);
  EXPECT_EQ(planner_preset_by_name("ResEncUNetPlanner").max_dataset_covered, 0.05);
  try {
    planner_preset_by_name("nnUNetPlannerResEncXXL");
    ADD_FAILURE() << "no error";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("nnUNetPlannerResEncXXL"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("ExperimentPlanner"), std::string::npos);
  }
}

// A large CT volume: fullres patch covers < 25 % of the median, so 3d_lowres and the cascade exist.
TEST(PlannerRules, LowresCascadeAndBatchDice) {
  std::vector<std::array<double, 3>> spacings(40, {1.0, 0.8, 0.8});
  std::vector<std::array<std::int64_t, 3>> shapes(40, {400, 512, 512});
  const data::DatasetFingerprint f = make_fingerprint(spacings, shapes);
  const data::DatasetJson d = make_dataset({"CT"}, 3, 40);
  PlannerOptions options;
  options.dataset_name = "Dataset999_Big";
  const Plans plans = plan_experiment(d, f, options);
  ASSERT_TRUE(plans.configuration_3d_lowres && plans.configuration_3d_fullres && plans.configuration_2d);
  EXPECT_TRUE(plans.has_cascade);
  EXPECT_TRUE(plans.configuration_3d_fullres->batch_dice);
  EXPECT_FALSE(plans.configuration_3d_lowres->batch_dice);
  EXPECT_TRUE(plans.configuration_2d->batch_dice);
  EXPECT_EQ(plans.configuration_3d_lowres->next_stage, "3d_cascade_fullres");
  EXPECT_TRUE(plans.configuration_3d_lowres->median_is_integer);
  EXPECT_EQ(plans.configuration_3d_lowres->data_identifier, "nnUNetPlans_3d_lowres");
  // Lowres: coarser spacing, and its patch covers at least 25 % of its median volume.
  const ConfigurationPlan& low = *plans.configuration_3d_lowres;
  for (int a = 0; a < 3; ++a) EXPECT_GT(low.spacing[a], plans.configuration_3d_fullres->spacing[a]);
  const std::array<double, 3> fullres_median{400.0, 512.0, 512.0};
  double patch = 1, median = 1;
  for (int a = 0; a < 3; ++a) {
    patch *= static_cast<double>(low.patch_size[a]);
    median *= plans.configuration_3d_fullres->spacing[a] / low.spacing[a] * fullres_median[a];
  }
  EXPECT_GE(patch / median, 0.25);
  const Json json = plans_to_json(plans);
  std::vector<std::string> order;
  for (const auto& [name, c] : json.at("configurations").items()) order.push_back(name);
  EXPECT_EQ(order, (std::vector<std::string>{"2d", "3d_lowres", "3d_fullres", "3d_cascade_fullres"}));
  EXPECT_EQ(json.at("configurations").at("3d_cascade_fullres").dump(),
            R"({"inherits_from":"3d_fullres","previous_stage":"3d_lowres"})");
  EXPECT_TRUE(json.at("configurations").at("3d_lowres").at("median_image_size_in_voxels")[0].is_number_integer());

  // ResEnc presets share the default 2d / 3d_fullres data but name their own lowres data.
  options.preset = resenc_m_preset();
  const Plans resenc = plan_experiment(d, f, options);
  EXPECT_EQ(resenc.configuration_3d_fullres->data_identifier, "nnUNetPlans_3d_fullres");
  EXPECT_EQ(resenc.configuration_2d->data_identifier, "nnUNetPlans_2d");
  ASSERT_TRUE(resenc.configuration_3d_lowres);
  EXPECT_EQ(resenc.configuration_3d_lowres->data_identifier, "nnUNetResEncUNetMPlans_3d_lowres");
  EXPECT_EQ(resenc.experiment_planner_used, "nnUNetPlannerResEncM");
  EXPECT_EQ(resenc.configuration_3d_fullres->network.blocks_per_stage[1], 3);
}

TEST(PlannerRules, TwoDimensionalDatasetsGetOnlyTheTwoDConfiguration) {
  std::vector<std::array<double, 3>> spacings(30, {999.0, 1.0, 1.0});
  std::vector<std::array<std::int64_t, 3>> shapes(30, {1, 480, 640});
  const Plans plans = plan_experiment(make_dataset({"R", "G", "B"}, 4, 30, ".png"), make_fingerprint(spacings, shapes),
                                      PlannerOptions{});
  EXPECT_TRUE(plans.configuration_2d.has_value());
  EXPECT_FALSE(plans.configuration_3d_fullres.has_value());
  EXPECT_FALSE(plans.configuration_3d_lowres.has_value());
  EXPECT_EQ(plans.image_reader_writer, "NaturalImage2DIO");
  EXPECT_EQ(plans.configuration_2d->network.dim, 2);
  EXPECT_EQ(plans.configuration_2d->network.input_channels, 3);
  EXPECT_EQ(plans.configuration_2d->normalization_schemes.size(), 3u);
}

TEST(PlannerRules, WritePlansFileIsAtomicAndKeepsCustomConfigurations) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("nnuc_planner_write_" + std::to_string(nnuc::testing::test_seed()));
  std::filesystem::create_directories(dir);
  const std::filesystem::path file = dir / "nnUNetPlans.json";
  std::vector<std::array<double, 3>> spacings(12, {1.0, 1.0, 1.0});
  std::vector<std::array<std::int64_t, 3>> shapes(12, {60, 70, 80});
  const Plans plans =
      plan_experiment(make_dataset({"MRI"}, 2, 12), make_fingerprint(spacings, shapes), PlannerOptions{});
  // An older plans file with a custom configuration and a stale 2d.
  std::ofstream(file)
      << R"({"configurations": {"2d": {"batch_size": 1}, "3d_custom": {"inherits_from": "3d_fullres"}}})";
  write_plans_file(file, plans);
  EXPECT_FALSE(std::filesystem::exists(dir / "nnUNetPlans.json.tmp"));
  const Json written = data::read_json_file(file.string());
  std::vector<std::string> names;
  for (const auto& [name, c] : written.at("configurations").items()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"2d", "3d_fullres", "3d_custom"}));
  EXPECT_EQ(written.at("configurations").at("2d").at("batch_size"), plans.configuration_2d->batch_size);
  // Not plans: refuse to overwrite.
  std::ofstream(file) << R"([1, 2, 3])";
  EXPECT_THROW(write_plans_file(file, plans), InvalidInput);
  std::filesystem::remove_all(dir);
}

TEST(PlannerRules, PlanExperimentRejectsInconsistentInputs) {
  data::DatasetFingerprint f = make_fingerprint({{1.0, 1.0, 1.0}}, {{10, 10, 10}});
  f.shapes_after_crop.clear();
  EXPECT_THROW(plan_experiment(make_dataset({"CT"}, 2, 1), f, PlannerOptions{}), InvalidInput);
  PlannerOptions options;
  options.gpu_memory_target_gb = -1.0;
  EXPECT_THROW(
      plan_experiment(make_dataset({"CT"}, 2, 1), make_fingerprint({{1.0, 1.0, 1.0}}, {{10, 10, 10}}), options),
      InvalidInput);
}

}  // namespace
}  // namespace nnuc::planner
