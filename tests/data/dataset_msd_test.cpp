// MSD task → nnU-Net v2 raw dataset conversion, on a small synthetic MSD-style task folder, and an
// nnU-Net v1 raw dataset → v2 (nnuc convert-old-dataset).
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "data/dataset/msd_conversion.h"
#include "data/dataset/verification.h"
#include "data/nifti/nifti_io.h"
#include "kernels/core/error.h"
#include "tests/data/raw_dataset_fixture.h"
#include "tests/support/test_support.h"

namespace nnuc::data {
namespace {

namespace fs = std::filesystem;
using testing::TempFolder;

constexpr std::int64_t kI = 7, kJ = 6, kK = 5;  // file dims (i, j, k); array shape (a0, a1, a2) = (5, 6, 7)

std::vector<float> random_volume(std::int64_t count) {
  std::uniform_real_distribution<float> values(10.0f, 500.0f);
  std::vector<float> out(static_cast<std::size_t>(count));
  for (float& v : out) v = values(testing::rng());
  return out;
}

// Writes an MSD-style task: 4-D two-channel images (T2, ADC), 3-D labels, macOS junk files.
struct MsdTask {
  std::string folder;
  std::vector<std::vector<float>> case0_channels;  // the two channels of prostate_00 as written
};

MsdTask make_msd_task(const TempFolder& root, const std::string& name) {
  MsdTask task;
  task.folder = root / name;
  for (const char* sub : {"imagesTr", "labelsTr", "imagesTs"}) fs::create_directories(task.folder + "/" + sub);
  const std::int64_t volume = kI * kJ * kK;
  const std::array<double, 3> pixdim{0.6, 0.6, 3.6};
  const std::array<double, 3> origin{-12.5, 30.0, 7.25};
  for (const char* id : {"prostate_00", "prostate_01"}) {
    std::vector<float> both = random_volume(2 * volume);
    if (std::string(id) == "prostate_00") {
      task.case0_channels = {std::vector<float>(both.begin(), both.begin() + volume),
                             std::vector<float>(both.begin() + volume, both.end())};
    }
    testing::write_raw_nifti_f32(task.folder + "/imagesTr/" + id + ".nii.gz", {kI, kJ, kK, 2}, pixdim, both, origin);
    Tensor labels = testing::random_labels(Shape{kK, kJ, kI}, DType::i16, 3);
    write_nifti_label(task.folder + "/labelsTr/" + id + ".nii.gz", labels,
                      testing::test_geometry({kK, kJ, kI}, {pixdim[2], pixdim[1], pixdim[0]}, origin));
  }
  testing::write_raw_nifti_f32(task.folder + "/imagesTs/prostate_03.nii.gz", {kI, kJ, kK, 2}, pixdim,
                               random_volume(2 * volume), origin);
  testing::write_bytes(task.folder + "/imagesTr/._prostate_00.nii.gz", "AppleDouble junk");
  testing::write_bytes(task.folder + "/labelsTr/._prostate_00.nii.gz", "AppleDouble junk");
  testing::write_bytes(task.folder + "/dataset.json", R"({
    "name": "PROSTATE", "description": "Prostate transitional zone and peripheral zone segmentation",
    "reference": "Radboud University, Nijmegen Medical Centre", "licence": "CC-BY-SA 4.0", "release": "1.0 04/05/2018",
    "tensorImageSize": "4D", "modality": {"0": "T2", "1": "ADC"},
    "labels": {"0": "background", "1": "PZ", "2": "TZ"}, "numTraining": 2, "numTest": 1,
    "training": [{"image": "./imagesTr/prostate_00.nii.gz", "label": "./labelsTr/prostate_00.nii.gz"},
                 {"image": "./imagesTr/prostate_01.nii.gz", "label": "./labelsTr/prostate_01.nii.gz"}],
    "test": ["./imagesTs/prostate_03.nii.gz"]})");
  return task;
}

TEST(MsdConversion, SplitsChannelsInvertsLabelsAndVerifies) {
  TempFolder root, raw;
  const MsdTask task = make_msd_task(root, "Task05_Prostate");
  const MsdConversionResult result = convert_msd_dataset(task.folder + "/", raw.path());
  EXPECT_EQ(result.dataset_name, "Dataset005_Prostate");
  EXPECT_EQ(result.dataset_folder, raw / "Dataset005_Prostate");
  EXPECT_EQ(result.training_images, 2);
  EXPECT_EQ(result.test_images, 1);
  EXPECT_EQ(result.labels, 2);
  EXPECT_EQ(result.channels_written, 6);
  const std::string d = result.dataset_folder;
  for (const char* file :
       {"imagesTr/prostate_00_0000.nii.gz", "imagesTr/prostate_00_0001.nii.gz", "imagesTr/prostate_01_0000.nii.gz",
        "imagesTr/prostate_01_0001.nii.gz", "imagesTs/prostate_03_0000.nii.gz", "imagesTs/prostate_03_0001.nii.gz",
        "labelsTr/prostate_00.nii.gz", "labelsTr/prostate_01.nii.gz"}) {
    EXPECT_TRUE(fs::exists(d + "/" + file)) << file;
  }
  EXPECT_FALSE(fs::exists(d + "/imagesTr/._prostate_00_0000.nii.gz"));
  EXPECT_FALSE(fs::exists(d + "/labelsTr/._prostate_00.nii.gz"));

  // Channel c holds volume c of the 4-D file, with the spatial geometry.
  for (int c = 0; c < 2; ++c) {
    const NiftiImage channel = read_nifti(d + "/imagesTr/prostate_00_000" + std::to_string(c) + ".nii.gz");
    EXPECT_EQ(channel.voxels.shape(), (Shape{1, kK, kJ, kI}));
    EXPECT_EQ(channel.voxels.to_vector<float>(), task.case0_channels[static_cast<std::size_t>(c)]);
    EXPECT_NEAR(channel.geometry.spacing[0], 3.6, 1e-6);
    EXPECT_NEAR(channel.geometry.spacing[2], 0.6, 1e-6);
    EXPECT_NEAR(channel.geometry.origin[0], -12.5, 1e-6);
  }
  // Labels are copied byte for byte.
  EXPECT_EQ(testing::read_bytes(d + "/labelsTr/prostate_01.nii.gz"),
            testing::read_bytes(task.folder + "/labelsTr/prostate_01.nii.gz"));

  const nlohmann::ordered_json json = nlohmann::ordered_json::parse(testing::read_bytes(d + "/dataset.json"));
  EXPECT_EQ(json["channel_names"], (nlohmann::ordered_json{{"0", "T2"}, {"1", "ADC"}}));
  EXPECT_EQ(json["labels"], (nlohmann::ordered_json{{"background", 0}, {"PZ", 1}, {"TZ", 2}}));
  EXPECT_EQ(json["file_ending"], ".nii.gz");
  EXPECT_EQ(json["numTraining"], 2);
  EXPECT_EQ(json["name"], "PROSTATE");
  EXPECT_EQ(json["numTest"], 1);
  for (const char* dropped : {"modality", "training", "test"}) EXPECT_FALSE(json.contains(dropped)) << dropped;

  const VerificationReport report = verify_dataset(d);
  EXPECT_TRUE(report.ok()) << report.summary();
  EXPECT_EQ(report.num_cases_read, 2u);
}

TEST(MsdConversion, TakenIdIsRefusedUnlessOverridden) {
  TempFolder root, raw;
  const MsdTask task = make_msd_task(root, "Task05_Prostate");
  convert_msd_dataset(task.folder, raw.path());
  EXPECT_THROW(convert_msd_dataset(task.folder, raw.path()), InvalidInput);
  MsdConversionOptions options;
  options.overwrite_id = 105;
  options.threads = 1;
  EXPECT_EQ(convert_msd_dataset(task.folder, raw.path(), options).dataset_name, "Dataset105_Prostate");
  // An id taken only in nnUNet_preprocessed also counts (nnU-Net searches all three roots).
  TempFolder preprocessed;
  fs::create_directories(preprocessed / "Dataset205_Other");
  options.overwrite_id = 205;
  options.roots_to_check.preprocessed = preprocessed.path();
  EXPECT_THROW(convert_msd_dataset(task.folder, raw.path(), options), InvalidInput);
}

TEST(MsdConversion, ThreeDimensionalImagesAreCopiedUnchanged) {
  TempFolder root, raw;
  const std::string task = root / "Task04_Hippocampus";
  for (const char* sub : {"imagesTr", "labelsTr"}) fs::create_directories(task + "/" + sub);  // no imagesTs
  testing::write_raw_nifti_f32(task + "/imagesTr/hippocampus_001.nii.gz", {kI, kJ, kK}, {1, 1, 1},
                               random_volume(kI * kJ * kK));
  write_nifti_label(task + "/labelsTr/hippocampus_001.nii.gz", testing::random_labels(Shape{kK, kJ, kI}, DType::i16, 3),
                    testing::test_geometry({kK, kJ, kI}, {1, 1, 1}));
  testing::write_bytes(task + "/dataset.json", R"({"name": "Hippocampus", "modality": {"0": "MRI"},
      "labels": {"0": "background", "1": "Anterior", "2": "Posterior"}, "numTraining": 1, "numTest": 0,
      "training": [], "test": []})");
  const MsdConversionResult result = convert_msd_dataset(task, raw.path());
  EXPECT_EQ(result.dataset_name, "Dataset004_Hippocampus");
  EXPECT_EQ(testing::read_bytes(result.dataset_folder + "/imagesTr/hippocampus_001_0000.nii.gz"),
            testing::read_bytes(task + "/imagesTr/hippocampus_001.nii.gz"));
  EXPECT_TRUE(verify_dataset(result.dataset_folder).ok()) << verify_dataset(result.dataset_folder).summary();
}

TEST(MsdConversion, BadInputsNameTheProblem) {
  TempFolder root, raw;
  const MsdTask task = make_msd_task(root, "Prostate");  // not TaskNN_Name
  try {
    convert_msd_dataset(task.folder, raw.path());
    FAIL() << "expected InvalidInput";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("TaskNN_Name"), std::string::npos) << e.what();
  }
  EXPECT_THROW(convert_msd_dataset(root / "Task09_Missing", raw.path()), InvalidInput);
  try {
    convert_msd_dataset_json(nlohmann::ordered_json::parse(R"({"modality": {"0": "CT"}, "labels": {"background": 0},
        "numTraining": 1})"),
                             "msd.json");
    FAIL() << "expected InvalidInput";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("labels.background"), std::string::npos) << e.what();
  }
  // A corrupt source image: every file is attempted, failures listed, no dataset.json written.
  const MsdTask broken = make_msd_task(root, "Task06_Broken");
  testing::write_bytes(broken.folder + "/imagesTr/prostate_01.nii.gz", "garbage");
  try {
    convert_msd_dataset(broken.folder, raw.path());
    FAIL() << "expected IoError";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("prostate_01.nii.gz"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(raw / "Dataset006_Broken/dataset.json"));
}

// An nnU-Net v1 raw dataset: channels already split (CASE_0000, CASE_0001), v1's dataset.json.
std::string make_v1_task(const TempFolder& root, const std::string& name) {
  const std::string task = root / name;
  for (const char* sub : {"imagesTr", "labelsTr", "imagesTs", "labelsTs"}) fs::create_directories(task + "/" + sub);
  const std::array<double, 3> pixdim{0.8, 0.8, 2.5};
  for (const char* folder : {"Tr", "Ts"}) {
    const std::string id = std::string(folder) == "Tr" ? "liver_0" : "liver_9";
    for (const char* channel : {"_0000", "_0001"})
      testing::write_raw_nifti_f32(task + "/images" + folder + "/" + id + channel + ".nii.gz", {kI, kJ, kK}, pixdim,
                                   random_volume(kI * kJ * kK));
    write_nifti_label(task + "/labels" + folder + "/" + id + ".nii.gz",
                      testing::random_labels(Shape{kK, kJ, kI}, DType::i16, 2),
                      testing::test_geometry({kK, kJ, kI}, {pixdim[2], pixdim[1], pixdim[0]}));
  }
  testing::write_bytes(task + "/dataset.json", R"({"name": "Liver", "description": "v1 task",
      "tensorImageSize": "3D", "modality": {"0": "CT", "1": "noNorm"}, "labels": {"0": "background", "1": "liver"},
      "numTraining": 1, "numTest": 1,
      "training": [{"image": "./imagesTr/liver_0.nii.gz", "label": "./labelsTr/liver_0.nii.gz"}],
      "test": ["./imagesTs/liver_9.nii.gz"]})");
  return task;
}

TEST(OldNnunetConversion, CopiesEveryFolderConvertsDatasetJsonAndVerifies) {
  TempFolder root, raw;
  const std::string task = make_v1_task(root, "Task017_Liver");
  const OldNnunetConversionResult result = convert_old_nnunet_dataset(task + "/", raw.path(), "Dataset117_Liver");
  EXPECT_EQ(result.dataset_folder, raw / "Dataset117_Liver");
  EXPECT_EQ(result.files_copied, 6);
  for (const char* file : {"imagesTr/liver_0_0000.nii.gz", "imagesTr/liver_0_0001.nii.gz", "labelsTr/liver_0.nii.gz",
                           "imagesTs/liver_9_0000.nii.gz", "imagesTs/liver_9_0001.nii.gz", "labelsTs/liver_9.nii.gz"})
    EXPECT_EQ(testing::read_bytes(result.dataset_folder + "/" + file), testing::read_bytes(task + "/" + file)) << file;
  const nlohmann::ordered_json json =
      nlohmann::ordered_json::parse(testing::read_bytes(result.dataset_folder + "/dataset.json"));
  EXPECT_EQ(json["channel_names"], (nlohmann::ordered_json{{"0", "CT"}, {"1", "noNorm"}}));
  EXPECT_EQ(json["labels"], (nlohmann::ordered_json{{"background", 0}, {"liver", 1}}));
  EXPECT_EQ(json["file_ending"], ".nii.gz");
  EXPECT_EQ(json["numTraining"], 1);
  EXPECT_EQ(json["description"], "v1 task");
  for (const char* dropped : {"modality", "training", "test", "tensorImageSize", "numTest"})
    EXPECT_FALSE(json.contains(dropped)) << dropped;
  const VerificationReport report = verify_dataset(result.dataset_folder);
  EXPECT_TRUE(report.ok()) << report.summary();
}

TEST(OldNnunetConversion, RefusesBadNamesExistingTargetsTakenIdsAndBadJson) {
  TempFolder root, raw;
  const std::string task = make_v1_task(root, "Task017_Liver");
  EXPECT_ERROR_MENTIONS(convert_old_nnunet_dataset(task, raw.path(), "Task017_Liver"), "DatasetXXX_Name");
  EXPECT_ERROR_MENTIONS(convert_old_nnunet_dataset(task, raw.path(), "Dataset17_Liver"), "DatasetXXX_Name");
  EXPECT_ERROR_MENTIONS(convert_old_nnunet_dataset(task, raw.path(), "Dataset017_"), "DatasetXXX_Name");
  EXPECT_ERROR_MENTIONS(convert_old_nnunet_dataset(root / "Task018_Missing", raw.path(), "Dataset018_Missing"),
                        "imagesTr");
  convert_old_nnunet_dataset(task, raw.path(), "Dataset017_Liver");
  EXPECT_ERROR_MENTIONS(convert_old_nnunet_dataset(task, raw.path(), "Dataset017_Liver"), "already exists");
  EXPECT_ERROR_MENTIONS(convert_old_nnunet_dataset(task, raw.path(), "Dataset017_Other"), "already taken");
  testing::write_bytes(task + "/dataset.json", R"({"modality": {"0": "CT"}, "labels": {"background": 0}})");
  EXPECT_ERROR_MENTIONS(convert_old_nnunet_dataset(task, raw.path(), "Dataset019_Liver"), "labels.background");
  EXPECT_FALSE(fs::exists(raw / "Dataset019_Liver"));
}

}  // namespace
}  // namespace nnuc::data
