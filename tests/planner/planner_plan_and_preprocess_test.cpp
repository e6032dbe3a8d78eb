// plan_and_preprocess (`nnuc plan`): a synthetic tiny dataset verified, fingerprinted, planned with the
// exact memory model and preprocessed, every output parsed back; a dataset that fails verification
// refused unless verification is switched off; planning from a fingerprint alone; gt_segmentations/
// copies; an existing fingerprint reused only while the raw dataset it was made from is unchanged; a
// refused plan from a fingerprint writes nothing; the fingerprint alone, and plans from it later.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>

#include "data/dataset/atomic_file.h"
#include "data/preprocess/preprocess_dataset.h"
#include "data/preprocess/store.h"
#include "data/synth/synth.h"
#include "planner/plan_and_preprocess.h"
#include "tests/data/raw_dataset_fixture.h"
#include "tests/planner/planner_fixtures.h"
#include "tests/support/test_support.h"

namespace nnuc::planner {
namespace {

namespace fs = std::filesystem;
using testing::TempFolder;

// Writes the tiny synthetic preset into root/raw/Dataset900_SynthTiny and returns the folder.
std::string write_tiny_dataset(const TempFolder& root) {
  data::synth::SynthConfig config = data::synth::synth_preset("tiny");
  config.threads = 2;
  const std::string folder = root / ("raw/" + data::synth::synthetic_dataset_folder_name(config));
  data::synth::write_synthetic_dataset(config, folder);
  return folder;
}

std::size_t count_files(const std::string& folder, const std::string& ending) {
  std::size_t count = 0;
  for (const auto& entry : fs::directory_iterator(folder)) {
    const std::string name = entry.path().filename().string();
    if (name.size() >= ending.size() && name.compare(name.size() - ending.size(), ending.size(), ending) == 0) ++count;
  }
  return count;
}

TEST(PlanAndPreprocess, TinySyntheticDatasetEndToEnd) {
  TempFolder root;
  PlanAndPreprocessOptions options;
  options.raw_dataset_folder = write_tiny_dataset(root);
  options.preprocessed_root = root / "preprocessed";
  options.gpu_memory_gb = 8.0;
  options.workers = 2;
  const PlanAndPreprocessResult result = plan_and_preprocess(options);
  ASSERT_FALSE(result.refused) << result.verification->summary();
  ASSERT_TRUE(result.verification.has_value());
  EXPECT_TRUE(result.verification->ok());

  const std::string out = root / "preprocessed/Dataset900_SynthTiny";
  EXPECT_EQ(result.output_folder, out);
  EXPECT_EQ(result.plans_file, out + "/nnUNetPlans.json");
  EXPECT_NO_THROW(data::load_dataset_json(out + "/dataset.json"));
  EXPECT_EQ(data::read_fingerprint(out + "/dataset_fingerprint.json").spacings.size(), 5u);

  const nlohmann::ordered_json plans = data::read_json_file(out + "/nnUNetPlans.json");
  EXPECT_EQ(plans.at("dataset_name"), "Dataset900_SynthTiny");
  for (const std::string name : {"2d", "3d_fullres"}) {
    SCOPED_TRACE(name);
    const nlohmann::ordered_json& configuration = plans.at("configurations").at(name);
    EXPECT_EQ(configuration.at("memory_model"), "exact");
    EXPECT_EQ(configuration.at("memory_budget_bytes").get<std::uint64_t>(), 8ull << 30);
    EXPECT_LE(configuration.at("predicted_peak_bytes").get<std::uint64_t>(), 8ull << 30);
    EXPECT_GT(configuration.at("predicted_peak_bytes").get<std::uint64_t>(), nn::kCudaFixedOverheadBytes);
    const std::string folder = out + "/" + configuration.at("data_identifier").get<std::string>();
    EXPECT_EQ(count_files(folder, ".nnuc"), 5u);
    const data::PreprocessedCaseFile file =
        data::PreprocessedCaseFile::open(data::preprocessed_case_path(folder, "case_000"));
    EXPECT_EQ(file.data().shape.rank(), 4);
    EXPECT_EQ(file.data().shape[0], 1);
    EXPECT_FALSE(file.properties().class_locations.empty());
  }
  EXPECT_FALSE(plans.at("configurations").contains("3d_lowres"));  // ~32^3 images need no lowres stage
  ASSERT_EQ(result.configurations.size(), 2u);
  for (const ConfigurationOutcome& outcome : result.configurations) {
    EXPECT_EQ(outcome.cases_preprocessed, 5u);
    EXPECT_NE(configuration_summary(outcome.name, outcome.plan).find("GiB (exact)"), std::string::npos);
  }
  ASSERT_TRUE(result.exact_model_statistics.has_value());
  EXPECT_GT(result.exact_model_statistics->meta_runs, 0u);
  EXPECT_EQ(result.fingerprint_note, "extracted");
  EXPECT_FALSE(result.fingerprint_reused);
  EXPECT_TRUE(fs::exists(out + "/nnuc_fingerprint_source.json"));
  EXPECT_EQ(result.ground_truth_folder, out + "/gt_segmentations");
  EXPECT_EQ(result.ground_truth_copied, 5u);
  EXPECT_EQ(count_files(out + "/gt_segmentations", ".nii.gz"), 5u);
  EXPECT_EQ(testing::read_bytes(out + "/gt_segmentations/case_000.nii.gz"),
            testing::read_bytes(options.raw_dataset_folder + "/labelsTr/case_000.nii.gz"));

  // Again, planning only and only 3d_fullres asked for: the verification record is reused.
  options.preprocess = false;
  options.configurations = {"3d_fullres"};
  const PlanAndPreprocessResult again = plan_and_preprocess(options);
  EXPECT_FALSE(again.refused);
  EXPECT_FALSE(again.verification.has_value());
  EXPECT_NE(again.verification_note.find("verified earlier"), std::string::npos);
  EXPECT_EQ(again.fingerprint_note, "reused (unchanged dataset)");
  EXPECT_TRUE(again.ground_truth_folder.empty());  // --no-preprocess copies no labels
  for (const ConfigurationOutcome& outcome : again.configurations) EXPECT_EQ(outcome.cases_preprocessed, 0u);
}

// The tiny dataset written into root, planned into root/preprocessed with the fast nnunet memory model.
PlanAndPreprocessOptions tiny_dataset_options(const TempFolder& root) {
  PlanAndPreprocessOptions options;
  options.raw_dataset_folder = write_tiny_dataset(root);
  options.preprocessed_root = root / "preprocessed";
  options.memory_model = MemoryModelKind::nnunet;
  options.workers = 2;
  options.fingerprint_samples = 1e5;  // reuse and label copies do not depend on the statistics
  return options;
}

TEST(PlanAndPreprocess, ReusesTheFingerprintOnlyWhileTheRawDatasetIsUnchanged) {
  TempFolder root;
  PlanAndPreprocessOptions options = tiny_dataset_options(root);
  options.preprocess = false;
  const std::string out = root / "preprocessed/Dataset900_SynthTiny";
  const std::string fingerprint = out + "/dataset_fingerprint.json";
  std::vector<std::string> log;
  options.log = [&log](const std::string& line) { log.push_back(line); };
  const auto logged = [&log](const std::string& text) {
    return std::any_of(log.begin(), log.end(),
                       [&text](const std::string& line) { return line.find(text) != std::string::npos; });
  };

  EXPECT_EQ(plan_and_preprocess(options).fingerprint_note, "extracted");
  const std::string extracted = testing::read_bytes(fingerprint);

  log.clear();
  const PlanAndPreprocessResult reused = plan_and_preprocess(options);
  EXPECT_TRUE(reused.fingerprint_reused);
  EXPECT_EQ(reused.fingerprint_note, "reused (unchanged dataset)");
  EXPECT_TRUE(logged("reusing " + fingerprint));
  EXPECT_EQ(testing::read_bytes(fingerprint), extracted);

  // --clean always extracts.
  options.clean = true;
  EXPECT_EQ(plan_and_preprocess(options).fingerprint_note, "extracted (--clean)");
  options.clean = false;
  EXPECT_TRUE(plan_and_preprocess(options).fingerprint_reused);

  // A case file rewritten (here: only its modification time) is a different raw dataset.
  const std::string label = options.raw_dataset_folder + "/labelsTr/case_002.nii.gz";
  fs::last_write_time(label, fs::last_write_time(label) + std::chrono::hours(1));
  log.clear();
  const PlanAndPreprocessResult changed = plan_and_preprocess(options);
  EXPECT_FALSE(changed.fingerprint_reused);
  EXPECT_EQ(changed.fingerprint_note, "extracted (the raw dataset changed since the existing fingerprint was made)");
  EXPECT_TRUE(logged("extracting the fingerprint of 5 cases (the raw dataset changed"));
  EXPECT_TRUE(plan_and_preprocess(options).fingerprint_reused);

  // A fingerprint edited after extraction, or one without a source record (e.g. nnU-Net's), is not trusted.
  nlohmann::ordered_json edited = data::read_json_file(fingerprint);
  edited["median_relative_size_after_cropping"] = 0.5;
  data::write_file_atomic(fingerprint, edited.dump(4));
  EXPECT_EQ(plan_and_preprocess(options).fingerprint_note,
            "extracted (dataset_fingerprint.json was changed after it was extracted)");
  EXPECT_EQ(testing::read_bytes(fingerprint), extracted);
  fs::remove(out + "/nnuc_fingerprint_source.json");
  EXPECT_NE(plan_and_preprocess(options).fingerprint_note.find("has no nnuc_fingerprint_source.json"),
            std::string::npos);
  EXPECT_TRUE(plan_and_preprocess(options).fingerprint_reused);
}

TEST(PlanAndPreprocess, CopiesTheTrainingLabelsToGtSegmentations) {
  TempFolder root;
  PlanAndPreprocessOptions options = tiny_dataset_options(root);
  options.configurations = {"2d"};
  const std::string gt = root / "preprocessed/Dataset900_SynthTiny/gt_segmentations";
  const PlanAndPreprocessResult first = plan_and_preprocess(options);
  EXPECT_EQ(first.ground_truth_copied, 5u);
  EXPECT_EQ(first.ground_truth_unchanged, 0u);
  for (const std::string id : {"case_000", "case_001", "case_002", "case_003", "case_004"}) {
    SCOPED_TRACE(id);
    EXPECT_EQ(testing::read_bytes(gt + "/" + id + ".nii.gz"),
              testing::read_bytes(options.raw_dataset_folder + "/labelsTr/" + id + ".nii.gz"));
  }

  // Identical copies are left alone (not even rewritten); a damaged one is replaced; no temp files remain.
  const auto untouched_time = fs::last_write_time(gt + "/case_000.nii.gz");
  testing::write_bytes(gt + "/case_003.nii.gz", "not a label");
  const PlanAndPreprocessResult second = plan_and_preprocess(options);
  EXPECT_TRUE(second.fingerprint_reused);
  EXPECT_EQ(second.ground_truth_copied, 1u);
  EXPECT_EQ(second.ground_truth_unchanged, 4u);
  EXPECT_EQ(fs::last_write_time(gt + "/case_000.nii.gz"), untouched_time);
  EXPECT_EQ(testing::read_bytes(gt + "/case_003.nii.gz"),
            testing::read_bytes(options.raw_dataset_folder + "/labelsTr/case_003.nii.gz"));
  EXPECT_EQ(count_files(gt, ""), 5u);
}

// -c 3d_cascade_fullres as nnU-Net reads it: the cascade inherits 3d_fullres's data identifier, so with
// a cascade in the plans it preprocesses 3d_fullres; without one (the tiny images under a normal
// budget need no lowres stage) it preprocesses nothing and says why.
TEST(PlanAndPreprocess, CascadeFullresStandsForTheFullresData) {
  TempFolder root;
  PlanAndPreprocessOptions options = tiny_dataset_options(root);
  options.configurations = {"3d_cascade_fullres"};
  std::vector<std::string> log;
  options.log = [&log](const std::string& line) { log.push_back(line); };
  const auto preprocessed = [](const PlanAndPreprocessResult& result) {
    std::map<std::string, std::size_t> cases;
    for (const ConfigurationOutcome& outcome : result.configurations) cases[outcome.name] = outcome.cases_preprocessed;
    return cases;
  };

  const PlanAndPreprocessResult without = plan_and_preprocess(options);
  EXPECT_FALSE(without.plans.has_cascade);
  EXPECT_EQ(preprocessed(without), (std::map<std::string, std::size_t>{{"2d", 0}, {"3d_fullres", 0}}));
  EXPECT_TRUE(std::any_of(log.begin(), log.end(), [](const std::string& line) {
    return line.find("3d_cascade_fullres: not planned for this dataset") != std::string::npos;
  }));

  // A budget far below the tiny images' needs: a 3d_lowres stage and so a cascade (as the cascade CLI test).
  options.gpu_memory_gb = 0.01;
  const PlanAndPreprocessResult with = plan_and_preprocess(options);
  ASSERT_TRUE(with.plans.has_cascade);
  EXPECT_EQ(preprocessed(with), (std::map<std::string, std::size_t>{{"2d", 0}, {"3d_lowres", 0}, {"3d_fullres", 5}}));
  EXPECT_EQ(count_files(root / "preprocessed/Dataset900_SynthTiny/nnUNetPlans_3d_fullres", ".nnuc"), 5u);

  options.configurations = {"3d_cascade"};
  EXPECT_THROW(plan_and_preprocess(options), InvalidInput);
}

TEST(PlanAndPreprocess, RefusesADatasetThatFailsVerification) {
  TempFolder root;
  const std::string raw = write_tiny_dataset(root);
  // dataset.json promises one case more than imagesTr holds.
  nlohmann::ordered_json dataset = data::read_json_file(raw + "/dataset.json");
  dataset["numTraining"] = 6;
  data::write_file_atomic(raw + "/dataset.json", dataset.dump(2));

  PlanAndPreprocessOptions options;
  options.raw_dataset_folder = raw;
  options.preprocessed_root = root / "preprocessed";
  options.workers = 2;
  const PlanAndPreprocessResult refused = plan_and_preprocess(options);
  EXPECT_TRUE(refused.refused);
  ASSERT_TRUE(refused.verification.has_value());
  EXPECT_FALSE(refused.verification->with_code("num_training_mismatch").empty()) << refused.verification->summary();
  EXPECT_FALSE(fs::exists(root / "preprocessed/Dataset900_SynthTiny"));

  options.verify = false;
  options.preprocess = false;
  options.memory_model = MemoryModelKind::nnunet;
  const PlanAndPreprocessResult planned = plan_and_preprocess(options);
  EXPECT_FALSE(planned.refused);
  EXPECT_NE(planned.verification_note.find("--no-verify"), std::string::npos);
  EXPECT_TRUE(fs::exists(root / "preprocessed/Dataset900_SynthTiny/nnUNetPlans.json"));
}

TEST(PlanAndPreprocess, PlansFromAFingerprintAlone) {
  TempFolder root;
  const fs::path fixture = fixtures::fixtures_dir() / "spleen_ct_like";
  PlanAndPreprocessOptions options;
  options.fingerprint_file = (fixture / "dataset_fingerprint.json").string();
  options.dataset_json_file = (fixture / "dataset.json").string();
  options.preprocessed_root = root.path();
  options.dataset_name = "Dataset909_spleen_ct_like";
  options.memory_model = MemoryModelKind::nnunet;
  const PlanAndPreprocessResult result = plan_and_preprocess(options);
  EXPECT_EQ(result.budget.budget.bytes(), 8ull << 30);
  const nlohmann::ordered_json expected = data::read_json_file((fixture / "ExperimentPlanner.json").string());
  const nlohmann::ordered_json written = data::read_json_file(root / "Dataset909_spleen_ct_like/nnUNetPlans.json");
  for (const std::string name : {"2d", "3d_lowres", "3d_fullres"}) {
    EXPECT_EQ(written["configurations"][name]["patch_size"], expected["configurations"][name]["patch_size"]) << name;
    EXPECT_EQ(written["configurations"][name]["batch_size"], expected["configurations"][name]["batch_size"]) << name;
  }
  EXPECT_TRUE(fs::exists(root / "Dataset909_spleen_ct_like/dataset_fingerprint.json"));
  EXPECT_TRUE(fs::exists(root / "Dataset909_spleen_ct_like/dataset.json"));
  EXPECT_EQ(result.fingerprint_note, "copied from " + options.fingerprint_file);
  EXPECT_TRUE(result.ground_truth_folder.empty());
  EXPECT_FALSE(fs::exists(root / "Dataset909_spleen_ct_like/gt_segmentations"));

  options.configurations = {"4d"};
  EXPECT_THROW(plan_and_preprocess(options), InvalidInput);
}

// nnU-Net's two planning steps one at a time (nnuc extract-fingerprint, nnuc plan-experiment): the
// fingerprint alone first, then plans from the output folder's own fingerprint, which is left as it is
// and still counts as made from the raw dataset; the plans equal those of one plan_and_preprocess.
TEST(PlanAndPreprocess, ExtractsTheFingerprintAloneAndPlansFromItLater) {
  TempFolder root;
  PlanAndPreprocessOptions extract = tiny_dataset_options(root);
  extract.plan = false;
  const PlanAndPreprocessResult extracted = plan_and_preprocess(extract);
  ASSERT_FALSE(extracted.refused);
  EXPECT_EQ(extracted.fingerprint_note, "extracted");
  const std::string out = root / "preprocessed/Dataset900_SynthTiny";
  const std::string fingerprint = testing::read_bytes(out + "/dataset_fingerprint.json");
  EXPECT_TRUE(fs::exists(out + "/dataset.json"));
  EXPECT_FALSE(fs::exists(out + "/nnUNetPlans.json"));
  EXPECT_TRUE(extracted.configurations.empty());

  PlanAndPreprocessOptions from_own = extract;
  from_own.plan = true;
  from_own.preprocess = false;
  from_own.raw_dataset_folder.clear();
  from_own.fingerprint_file = out + "/dataset_fingerprint.json";
  from_own.dataset_json_file = extract.raw_dataset_folder + "/dataset.json";
  from_own.dataset_name = "Dataset900_SynthTiny";
  const PlanAndPreprocessResult planned = plan_and_preprocess(from_own);
  EXPECT_EQ(planned.fingerprint_note, "the output folder's own (" + out + "/dataset_fingerprint.json)");
  EXPECT_EQ(testing::read_bytes(out + "/dataset_fingerprint.json"), fingerprint);
  const std::string plans = testing::read_bytes(out + "/nnUNetPlans.json");

  PlanAndPreprocessOptions at_once = extract;
  at_once.plan = true;
  at_once.preprocess = false;
  const PlanAndPreprocessResult again = plan_and_preprocess(at_once);
  EXPECT_TRUE(again.fingerprint_reused);
  EXPECT_EQ(testing::read_bytes(out + "/nnUNetPlans.json"), plans);

  // Extracting needs the images.
  PlanAndPreprocessOptions no_images = from_own;
  no_images.plan = false;
  EXPECT_ERROR_MENTIONS(plan_and_preprocess(no_images), "needs the raw dataset folder");
}

// nnU-Net's -overwrite_plans_name and -overwrite_target_spacing: another plans file with its own data
// identifiers, 3d_fullres at the given spacing (in the raw axis order, transposed into the plans').
TEST(PlanAndPreprocess, PlansNameAndTargetSpacingOverrides) {
  TempFolder root;
  const fs::path fixture = fixtures::fixtures_dir() / "spleen_ct_like";
  PlanAndPreprocessOptions options;
  options.fingerprint_file = (fixture / "dataset_fingerprint.json").string();
  options.dataset_json_file = (fixture / "dataset.json").string();
  options.preprocessed_root = root.path();
  options.dataset_name = "Dataset909_spleen_ct_like";
  options.memory_model = MemoryModelKind::nnunet;
  options.plans_name = "nnUNetPlans_2mm";
  options.overwrite_target_spacing = std::array<double, 3>{2.5, 2.0, 1.5};
  const PlanAndPreprocessResult result = plan_and_preprocess(options);
  const fs::path folder = root / "Dataset909_spleen_ct_like";
  EXPECT_EQ(result.plans_file, (folder / "nnUNetPlans_2mm.json").string());
  EXPECT_FALSE(fs::exists(folder / "nnUNetPlans.json"));
  const nlohmann::ordered_json written = data::read_json_file((folder / "nnUNetPlans_2mm.json").string());
  EXPECT_EQ(written["plans_name"], "nnUNetPlans_2mm");
  EXPECT_EQ(written["configurations"]["3d_fullres"]["data_identifier"], "nnUNetPlans_2mm_3d_fullres");
  EXPECT_EQ(written["configurations"]["2d"]["data_identifier"], "nnUNetPlans_2mm_2d");
  const std::vector<int> forward = written["transpose_forward"].get<std::vector<int>>();
  const std::array<double, 3> raw{2.5, 2.0, 1.5};
  const std::vector<double> spacing = written["configurations"]["3d_fullres"]["spacing"].get<std::vector<double>>();
  ASSERT_EQ(spacing.size(), 3u);
  for (int axis = 0; axis < 3; ++axis) EXPECT_DOUBLE_EQ(spacing[axis], raw[forward[axis]]) << axis;

  options.plans_name = "../escape";
  EXPECT_ERROR_MENTIONS(plan_and_preprocess(options), "plans name '../escape'");
  options.plans_name = std::nullopt;
  options.overwrite_target_spacing = std::array<double, 3>{1.0, -1.0, 1.0};
  EXPECT_ERROR_MENTIONS(plan_and_preprocess(options), "expected three positive spacings");
}

// A run from a fingerprint checks both inputs before it writes anything: refused, it leaves the output
// folder (here a valid fingerprint beside the plans made from it) exactly as it was, and the error
// names the file the user passed.
TEST(PlanAndPreprocess, ARefusedPlanFromAFingerprintWritesNothing) {
  TempFolder root;
  const fs::path fixture = fixtures::fixtures_dir() / "spleen_ct_like";
  PlanAndPreprocessOptions options;
  options.fingerprint_file = (fixture / "dataset_fingerprint.json").string();
  options.dataset_json_file = (fixture / "dataset.json").string();
  options.preprocessed_root = root / "preprocessed";
  options.dataset_name = "Dataset909_spleen_ct_like";
  options.memory_model = MemoryModelKind::nnunet;
  plan_and_preprocess(options);
  const std::string out = root / "preprocessed/Dataset909_spleen_ct_like";
  std::map<std::string, std::string> before;
  for (const auto& entry : fs::directory_iterator(out))
    before[entry.path().filename().string()] = testing::read_bytes(entry.path().string());
  ASSERT_EQ(before.size(), 3u);  // dataset.json, dataset_fingerprint.json, nnUNetPlans.json

  auto expect_refused = [&](const PlanAndPreprocessOptions& bad, const std::string& named, const std::string& why) {
    try {
      plan_and_preprocess(bad);
      ADD_FAILURE() << "accepted " << named;
    } catch (const InvalidInput& e) {
      EXPECT_NE(std::string(e.what()).find(named), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
    }
    std::map<std::string, std::string> after;
    for (const auto& entry : fs::directory_iterator(out))
      after[entry.path().filename().string()] = testing::read_bytes(entry.path().string());
    EXPECT_EQ(after, before) << "a refused run changed the output folder";
  };

  // A fingerprint that is not one (a spacing of 0).
  nlohmann::ordered_json broken = data::read_json_file(options.fingerprint_file);
  broken["spacings"][1][2] = 0.0;
  const std::string broken_fingerprint = root / "broken_fingerprint.json";
  data::write_file_atomic(broken_fingerprint, broken.dump(4));
  PlanAndPreprocessOptions bad = options;
  bad.fingerprint_file = broken_fingerprint;
  expect_refused(bad, broken_fingerprint, "spacings");

  // A dataset.json that is not valid.
  nlohmann::ordered_json dataset = data::read_json_file(options.dataset_json_file);
  dataset["labels"].erase("background");
  const std::string broken_dataset = root / "broken_dataset.json";
  data::write_file_atomic(broken_dataset, dataset.dump(4));
  bad = options;
  bad.dataset_json_file = broken_dataset;
  expect_refused(bad, broken_dataset, "background");

  // A fingerprint of another dataset (two channels for a one-channel dataset.json).
  nlohmann::ordered_json two_channels = data::read_json_file(options.fingerprint_file);
  two_channels["foreground_intensity_properties_per_channel"]["1"] =
      two_channels["foreground_intensity_properties_per_channel"]["0"];
  const std::string other_fingerprint = root / "other_fingerprint.json";
  data::write_file_atomic(other_fingerprint, two_channels.dump(4));
  bad = options;
  bad.fingerprint_file = other_fingerprint;
  expect_refused(bad, other_fingerprint, "2 channels");

  // Refused too when the existing plans file is not plans: the inputs are not copied over either.
  testing::write_bytes(out + "/nnUNetPlans.json", "[1, 2, 3]");
  before["nnUNetPlans.json"] = "[1, 2, 3]";
  nlohmann::ordered_json edited = data::read_json_file(options.fingerprint_file);
  edited["median_relative_size_after_cropping"] = 0.5;
  const std::string edited_fingerprint = root / "edited_fingerprint.json";
  data::write_file_atomic(edited_fingerprint, edited.dump(4));
  bad = options;
  bad.fingerprint_file = edited_fingerprint;
  expect_refused(bad, out + "/nnUNetPlans.json", "not plans");
}

}  // namespace
}  // namespace nnuc::planner
