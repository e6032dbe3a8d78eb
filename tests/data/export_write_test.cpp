// Writing predictions (data/export/export.h) and the case properties beside them: CaseProperties
// to/from JSON (exact round trip, validation), write_segmentation with exactly the input's NIfTI
// geometry (a real Debian file from mricron-data and a synthetic oblique one), and the whole path
// read -> preprocess -> logits -> export -> write on a real file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "data/export/export.h"
#include "data/nifti/nifti_io.h"
#include "data/preprocess/nifti_case.h"
#include "tests/support/scratch_folder.h"
#include "tests/support/test_support.h"

namespace nnuc::data {
namespace {

namespace fs = std::filesystem;
using testing::in_ci;
using testing::io_error_of;

// A small real label volume from Debian's mricron-data (91 x 109 x 91).
const char* kRealNifti = "/usr/share/mricron/templates/JHU-WhiteMatter-labels-2mm.nii.gz";

class ExportWrite : public testing::ScratchFolderTest {};

CaseProperties some_properties() {
  CaseProperties properties;
  properties.spacing = {0.1 + 0.2, 1.0 / 3.0, 2.5e-7};
  properties.shape_before_cropping = {40, 31, 22};
  properties.bbox_used_for_cropping = {{3, 0, 5}, {39, 31, 20}};
  properties.shape_after_cropping_and_before_resampling = {36, 31, 15};
  properties.spacing_after_resampling = {std::nextafter(1.0, 2.0), 0.7, 0.7};
  properties.reader_properties = {{"reader", "nifti"}, {"geometry", {{"spacing", {1, 2, 3}}}}};
  return properties;
}

TEST_F(ExportWrite, CasePropertiesRoundTripExactlyThroughJsonText) {
  const CaseProperties properties = some_properties();
  const nlohmann::json json = nlohmann::json::parse(case_properties_to_json(properties).dump(1));
  const CaseProperties back = case_properties_from_json(json, "case.json");
  EXPECT_EQ(back.spacing, properties.spacing);
  EXPECT_EQ(back.shape_before_cropping, properties.shape_before_cropping);
  EXPECT_EQ(back.bbox_used_for_cropping, properties.bbox_used_for_cropping);
  EXPECT_EQ(back.shape_after_cropping_and_before_resampling, properties.shape_after_cropping_and_before_resampling);
  EXPECT_EQ(back.spacing_after_resampling, properties.spacing_after_resampling);
  EXPECT_EQ(back.reader_properties, properties.reader_properties);
  EXPECT_FALSE(json.contains("class_locations"));
}

TEST_F(ExportWrite, CasePropertiesAreValidatedOnRead) {
  const nlohmann::json good = case_properties_to_json(some_properties());
  const std::vector<std::tuple<std::string, nlohmann::json, std::string>> cases = {
      {"spacing", {0.5, -1.0, 1.0}, "'spacing'"},
      {"spacing", {0.5, 1.0}, "'spacing'"},
      {"spacing", "1 1 1", "'spacing' is missing or malformed"},
      {"shape_before_cropping", {40, 0, 22}, "'shape_before_cropping'"},
      {"bbox_used_for_cropping", {{3, 39}, {0, 32}, {5, 20}}, "axis 1 is [0, 32)"},
      {"bbox_used_for_cropping", {{3, 39}, {0, 31}}, "has 2 axes"},
      {"bbox_used_for_cropping", {{3, 3}, {0, 31}, {5, 20}}, "axis 0 is [3, 3)"},
      {"shape_after_cropping_and_before_resampling", {36, 31, 16}, "expected the shape of bbox_used_for_cropping"},
      {"spacing_after_resampling", {1.0, 0.0, 1.0}, "'spacing_after_resampling'"},
      {"reader_properties", {1, 2}, "'reader_properties' is not a JSON object"},
  };
  for (const auto& [field, value, text] : cases) {
    nlohmann::json bad = good;
    bad[field] = value;
    const std::string message = io_error_of([&] { case_properties_from_json(bad, "CASE.json"); });
    EXPECT_NE(message.find(text), std::string::npos) << field << ": " << message;
    EXPECT_NE(message.find("'CASE.json'"), std::string::npos) << message;
  }
  nlohmann::json missing = good;
  missing.erase("bbox_used_for_cropping");
  EXPECT_NE(io_error_of([&] { case_properties_from_json(missing, "CASE.json"); }).find("'bbox_used_for_cropping'"),
            std::string::npos);
  EXPECT_NE(
      io_error_of([&] { case_properties_from_json(nlohmann::json::array(), "CASE.json"); }).find("not a JSON object"),
      std::string::npos);
}

// Writes a label map with `geometry` through write_segmentation (properties via CASE.json's JSON)
// and checks what read_nifti_label gives back.
void expect_round_trip(const std::string& file, const NiftiGeometry& geometry, const Tensor& labels) {
  CaseProperties properties = some_properties();
  properties.reader_properties = {{"reader", "nifti"}, {"geometry", nifti_geometry_to_json(geometry)}};
  properties = case_properties_from_json(nlohmann::json::parse(case_properties_to_json(properties).dump()), file);
  write_segmentation(file, labels, properties);
  const NiftiLabel back = read_nifti_label(file);
  EXPECT_EQ(back.labels.to_vector<int>(), labels.to_vector<int>());
  EXPECT_TRUE(same_header_geometry(back.geometry, geometry));
  EXPECT_EQ(back.geometry.affine, geometry.affine);
  EXPECT_EQ(back.geometry.spacing, geometry.spacing);
}

TEST_F(ExportWrite, SegmentationsCarryExactlyTheInputGeometry) {
  std::vector<std::pair<std::string, NiftiGeometry>> references;
  if (fs::exists(kRealNifti)) {
    references.emplace_back("mricron", read_nifti(kRealNifti).geometry);
  } else if (in_ci()) {
    FAIL() << "CI installs mricron-data: " << kRealNifti << " expected";
  }
  const double c = std::cos(0.3), s = std::sin(0.3);
  references.emplace_back("oblique", make_nifti_geometry({7, 9, 11}, {3.5, 0.8, 0.7}, {-91.5, 12.25, 40.0},
                                                         {{{c, -s, 0}, {s, c, 0}, {0, 0, 1}}}));
  for (const auto& [name, geometry] : references) {
    SCOPED_TRACE(name);
    const auto shape = geometry.shape();
    const Shape tensor_shape{shape[0], shape[1], shape[2]};
    expect_round_trip(path(name + ".nii.gz"), geometry, testing::random_labels(tensor_shape, DType::u8, 5));
    Tensor wide = testing::random_labels(tensor_shape, DType::i16, 400);  // written as uint16
    wide.data<std::int16_t>()[0] = 399;
    expect_round_trip(path(name + "_wide.nii"), geometry, wide);
  }
  EXPECT_EQ(entries().size(), references.size() * 2);  // no temp files left
}

TEST_F(ExportWrite, WriteSegmentationChecksGeometryAndShape) {
  const NiftiGeometry geometry =
      make_nifti_geometry({4, 5, 6}, {1, 1, 1}, {0, 0, 0}, {{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}});
  CaseProperties properties = some_properties();
  properties.reader_properties = nlohmann::json::object();
  const Tensor labels = testing::random_labels(Shape{4, 5, 6}, DType::u8, 3);
  EXPECT_ERROR_MENTIONS(write_segmentation(path("a.nii.gz"), labels, properties), "no NIfTI \"geometry\"");
  properties.reader_properties = {{"reader", "png"}, {"geometry", nifti_geometry_to_json(geometry)}};
  EXPECT_ERROR_MENTIONS(write_segmentation(path("a.nii.gz"), labels, properties), "nnuc writes NIfTI only");
  properties.reader_properties = {{"reader", "nifti"}, {"geometry", nifti_geometry_to_json(geometry)}};
  EXPECT_ERROR_MENTIONS(
      write_segmentation(path("a.nii.gz"), testing::random_labels(Shape{6, 5, 4}, DType::u8, 3), properties),
      "does not have the input image's shape (4, 5, 6)");
  EXPECT_FALSE(fs::exists(path("a.nii.gz")));
}

TEST_F(ExportWrite, ReadPreprocessPredictExportWriteKeepsTheGeometryAndWithoutResamplingTheLabels) {
  // A real image when present, else a synthetic one; the label map is its own thresholded copy.
  LoadedCase input;
  if (fs::exists(kRealNifti)) {
    input = read_nifti_case("jhu", {kRealNifti}, "");
  } else {
    if (in_ci()) FAIL() << "CI installs mricron-data: " << kRealNifti << " expected";
    const NiftiGeometry geometry =
        make_nifti_geometry({12, 14, 10}, {2, 1, 1.5}, {1, 2, 3}, {{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}});
    write_nifti_image(path("image.nii.gz"), testing::random_uniform(Shape{12, 14, 10}, DType::f32, 0.5, 2), geometry);
    input = read_nifti_case("synthetic", {path("image.nii.gz")}, "");
  }
  const std::int64_t n0 = input.image.dim(1), n1 = input.image.dim(2), n2 = input.image.dim(3);
  // Labels 1, 2 inside the nonzero region, 0 elsewhere.
  Tensor labels = Tensor::empty_cpu(Shape{n0, n1, n2}, DType::i16);
  const float* image = input.image.data<float>();
  for (std::int64_t i = 0; i < n0 * n1 * n2; ++i)
    labels.data<std::int16_t>()[i] = image[i] == 0 ? 0 : static_cast<std::int16_t>(1 + (static_cast<int>(i) % 7 == 0));

  PreprocessingPlan plan;
  plan.transpose_forward = {2, 0, 1};
  for (int a = 0; a < 3; ++a)
    plan.target_spacing.push_back(input.spacing[static_cast<std::size_t>(plan.transpose_forward[a])]);
  plan.normalization = {ChannelNormalization{}};
  const PreprocessedCase preprocessed = preprocess_case(input, plan);
  EXPECT_NE(preprocessed.properties.bbox_used_for_cropping.begin, (Shape3{0, 0, 0}));  // a real crop

  // Logits: a one-hot of the labels, cropped and transposed as the network would see them.
  const Tensor transposed = transpose_spatial(labels, plan.transpose_forward);
  const Tensor cropped = crop_tensor(transposed, preprocessed.properties.bbox_used_for_cropping);
  const Shape3 b = preprocessed.properties.shape_after_cropping_and_before_resampling;
  ASSERT_EQ(preprocessed.data.shape(), (Shape{1, b[0], b[1], b[2]}));
  Tensor logits = Tensor::empty_cpu(Shape{3, b[0], b[1], b[2]}, DType::f32);
  const std::int64_t count = b[0] * b[1] * b[2];
  for (std::int64_t i = 0; i < count; ++i)
    for (int k = 0; k < 3; ++k)
      logits.data<float>()[k * count + i] = cropped.data<std::int16_t>()[i] == k ? 5.0f : -5.0f;

  ExportPlan export_plan;
  export_plan.transpose_forward = plan.transpose_forward;
  export_plan.transpose_backward = {1, 2, 0};
  export_plan.configuration_spacing = plan.target_spacing;
  export_plan.num_foreground_labels = 2;
  const ExportedPrediction exported = export_prediction(logits, preprocessed.properties, export_plan, false);
  EXPECT_EQ(exported.segmentation.to_vector<int>(), labels.to_vector<int>());
  write_segmentation(path("prediction.nii.gz"), exported.segmentation, preprocessed.properties);
  const NiftiLabel back = read_nifti_label(path("prediction.nii.gz"));
  EXPECT_EQ(back.labels.to_vector<int>(), labels.to_vector<int>());
  EXPECT_TRUE(same_header_geometry(back.geometry,
                                   nifti_geometry_from_json(preprocessed.properties.reader_properties.at("geometry"))));
}

}  // namespace
}  // namespace nnuc::data
