// Preprocessing a dataset into the store on a thread pool, and reading raw cases from NIfTI files.
#include "data/preprocess/preprocess_dataset.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "data/preprocess/nifti_case.h"
#include "data/preprocess/store.h"
#include "tests/support/test_support.h"

namespace nnuc::data {
namespace {

namespace fs = std::filesystem;

LoadedCase make_case(int index) {
  LoadedCase c;
  c.identifier = "case_" + std::to_string(index);
  const Shape3 shape{8 + index % 3, 12, 10 + index % 2};
  c.image = testing::random_uniform(Shape{1, shape[0], shape[1], shape[2]}, DType::f32, 1, 5);
  c.seg = testing::random_labels(Shape{shape[0], shape[1], shape[2]}, DType::i16, 3);
  for (std::int64_t i = 0; i < shape[1] * shape[2]; ++i) c.image.data<float>()[i] = 0;  // slice 0: background
  c.spacing = {2.0, 0.9, 0.9};
  return c;
}

PreprocessingPlan make_plan() {
  PreprocessingPlan plan;
  plan.target_spacing = {1.5, 1.2, 1.0};
  plan.normalization = {{NormalizationScheme::ZScore, false, {}}};
  plan.sampling_classes = classes_for_sampling({0, 1, 2}, {}, false, false);
  return plan;
}

class PreprocessDataset : public ::testing::Test {
 protected:
  void SetUp() override { folder_ = fs::temp_directory_path() / ("nnuc_dataset_" + std::to_string(testing::rng()())); }
  void TearDown() override { fs::remove_all(folder_); }
  fs::path folder_;
};

TEST_F(PreprocessDataset, WritesOneVerifiedFilePerCaseEqualToPreprocessCase) {
  std::vector<LoadedCase> cases;
  for (int i = 0; i < 7; ++i) cases.push_back(make_case(i));
  const PreprocessingPlan plan = make_plan();
  RunOptions run;
  run.workers = 3;
  std::size_t reports = 0;
  run.progress = [&](const ProgressUpdate&) { ++reports; };
  const std::vector<std::string> paths = preprocess_dataset(
      cases.size(), [&](std::size_t i) { return cases[i]; }, plan, (folder_ / "out").string(), run);
  EXPECT_EQ(reports, 7u);
  ASSERT_EQ(paths.size(), 7u);
  for (std::size_t i = 0; i < paths.size(); ++i) {
    EXPECT_EQ(paths[i], preprocessed_case_path((folder_ / "out").string(), cases[i].identifier));
    const PreprocessedCaseFile file = PreprocessedCaseFile::open(paths[i]);
    const PreprocessedCase direct = preprocess_case(cases[i], plan);
    EXPECT_EQ(file.identifier(), cases[i].identifier);
    EXPECT_EQ(file.load_data().to_vector<float>(), direct.data.to_vector<float>());
    EXPECT_EQ(file.load_seg().to_vector<std::int16_t>(), direct.seg.to_vector<std::int16_t>());
    ASSERT_EQ(file.properties().class_locations.size(), 2u);
    EXPECT_EQ(file.properties().class_locations[1].voxels, direct.properties.class_locations[1].voxels);
  }
}

TEST_F(PreprocessDataset, AFailingCaseIsNamed) {
  std::vector<LoadedCase> cases{make_case(0), make_case(1), make_case(2)};
  cases[1].seg = testing::random_labels(Shape{3, 3, 3}, DType::i16, 2);  // does not match the image
  try {
    preprocess_dataset(
        cases.size(), [&](std::size_t i) { return cases[i]; }, make_plan(), folder_.string());
    ADD_FAILURE() << "a broken case was preprocessed";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("case 'case_1'"), std::string::npos) << e.what();
  }
}

TEST_F(PreprocessDataset, ReadsNiftiChannelsAndLabelsWithTheirGeometry) {
  fs::create_directories(folder_);
  const Shape3 shape{6, 7, 9};
  const NiftiGeometry geometry =
      make_nifti_geometry(shape, {2.5, 0.8, 0.7}, {10, -20, 5}, {{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}});
  const Tensor t1 = testing::random_uniform(Shape{shape[0], shape[1], shape[2]}, DType::f32, -100, 300);
  const Tensor t2 = testing::random_uniform(Shape{shape[0], shape[1], shape[2]}, DType::f32, 0, 1);
  const Tensor labels = testing::random_labels(Shape{shape[0], shape[1], shape[2]}, DType::i16, 3);
  const std::string c0 = (folder_ / "case_0000.nii.gz").string(), c1 = (folder_ / "case_0001.nii").string();
  const std::string label = (folder_ / "case.nii.gz").string();
  write_nifti_image(c0, t1, geometry);
  write_nifti_image(c1, t2, geometry);
  write_nifti_label(label, labels, geometry);
  const LoadedCase loaded = read_nifti_case("case", {c0, c1}, label);
  ASSERT_EQ(loaded.image.shape(), (Shape{2, 6, 7, 9}));
  std::vector<float> expected = t1.to_vector<float>();
  const std::vector<float> second = t2.to_vector<float>();
  expected.insert(expected.end(), second.begin(), second.end());
  EXPECT_EQ(loaded.image.to_vector<float>(), expected);
  EXPECT_EQ(loaded.seg.to_vector<std::int16_t>(), labels.to_vector<std::int16_t>());
  EXPECT_EQ(loaded.spacing, geometry.spacing);
  const NiftiGeometry back = nifti_geometry_from_json(loaded.reader_properties.at("geometry"));
  EXPECT_TRUE(same_header_geometry(back, read_nifti(c0).geometry));
  EXPECT_EQ(nifti_geometry_to_json(back), loaded.reader_properties.at("geometry"));
  // Unlabeled case; a channel with another spacing is refused, naming both files.
  EXPECT_FALSE(read_nifti_case("case", {c0}, "").seg.defined());
  const std::string odd = (folder_ / "odd_0001.nii").string();
  write_nifti_image(odd, t2,
                    make_nifti_geometry(shape, {2.5, 0.8, 0.71}, {10, -20, 5}, {{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}}));
  try {
    read_nifti_case("case", {c0, odd}, label);
    ADD_FAILURE() << "channels with different spacings accepted";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("odd_0001.nii"), std::string::npos) << e.what();
  }
  EXPECT_THROW(nifti_geometry_from_json(nlohmann::json{{"spacing", {1, 1, 1}}}), InvalidInput);
}

TEST_F(PreprocessDataset, ChannelFilesReadTogetherReportTheFirstFailureInFileOrder) {
  fs::create_directories(folder_);
  const Shape3 shape{5, 6, 7};
  const NiftiGeometry geometry =
      make_nifti_geometry(shape, {1.5, 0.9, 0.9}, {0, 0, 0}, {{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}});
  std::vector<std::string> files;
  std::vector<Tensor> channels;
  for (int c = 0; c < 4; ++c) {
    channels.push_back(testing::random_uniform(Shape{shape[0], shape[1], shape[2]}, DType::f32, -50, 50));
    files.push_back((folder_ / ("case_000" + std::to_string(c) + ".nii.gz")).string());
    write_nifti_image(files.back(), channels.back(), geometry);
  }
  const std::string label = (folder_ / "case.nii.gz").string();
  write_nifti_label(label, testing::random_labels(Shape{shape[0], shape[1], shape[2]}, DType::i16, 2), geometry);
  const LoadedCase loaded = read_nifti_case("case", files, label);
  ASSERT_EQ(loaded.image.shape(), (Shape{4, 5, 6, 7}));
  for (int c = 0; c < 4; ++c)
    EXPECT_EQ(std::memcmp(loaded.image.data<float>() + c * 210, channels[c].data<float>(), 210 * sizeof(float)), 0)
        << "channel " << c;

  // Channels 1 and 3 missing, the label truncated: the error names channel 1, whichever finishes first.
  const std::vector<std::string> broken = {files[0], (folder_ / "missing_0001.nii.gz").string(), files[2],
                                           (folder_ / "missing_0003.nii.gz").string()};
  std::ofstream(folder_ / "cut.nii.gz", std::ios::binary) << "\x1f\x8b";
  for (int attempt = 0; attempt < 5; ++attempt) {
    try {
      read_nifti_case("case", broken, (folder_ / "cut.nii.gz").string());
      ADD_FAILURE() << "missing channel files accepted";
    } catch (const IoError& e) {
      EXPECT_NE(std::string(e.what()).find("missing_0001.nii.gz"), std::string::npos) << e.what();
    }
  }
  // Good channels and a broken label: the label's error.
  try {
    read_nifti_case("case", files, (folder_ / "cut.nii.gz").string());
    ADD_FAILURE() << "a truncated label accepted";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("cut.nii.gz"), std::string::npos) << e.what();
  }
}

TEST_F(PreprocessDataset, TwoDimensionalNiftiGetsSimpleItkSpacing) {
  fs::create_directories(folder_);
  NiftiGeometry flat = make_nifti_geometry({1, 7, 9}, {1.0, 0.6, 0.5}, {0, 0, 0}, {{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}});
  flat.dim[0] = 2;
  const std::string file = (folder_ / "flat_0000.nii").string();
  write_nifti_image(file, testing::random_uniform(Shape{1, 7, 9}, DType::f32, 0, 1), flat);
  const NiftiGeometry read_back = read_nifti(file).geometry;
  ASSERT_EQ(read_back.dim[0], 2);
  const LoadedCase loaded = read_nifti_case("flat", {file}, "");
  EXPECT_EQ(loaded.image.shape(), (Shape{1, 1, 7, 9}));
  const double s1 = read_back.spacing[1], s2 = read_back.spacing[2];  // pixdim is float32 in NIfTI-1
  EXPECT_NEAR(s1, 0.6, 1e-7);
  EXPECT_EQ(loaded.spacing, (std::array<double, 3>{999.0 * std::max(s1, s2), s1, s2}));
}

}  // namespace
}  // namespace nnuc::data
