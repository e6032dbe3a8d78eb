// Synthetic datasets: determinism, preset fingerprints, partial volume (the generator, nnuc::Rng, is
// tested in tests/kernels/random_test.cpp).
#include "data/synth/synth.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "data/dataset/verification.h"
#include "data/synth/structures.h"
#include "kernels/core/error.h"
#include "tests/data/raw_dataset_fixture.h"
#include "tests/support/test_support.h"

namespace nnuc::data::synth {
namespace {

namespace fs = std::filesystem;
using testing::TempFolder;

std::map<std::string, std::string> folder_bytes(const std::string& root) {
  std::map<std::string, std::string> files;
  for (const fs::directory_entry& entry : fs::recursive_directory_iterator(root)) {
    if (entry.is_regular_file())
      files[fs::relative(entry.path(), root).string()] = testing::read_bytes(entry.path().string());
  }
  return files;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

TEST(SynthStructures, EdgesArePartialVolumesAlongTheNormal) {
  // A sphere of radius 6 mm in a grid with 1 mm in-plane and 3 mm slices: fractions are exact 0 / 1
  // far from the surface, intermediate at it, and the 3 mm axis has the wider ramp.
  Canvas canvas({15, 31, 31}, {3.0, 1.0, 1.0}, {0.0});
  Ellipsoid sphere;
  sphere.center = {21.0, 15.0, 15.0};
  sphere.radii = {6.0, 6.0, 6.0};
  paint_ellipsoid(canvas, sphere, Appearance{{1.0}, 1});
  auto at = [&](std::int64_t k, std::int64_t j, std::int64_t i) {
    return canvas.channels[0][static_cast<std::size_t>((k * 31 + j) * 31 + i)];
  };
  EXPECT_FLOAT_EQ(at(7, 15, 15), 1.0f);
  EXPECT_FLOAT_EQ(at(7, 15, 0), 0.0f);
  // In-plane surface at i = 15 ± 6: voxel 21 (distance 0) is half inside.
  EXPECT_NEAR(at(7, 15, 21), 0.5, 1e-6);
  EXPECT_NEAR(at(7, 15, 20), 1.0, 1e-6);  // 1 mm inside with a 1 mm wide voxel: fully inside
  // Along a0 the surface is at 21 ± 6 mm = slice 5 (15 mm) exactly -> 0.5; slice 9 (27 mm) also.
  EXPECT_NEAR(at(5, 15, 15), 0.5, 1e-6);
  EXPECT_NEAR(at(9, 15, 15), 0.5, 1e-6);
  int partial = 0;
  for (float v : canvas.channels[0]) partial += v > 0.02f && v < 0.98f;
  EXPECT_GT(partial, 100);
  // Labels follow the 0.5 threshold.
  EXPECT_EQ(canvas.labels[static_cast<std::size_t>((7 * 31 + 15) * 31 + 15)], 1);
  EXPECT_EQ(canvas.labels[static_cast<std::size_t>((7 * 31 + 15) * 31 + 22)], 0);
}

TEST(SynthStructures, TubeSplitsItsLabelAlongTheCenterline) {
  Canvas canvas({20, 40, 20}, {1.0, 1.0, 1.0}, {0.0});
  Tube tube;
  tube.centerline = {{10, 5, 10}, {10, 20, 10}, {10, 35, 10}};
  tube.radii = {3, 3, 3};
  Appearance look{{2.0}, 1};
  look.split_at = 0.5;
  look.label_after_split = 2;
  paint_tube(canvas, tube, look);
  const std::vector<std::int64_t> counts = count_labels(canvas, 2);
  EXPECT_GT(counts[1], 200);
  EXPECT_GT(counts[2], 200);
  EXPECT_EQ(canvas.labels[static_cast<std::size_t>((10 * 40 + 10) * 20 + 10)], 1);
  EXPECT_EQ(canvas.labels[static_cast<std::size_t>((10 * 40 + 30) * 20 + 10)], 2);
}

TEST(Synth, SameSeedGivesIdenticalBytes) {
  SynthConfig config = synth_preset("tiny");
  config.seed = testing::test_seed();
  config.num_cases = 3;
  config.num_test_cases = 1;
  config.threads = 2;
  TempFolder a, b;
  write_synthetic_dataset(config, a.path());
  config.threads = 1;  // thread count must not matter
  write_synthetic_dataset(config, b.path());
  const auto first = folder_bytes(a.path()), second = folder_bytes(b.path());
  EXPECT_EQ(first.size(), 3u * 2 + 2 + 1);  // images + labels, one test image + its label, dataset.json
  EXPECT_TRUE(first == second);
  config.seed += 1;
  TempFolder c;
  write_synthetic_dataset(config, c.path());
  const auto third = folder_bytes(c.path());
  EXPECT_NE(first.at("imagesTr/case_000_0000.nii.gz"), third.at("imagesTr/case_000_0000.nii.gz"));
}

TEST(Synth, CaseDependsOnlyOnSeedAndIndex) {
  SynthConfig config = synth_preset("tiny");
  config.seed = testing::test_seed();
  const SynthCase small = generate_synthetic_case(config, 2);
  config.num_cases = 40;
  const SynthCase large = generate_synthetic_case(config, 2);
  EXPECT_EQ(small.channels[0].to_vector<float>(), large.channels[0].to_vector<float>());
  EXPECT_EQ(small.label.to_vector<std::int16_t>(), large.label.to_vector<std::int16_t>());
}

TEST(Synth, TinyPresetPassesVerification) {
  SynthConfig config = synth_preset("tiny");
  config.seed = testing::test_seed();
  TempFolder root;
  const std::string folder = root / synthetic_dataset_folder_name(config);
  write_synthetic_dataset(config, folder);
  const VerificationReport report = verify_dataset(folder);
  EXPECT_TRUE(report.ok()) << report.summary();
  EXPECT_EQ(report.num_warnings(), 0u) << report.summary();
  EXPECT_EQ(report.num_cases_read, 5u);
  const DatasetJson json = load_dataset_json(folder + "/dataset.json");
  EXPECT_EQ(json.all_labels(), (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(json.other["nnuc_synth"]["seed"], config.seed);
}

TEST(Synth, GenericOptionsPassVerification) {
  // Anisotropic CT, 2 channels, 3 classes (ellipsoid, nested, tube), an ignore label, plain .nii.
  SynthConfig config = synth_preset("tiny");
  config.seed = testing::test_seed();
  config.modality = Modality::ct;
  config.num_channels = 2;
  config.num_classes = 3;
  config.num_cases = 3;
  config.num_test_cases = 2;
  config.shape_min = {12, 40, 40};
  config.shape_max = {14, 44, 44};
  config.spacing_min = {3.0, 0.7, 0.7};
  config.spacing_max = {4.0, 0.9, 0.9};
  config.noise = 10;
  config.ignore_label = true;
  config.file_ending = ".nii";
  TempFolder root;
  write_synthetic_dataset(config, root.path());
  const VerificationReport report = verify_dataset(root.path());
  EXPECT_TRUE(report.ok()) << report.summary();
  const DatasetJson json = load_dataset_json(root / "dataset.json");
  EXPECT_EQ(json.ignore_label(), 4);
  EXPECT_EQ(json.channel_names, (std::vector<std::string>{"CT", "CT"}));
  const SynthCase one = generate_synthetic_case(config, 1);
  const std::vector<std::int16_t> labels = one.label.to_vector<std::int16_t>();
  std::set<int> present(labels.begin(), labels.end());
  EXPECT_EQ(present, (std::set<int>{0, 1, 2, 3, 4}));
  const std::vector<float> ct = one.channels[0].to_vector<float>();
  for (float v : ct) ASSERT_EQ(v, std::nearbyint(v));                  // integer Hounsfield units
  EXPECT_EQ(*std::min_element(ct.begin(), ct.end()) < -900.0f, true);  // air
  EXPECT_EQ(one.geometry.spacing[1], one.geometry.spacing[2]);         // square pixels
  EXPECT_GE(one.geometry.spacing[0], 3.0);
}

TEST(Synth, HippocampusPresetMimicsTask04) {
  const SynthConfig config = synth_preset("hippocampus");
  EXPECT_EQ(config.num_cases, 260);
  std::array<std::vector<double>, 3> sizes;
  for (int i = 0; i < config.num_cases; ++i) {
    const CaseGeometryPlan plan = plan_case_geometry(config, i);
    for (int a = 0; a < 3; ++a) {
      sizes[static_cast<std::size_t>(a)].push_back(static_cast<double>(plan.shape[a]));
      EXPECT_EQ(plan.spacing[a], 1.0);
    }
  }
  EXPECT_NEAR(median(sizes[0]), 36, 1.0);
  EXPECT_NEAR(median(sizes[1]), 50, 1.0);
  EXPECT_NEAR(median(sizes[2]), 35, 1.0);
  const SynthCase one = generate_synthetic_case(config, 0);
  const std::vector<std::int16_t> labels = one.label.to_vector<std::int16_t>();
  const auto anterior = std::count(labels.begin(), labels.end(), 1);
  const auto posterior = std::count(labels.begin(), labels.end(), 2);
  EXPECT_GT(anterior, 300);  // Task04 hippocampi are ~1-3 thousand voxels per part
  EXPECT_GT(posterior, 300);
  EXPECT_LT(anterior + posterior, 8000);
  const std::vector<float> mri = one.channels[0].to_vector<float>();
  EXPECT_GT(*std::min_element(mri.begin(), mri.end()), 0.0f);  // Rician magnitude: positive
  const DatasetJson json = synthetic_dataset_json(config);
  EXPECT_EQ(json.labels[1].name, "Anterior");
  EXPECT_EQ(json.labels[2].name, "Posterior");
  EXPECT_EQ(json.channel_names, std::vector<std::string>{"MRI"});
}

TEST(Synth, SpleenPresetMimicsTask09) {
  const SynthConfig config = synth_preset("spleen");
  EXPECT_EQ(config.num_cases, 41);
  std::vector<double> z_spacing, in_plane, slices;
  for (int i = 0; i < config.num_cases; ++i) {
    const CaseGeometryPlan plan = plan_case_geometry(config, i);
    z_spacing.push_back(plan.spacing[0]);
    in_plane.push_back(plan.spacing[1]);
    slices.push_back(static_cast<double>(plan.shape[0]));
    EXPECT_EQ(plan.shape[1], 512);
    EXPECT_EQ(plan.shape[2], 512);
    EXPECT_EQ(plan.spacing[1], plan.spacing[2]);
    EXPECT_GE(plan.spacing[1], 0.61);
    EXPECT_LE(plan.spacing[1], 0.98);
    EXPECT_GE(plan.shape[0], 31);
    EXPECT_LE(plan.shape[0], 168);
  }
  EXPECT_EQ(median(z_spacing), 5.0);
  // Anisotropic by nnU-Net's rule: worst spacing > 3x the others, and thin slices exist.
  EXPECT_GT(median(z_spacing), 3 * median(in_plane));
  EXPECT_LT(*std::min_element(z_spacing.begin(), z_spacing.end()), 3.0);
  EXPECT_LT(3 * median(slices), 512);
  // One case at a reduced in-plane size (the anatomy scales with the field of view).
  SynthConfig small = config;
  small.shape_min = {31, 96, 96};
  small.shape_max = {60, 96, 96};
  const SynthCase one = generate_synthetic_case(small, 3);
  const std::vector<std::int16_t> labels = one.label.to_vector<std::int16_t>();
  EXPECT_GT(std::count(labels.begin(), labels.end(), 1), 50);
  const std::vector<float> ct = one.channels[0].to_vector<float>();
  EXPECT_LE(*std::min_element(ct.begin(), ct.end()), -950.0f);
  EXPECT_GE(*std::max_element(ct.begin(), ct.end()), 300.0f);  // bone
}

TEST(Synth, BadConfigurationsAreRejected) {
  SynthConfig config = synth_preset("tiny");
  config.num_cases = 0;
  EXPECT_THROW(validate_synth_config(config), InvalidInput);
  config = synth_preset("hippocampus");
  config.num_classes = 3;
  EXPECT_THROW(validate_synth_config(config), InvalidInput);
  config = synth_preset("tiny");
  config.spacing_min = {1, 0, 1};
  EXPECT_THROW(validate_synth_config(config), InvalidInput);
  config = synth_preset("tiny");
  config.file_ending = ".png";
  EXPECT_THROW(validate_synth_config(config), InvalidInput);
  EXPECT_THROW(synth_preset("liver"), InvalidInput);
}

TEST(Synth, RefusesToOverwriteForeignFolders) {
  TempFolder root;
  testing::write_bytes(root / "important.txt", "keep me");
  SynthConfig config = synth_preset("tiny");
  EXPECT_THROW(write_synthetic_dataset(config, root.path()), InvalidInput);
  EXPECT_TRUE(fs::exists(root / "important.txt"));
  // A folder written by synth may be rewritten; stale cases of a larger run disappear.
  TempFolder out;
  config.num_cases = 4;
  config.num_test_cases = 0;
  write_synthetic_dataset(config, out.path());
  config.num_cases = 2;
  write_synthetic_dataset(config, out.path());
  EXPECT_FALSE(fs::exists(out / "imagesTr/case_003_0000.nii.gz"));
  EXPECT_TRUE(verify_dataset(out.path()).ok());
}

}  // namespace
}  // namespace nnuc::data::synth
