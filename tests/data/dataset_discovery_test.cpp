// Raw-dataset discovery: imagesTr scan, the "dataset" dict with $VAR expansion, id/name resolution.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "data/dataset/raw_dataset.h"
#include "kernels/core/error.h"
#include "tests/data/raw_dataset_fixture.h"

namespace nnuc::data {
namespace {

namespace fs = std::filesystem;
using testing::TempFolder;
using testing::write_bytes;

DatasetJson two_channel_json() {
  return parse_dataset_json(R"({"channel_names": {"0": "T2", "1": "ADC"}, "labels": {"background": 0, "a": 1},
      "numTraining": 2, "file_ending": ".nii.gz"})",
                            "d");
}

TEST(DatasetDiscovery, ScansImagesTrLikeNnunet) {
  TempFolder root;
  fs::create_directories(root / "imagesTr");
  for (const char* name : {"prostate_10_0000.nii.gz", "prostate_10_0001.nii.gz", "prostate_2_0001.nii.gz",
                           "prostate_2_0000.nii.gz", "._prostate_2_0000.nii.gz", "notes.txt", "prostate_3_0000.nii"}) {
    write_bytes(root / ("imagesTr/" + std::string(name)), "x");
  }
  const std::vector<std::string> ids = find_case_ids(root / "imagesTr", ".nii.gz");
  EXPECT_EQ(ids, (std::vector<std::string>{"prostate_10", "prostate_2"}));  // sorted, hidden files skipped
  const std::vector<RawCase> cases = find_training_cases(root.path(), two_channel_json());
  ASSERT_EQ(cases.size(), 2u);
  EXPECT_EQ(cases[1].id, "prostate_2");
  EXPECT_EQ(cases[1].images, (std::vector<std::string>{root / "imagesTr/prostate_2_0000.nii.gz",
                                                       root / "imagesTr/prostate_2_0001.nii.gz"}));
  EXPECT_EQ(cases[1].label, root / "labelsTr/prostate_2.nii.gz");
  // The case-id prefix must be followed by _XXXX exactly: "prostate_1" does not claim prostate_10's files.
  EXPECT_TRUE(find_channel_files(root / "imagesTr", "prostate_1", ".nii.gz").empty());
}

TEST(DatasetDiscovery, MissingImagesTrIsAnIoError) {
  TempFolder root;
  EXPECT_THROW(find_training_cases(root.path(), two_channel_json()), IoError);
}

TEST(DatasetDiscovery, DatasetDictExpandsVariablesAndResolvesRelativePaths) {
  TempFolder root;
  ::setenv("NNUC_TEST_DATA_ROOT", "/mnt/data", 1);
  DatasetJson json = parse_dataset_json(R"({"channel_names": {"0": "CT"}, "labels": {"background": 0, "a": 1},
      "numTraining": 2, "file_ending": ".nii.gz", "dataset": {
        "z": {"images": ["$NNUC_TEST_DATA_ROOT/z_0000.nii.gz"], "label": "${NNUC_TEST_DATA_ROOT}/z.nii.gz"},
        "a": {"images": ["sub/../imgs/a.nii.gz"], "label": "$NNUC_TEST_UNSET_VARIABLE/a.nii.gz"}}})",
                                        "d");
  const std::vector<RawCase> cases = find_training_cases(root.path(), json);
  ASSERT_EQ(cases.size(), 2u);
  EXPECT_EQ(cases[0].id, "z");  // dict order, not sorted
  EXPECT_EQ(cases[0].images[0], "/mnt/data/z_0000.nii.gz");
  EXPECT_EQ(cases[0].label, "/mnt/data/z.nii.gz");
  EXPECT_EQ(cases[1].images[0], root / "imgs/a.nii.gz");
  EXPECT_EQ(cases[1].label, root / "$NNUC_TEST_UNSET_VARIABLE/a.nii.gz");  // unset: left as written
}

TEST(DatasetDiscovery, ExpandEnvVarsFollowsPython) {
  ::setenv("NNUC_TEST_A", "alpha", 1);
  ::unsetenv("NNUC_TEST_MISSING");
  EXPECT_EQ(expand_env_vars("$NNUC_TEST_A/x"), "alpha/x");
  EXPECT_EQ(expand_env_vars("${NNUC_TEST_A}x"), "alphax");
  EXPECT_EQ(expand_env_vars("$NNUC_TEST_Ax"), "$NNUC_TEST_Ax");  // the name runs to the first non-word char
  EXPECT_EQ(expand_env_vars("$NNUC_TEST_MISSING/y"), "$NNUC_TEST_MISSING/y");
  EXPECT_EQ(expand_env_vars("cost $ 5 ${unterminated"), "cost $ 5 ${unterminated");
}

TEST(DatasetDiscovery, DatasetIdsAndNames) {
  EXPECT_EQ(parse_dataset_id("4"), 4);
  EXPECT_EQ(parse_dataset_id("004"), 4);
  EXPECT_EQ(parse_dataset_id("Dataset123_Liver"), 123);
  EXPECT_FALSE(parse_dataset_id("Liver").has_value());
  EXPECT_FALSE(parse_dataset_id("Dataset12").has_value());
  EXPECT_EQ(dataset_folder_prefix(4), "Dataset004_");
  EXPECT_EQ(dataset_folder_prefix(1234), "Dataset1234_");

  TempFolder raw, preprocessed;
  fs::create_directories(raw / "Dataset004_Hippocampus");
  fs::create_directories(raw / "Dataset040_Other");
  fs::create_directories(preprocessed / "Dataset004_Hippocampus");
  NnunetRoots roots{raw.path(), preprocessed.path(), ""};
  EXPECT_EQ(dataset_name_from_id_or_name("4", roots), "Dataset004_Hippocampus");
  EXPECT_EQ(dataset_name_from_id_or_name("Dataset777_Whatever", roots), "Dataset777_Whatever");
  EXPECT_EQ(raw_dataset_folder("004", roots), raw / "Dataset004_Hippocampus");
  EXPECT_THROW(dataset_name_from_id_or_name("5", roots), InvalidInput);
  EXPECT_THROW(dataset_name_from_id_or_name("Liver", roots), InvalidInput);
  fs::create_directories(preprocessed / "Dataset004_Other");  // two names for one id
  try {
    dataset_name_from_id_or_name("4", roots);
    FAIL() << "expected InvalidInput";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("Dataset004_Other"), std::string::npos) << e.what();
  }
  EXPECT_THROW(raw_dataset_folder("4", NnunetRoots{}), InvalidInput);  // nnUNet_raw unset
}

TEST(DatasetDiscovery, PredictionCasesHaveNoLabels) {
  TempFolder root;
  for (const char* name : {"b_0000.nii", "a_0000.nii", "a_0001.nii"}) write_bytes(root / name, "x");
  const std::vector<RawCase> cases = find_prediction_cases(root.path(), ".nii");
  ASSERT_EQ(cases.size(), 2u);
  EXPECT_EQ(cases[0].id, "a");
  EXPECT_EQ(cases[0].images.size(), 2u);
  EXPECT_TRUE(cases[0].label.empty());
}

}  // namespace
}  // namespace nnuc::data
