// Verification of a valid dataset and the verification record that planning checks.
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "data/dataset/verification.h"
#include "data/synth/synth.h"
#include "tests/data/raw_dataset_fixture.h"
#include "tests/support/test_support.h"

namespace nnuc::data {
namespace {

namespace fs = std::filesystem;
using testing::TempFolder;

void write_tiny(const std::string& folder, int cases) {
  synth::SynthConfig config = synth::synth_preset("tiny");
  config.seed = testing::test_seed();
  config.num_cases = cases;
  config.num_test_cases = 1;
  synth::write_synthetic_dataset(config, folder);
}

TEST(VerifyRecord, ValidDatasetVerifiesAndStaysVerifiedUntilItChanges) {
  TempFolder root;
  const std::string d = root.path();
  write_tiny(d, 3);
  EXPECT_FALSE(dataset_verified(d));
  EXPECT_NE(verification_status(d).reason.find("no "), std::string::npos) << verification_status(d).reason;

  const VerificationReport report = verify_dataset(d);
  ASSERT_TRUE(report.ok()) << report.summary();
  write_verification_record(d, report);
  EXPECT_TRUE(dataset_verified(d)) << verification_status(d).reason;
  const nlohmann::json record = nlohmann::json::parse(testing::read_bytes(d + "/" + kVerificationRecordName));
  EXPECT_EQ(record["ok"], true);
  EXPECT_EQ(record["report"]["cases_read"], 3);

  // Editing dataset.json invalidates the record; restoring the same bytes makes it valid again.
  const std::string json = testing::read_bytes(d + "/dataset.json");
  testing::write_bytes(d + "/dataset.json", json + " ");
  EXPECT_FALSE(dataset_verified(d));
  EXPECT_NE(verification_status(d).reason.find("changed"), std::string::npos);
  testing::write_bytes(d + "/dataset.json", json);
  EXPECT_TRUE(dataset_verified(d));

  // A new file in labelsTr invalidates it.
  testing::write_bytes(d + "/labelsTr/extra.txt", "x");
  EXPECT_FALSE(dataset_verified(d));
  fs::remove(d + "/labelsTr/extra.txt");
  EXPECT_TRUE(dataset_verified(d));

  // Rewriting a case file (new size or modification time) invalidates it.
  const std::string image = d + "/imagesTr/case_001_0000.nii.gz";
  const std::string bytes = testing::read_bytes(image);
  testing::write_bytes(image, bytes + "trailing");
  EXPECT_FALSE(dataset_verified(d));
}

TEST(VerifyRecord, FailedVerificationIsRecordedAsNotVerified) {
  TempFolder root;
  const std::string d = root.path();
  write_tiny(d, 2);
  fs::remove(d + "/labelsTr/case_000.nii.gz");
  const VerificationReport report = verify_dataset(d);
  EXPECT_FALSE(report.ok());
  write_verification_record(d, report);
  const VerificationStatus status = verification_status(d);
  EXPECT_FALSE(status.verified);
  EXPECT_NE(status.reason.find("1 error"), std::string::npos) << status.reason;
}

TEST(VerifyRecord, GarbageRecordIsNotVerified) {
  TempFolder root;
  const std::string d = root.path();
  write_tiny(d, 1);
  testing::write_bytes(d + "/" + kVerificationRecordName, "{ not json");
  EXPECT_FALSE(dataset_verified(d));
  EXPECT_NE(verification_status(d).reason.find("unreadable"), std::string::npos);
}

TEST(VerifyRecord, ThreadCountDoesNotChangeTheReport) {
  TempFolder root;
  const std::string d = root.path();
  write_tiny(d, 5);
  fs::remove(d + "/imagesTr/case_002_0000.nii.gz");
  testing::write_bytes(d + "/labelsTr/case_004.nii.gz", "broken");
  VerifyOptions one, four;
  one.threads = 1;
  four.threads = 4;
  EXPECT_EQ(verify_dataset(d, one).to_json(), verify_dataset(d, four).to_json());
}

TEST(VerifyRecord, StateHashCoversDatasetDictFiles) {
  TempFolder root, elsewhere;
  const std::string d = root.path();
  write_tiny(d, 1);
  fs::create_directories(elsewhere / "img");
  fs::copy_file(d + "/imagesTr/case_000_0000.nii.gz", elsewhere / "img/x_0000.nii.gz");
  testing::write_bytes(d + "/dataset.json",
                       R"({"channel_names": {"0": "T1"}, "labels": {"background": 0, "ellipsoid_1": 1,
      "nested_2": 2}, "numTraining": 1, "file_ending": ".nii.gz", "dataset": {"x": {"images": [")" +
                           (elsewhere / "img/x_0000.nii.gz") + R"("], "label": "labelsTr/case_000.nii.gz"}}})");
  const VerificationReport report = verify_dataset(d);
  ASSERT_TRUE(report.ok()) << report.summary();
  write_verification_record(d, report);
  EXPECT_TRUE(dataset_verified(d));
  testing::write_bytes(elsewhere / "img/x_0000.nii.gz", "changed");
  EXPECT_FALSE(dataset_verified(d));
}

}  // namespace
}  // namespace nnuc::data
