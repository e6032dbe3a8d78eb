// Dataset verification finds injected problems: every kind, many at once, all reported with paths.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "data/dataset/verification.h"
#include "data/nifti/nifti_io.h"
#include "data/synth/synth.h"
#include "tests/data/raw_dataset_fixture.h"
#include "tests/support/test_support.h"

namespace nnuc::data {
namespace {

namespace fs = std::filesystem;
using testing::TempFolder;

// A valid 2-channel dataset of `cases` tiny cases (fresh seed) in `folder`.
void write_valid_dataset(const std::string& folder, int cases, int channels = 2) {
  synth::SynthConfig config = synth::synth_preset("tiny");
  config.seed = testing::test_seed();
  config.num_cases = cases;
  config.num_test_cases = 0;
  config.num_channels = channels;
  config.shape_min = {16, 18, 17};
  config.shape_max = {16, 18, 17};
  synth::write_synthetic_dataset(config, folder);
}

std::string image_path(const std::string& folder, const std::string& id, int channel) {
  return folder + "/imagesTr/" + id + "_000" + std::to_string(channel) + ".nii.gz";
}
std::string label_path(const std::string& folder, const std::string& id) {
  return folder + "/labelsTr/" + id + ".nii.gz";
}

// Rewrites a file's voxels as float32 with `edit` applied, keeping (or replacing) its geometry.
template <typename Edit>
void rewrite_as_float(const std::string& source, const std::string& target, Edit edit) {
  NiftiImage image = read_nifti(source);
  Tensor volume = image.voxels.reshape(Shape{image.voxels.dim(1), image.voxels.dim(2), image.voxels.dim(3)}).to_cpu();
  NiftiGeometry geometry = image.geometry;
  edit(volume, geometry);
  write_nifti_image(target, volume, geometry);
}

bool reported(const VerificationReport& report, const std::string& code, const std::string& path, Severity severity) {
  for (const Problem& p : report.problems) {
    if (p.code == code && p.path == path) {
      EXPECT_EQ(p.severity, severity) << problem_to_string(p);
      return true;
    }
  }
  return false;
}

TEST(VerifyProblems, ManyInjectedProblemsAreAllReportedWithTheirPaths) {
  TempFolder root;
  const std::string d = root.path();
  write_valid_dataset(d, 8);

  // case_000: NaN and Inf in channel 1.
  rewrite_as_float(image_path(d, "case_000", 1), image_path(d, "case_000", 1), [](Tensor& v, NiftiGeometry&) {
    v.data<float>()[5] = std::numeric_limits<float>::quiet_NaN();
    v.data<float>()[17] = std::numeric_limits<float>::infinity();
  });
  // case_001: a float label with a fraction and an undeclared value.
  rewrite_as_float(label_path(d, "case_001"), label_path(d, "case_001"), [](Tensor& v, NiftiGeometry&) {
    v.data<float>()[3] = 0.5f;
    v.data<float>()[4] = 7.0f;
  });
  // case_002: channel 1 missing.
  fs::remove(image_path(d, "case_002", 1));
  // case_003: label with another shape, channel 1 with another spacing.
  {
    NiftiLabel label = read_nifti_label(label_path(d, "case_003"));
    const auto shape = label.geometry.shape();
    Tensor smaller = Tensor::empty_cpu(Shape{shape[0], shape[1], shape[2] - 1}, DType::i16);
    std::fill(smaller.data<std::int16_t>(), smaller.data<std::int16_t>() + smaller.numel(), std::int16_t{1});
    write_nifti_label(label_path(d, "case_003"), smaller,
                      testing::test_geometry({shape[0], shape[1], shape[2] - 1}, label.geometry.spacing));
  }
  rewrite_as_float(image_path(d, "case_003", 1), image_path(d, "case_003", 1), [](Tensor& v, NiftiGeometry& g) {
    g = testing::test_geometry({v.dim(0), v.dim(1), v.dim(2)}, {1.0, 1.5, 1.0}, g.origin);
  });
  // case_004: label origin shifted (warning), channel 1 direction swapped (warning).
  rewrite_as_float(label_path(d, "case_004"), label_path(d, "case_004"), [](Tensor& v, NiftiGeometry& g) {
    g = testing::test_geometry({v.dim(0), v.dim(1), v.dim(2)}, g.spacing,
                               {g.origin[0] + 2.0, g.origin[1], g.origin[2]});
  });
  rewrite_as_float(image_path(d, "case_004", 1), image_path(d, "case_004", 1), [](Tensor& v, NiftiGeometry& g) {
    g = testing::test_geometry({v.dim(0), v.dim(1), v.dim(2)}, g.spacing, g.origin,
                               {{{0, 1, 0}, {1, 0, 0}, {0, 0, 1}}});
  });
  // case_005: label missing.
  fs::remove(label_path(d, "case_005"));
  // case_006: channel 0 is garbage, channel 1 is a 4-D file.
  testing::write_bytes(image_path(d, "case_006", 0), "this is not a NIfTI file at all");
  {
    NiftiImage reference = read_nifti(image_path(d, "case_006", 1));
    const auto shape = reference.geometry.shape();  // (a0, a1, a2); file dims are (i, j, k) = (a2, a1, a0)
    std::vector<float> two_volumes(static_cast<std::size_t>(2 * shape[0] * shape[1] * shape[2]), 3.0f);
    testing::write_raw_nifti_f32(
        image_path(d, "case_006", 1), {shape[2], shape[1], shape[0], 2},
        {reference.geometry.spacing[2], reference.geometry.spacing[1], reference.geometry.spacing[0]}, two_volumes,
        reference.geometry.origin);
  }
  // case_007: an unexpected third channel, and an all-background label.
  fs::copy_file(image_path(d, "case_007", 0), image_path(d, "case_007", 2));
  rewrite_as_float(label_path(d, "case_007"), label_path(d, "case_007"),
                   [](Tensor& v, NiftiGeometry&) { std::fill(v.data<float>(), v.data<float>() + v.numel(), 0.0f); });
  // Stray files, wrong ending, bad name, orphan label; numTraining off by one.
  testing::write_bytes(d + "/imagesTr/readme.txt", "notes");
  fs::copy_file(image_path(d, "case_007", 0), d + "/imagesTr/case_008_0000.nii");
  fs::copy_file(image_path(d, "case_007", 0), d + "/imagesTr/case.nii.gz");
  fs::copy_file(label_path(d, "case_000"), d + "/labelsTr/orphan.nii.gz");
  {
    std::string json = testing::read_bytes(d + "/dataset.json");
    const std::size_t at = json.find("\"numTraining\": 8");
    ASSERT_NE(at, std::string::npos);
    json.replace(at, 16, "\"numTraining\": 9");
    testing::write_bytes(d + "/dataset.json", json);
  }

  VerifyOptions options;
  options.threads = 3;
  std::size_t progress_calls = 0;
  options.progress = [&](std::size_t done, std::size_t total) {
    ++progress_calls;
    EXPECT_LE(done, total);
  };
  const VerificationReport report = verify_dataset(d, options);
  EXPECT_FALSE(report.ok());
  EXPECT_EQ(report.num_cases_found, 8u);
  EXPECT_EQ(report.num_cases_read, 8u);
  EXPECT_EQ(progress_calls, 8u);

  const Severity E = Severity::error, W = Severity::warning;
  EXPECT_TRUE(reported(report, "image_nan", image_path(d, "case_000", 1), E));
  EXPECT_TRUE(reported(report, "image_inf", image_path(d, "case_000", 1), E));
  EXPECT_TRUE(reported(report, "label_not_integer", label_path(d, "case_001"), E));
  EXPECT_TRUE(reported(report, "label_unexpected_values", label_path(d, "case_001"), E));
  EXPECT_TRUE(reported(report, "missing_channel", image_path(d, "case_002", 1), E));
  EXPECT_TRUE(reported(report, "shape_mismatch", label_path(d, "case_003"), E));
  EXPECT_TRUE(reported(report, "spacing_mismatch", image_path(d, "case_003", 1), E));
  EXPECT_TRUE(reported(report, "origin_mismatch", label_path(d, "case_004"), W));
  EXPECT_TRUE(reported(report, "direction_mismatch", image_path(d, "case_004", 1), W));
  EXPECT_TRUE(reported(report, "missing_label", label_path(d, "case_005"), E));
  EXPECT_TRUE(reported(report, "unreadable_file", image_path(d, "case_006", 0), E));
  EXPECT_TRUE(reported(report, "image_not_3d", image_path(d, "case_006", 1), E));
  EXPECT_TRUE(reported(report, "unexpected_channel", image_path(d, "case_007", 2), E));
  EXPECT_TRUE(reported(report, "label_all_background", label_path(d, "case_007"), W));
  EXPECT_TRUE(reported(report, "stray_file", d + "/imagesTr/readme.txt", W));
  EXPECT_TRUE(reported(report, "file_ending_mismatch", d + "/imagesTr/case_008_0000.nii", E));
  EXPECT_TRUE(reported(report, "bad_file_name", d + "/imagesTr/case.nii.gz", E));
  EXPECT_TRUE(reported(report, "label_without_images", d + "/labelsTr/orphan.nii.gz", W));
  EXPECT_TRUE(reported(report, "num_training_mismatch", d + "/dataset.json", E));

  // Messages carry the facts: values found, what was expected.
  for (const Problem& p : report.with_code("label_unexpected_values")) {
    EXPECT_NE(p.message.find("7"), std::string::npos) << p.message;
    EXPECT_NE(p.message.find("[0, 1, 2]"), std::string::npos) << p.message;
    EXPECT_EQ(p.case_id, "case_001");
  }
  for (const Problem& p : report.with_code("num_training_mismatch")) {
    EXPECT_NE(p.message.find("9"), std::string::npos);
    EXPECT_NE(p.message.find("8"), std::string::npos);
  }
  // Healthy cases produce nothing but their own problems; no duplicates.
  std::set<std::string> keys;
  for (const Problem& p : report.problems) EXPECT_TRUE(keys.insert(p.code + "|" + p.path + "|" + p.message).second);

  // The JSON report and the summary carry every problem.
  const nlohmann::ordered_json json = report.to_json();
  EXPECT_EQ(json["ok"], false);
  EXPECT_EQ(json["problems"].size(), report.problems.size());
  EXPECT_EQ(json["errors"], report.num_errors());
  const std::string summary = report.summary(1000);
  for (const Problem& p : report.problems) EXPECT_NE(summary.find(p.path), std::string::npos) << p.path;
  EXPECT_NE(summary.find("NOT OK"), std::string::npos);
}

TEST(VerifyProblems, DatasetJsonProblemsDoNotHideCaseProblems) {
  TempFolder root;
  const std::string d = root.path();
  write_valid_dataset(d, 2, 1);
  testing::write_bytes(d + "/dataset.json", R"({"channel_names": {"0": "T1"},
      "labels": {"background": 0, "a": 1, "b": 3}, "numTraining": 2, "file_ending": ".nii.gz"})");
  rewrite_as_float(image_path(d, "case_001", 0), image_path(d, "case_001", 0),
                   [](Tensor& v, NiftiGeometry&) { v.data<float>()[0] = std::numeric_limits<float>::quiet_NaN(); });
  const VerificationReport report = verify_dataset(d);
  EXPECT_EQ(report.with_code("labels_not_consecutive").size(), 1u);
  EXPECT_TRUE(reported(report, "image_nan", image_path(d, "case_001", 0), Severity::error));
  EXPECT_TRUE(report.with_code("label_unexpected_values").empty());  // unknown expectations: not guessed
}

TEST(VerifyProblems, DatasetDictDuplicatesAndMissingFiles) {
  TempFolder root;
  const std::string d = root.path();
  write_valid_dataset(d, 2, 1);
  ::setenv("NNUC_TEST_VERIFY_ROOT", d.c_str(), 1);
  testing::write_bytes(d + "/dataset.json",
                       R"({"channel_names": {"0": "T1"}, "labels": {"background": 0, "a": 1, "b": 2},
      "numTraining": 3, "file_ending": ".nii.gz", "dataset": {
        "one": {"images": ["imagesTr/case_000_0000.nii.gz"], "label": "labelsTr/case_000.nii.gz"},
        "one": {"images": ["imagesTr/case_001_0000.nii.gz"], "label": "labelsTr/case_001.nii.gz"},
        "One": {"images": ["$NNUC_TEST_VERIFY_ROOT/imagesTr/case_001_0000.nii.gz"], "label": "labelsTr/nothing.nii.gz"},
        "two": {"images": ["imagesTr/absent_0000.nii.gz"], "label": "labelsTr/case_001.nii.gz"}}})");
  const VerificationReport report = verify_dataset(d);
  EXPECT_FALSE(report.ok());
  EXPECT_EQ(report.with_code("duplicate_case_id").size(), 2u);  // exact duplicate (error), case collision (warning)
  EXPECT_TRUE(reported(report, "missing_label", d + "/labelsTr/nothing.nii.gz", Severity::error));
  EXPECT_TRUE(reported(report, "missing_image", d + "/imagesTr/absent_0000.nii.gz", Severity::error));
  EXPECT_TRUE(reported(report, "shared_file", d + "/imagesTr/case_001_0000.nii.gz", Severity::warning));
  EXPECT_TRUE(report.with_code("num_training_mismatch").empty());  // 3 entries survive JSON parsing
}

TEST(VerifyProblems, MissingFoldersAndFiles) {
  TempFolder root;
  VerificationReport none = verify_dataset(root / "nothing_here");
  ASSERT_EQ(none.problems.size(), 1u);
  EXPECT_EQ(none.problems[0].code, "dataset_folder_missing");
  VerificationReport empty = verify_dataset(root.path());
  ASSERT_EQ(empty.problems.size(), 1u);
  EXPECT_EQ(empty.problems[0].code, "dataset_json_missing");
  testing::write_bytes(root / "dataset.json", R"({"channel_names": {"0": "T1"}, "labels": {"background": 0, "a": 1},
      "numTraining": 1, "file_ending": ".nii.gz"})");
  VerificationReport folders = verify_dataset(root.path());
  EXPECT_EQ(folders.with_code("folder_missing").size(), 2u);
  fs::create_directories(root / "imagesTr");
  fs::create_directories(root / "labelsTr");
  VerificationReport no_cases = verify_dataset(root.path());
  EXPECT_EQ(no_cases.with_code("no_cases").size(), 1u);
  EXPECT_EQ(no_cases.with_code("num_training_mismatch").size(), 1u);
}

TEST(VerifyProblems, LabelsBeyondUint16AndNegativeValues) {
  TempFolder root;
  const std::string d = root.path();
  write_valid_dataset(d, 1, 1);
  rewrite_as_float(label_path(d, "case_000"), label_path(d, "case_000"), [](Tensor& v, NiftiGeometry&) {
    v.data<float>()[0] = 70000.0f;
    v.data<float>()[1] = -1.0f;
  });
  const VerificationReport report = verify_dataset(d);
  EXPECT_TRUE(reported(report, "label_value_out_of_range", label_path(d, "case_000"), Severity::error));
  EXPECT_TRUE(reported(report, "label_unexpected_values", label_path(d, "case_000"), Severity::error));
}

}  // namespace
}  // namespace nnuc::data
