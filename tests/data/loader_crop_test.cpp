// Patch crops (data/loader/crop.h): every voxel equals the source inside the array and the padding
// value outside (data 0, seg and previous stage −1), for corners anywhere, including wholly outside;
// nothing is written past the destination; crops straight out of a memory-mapped store file.
#include <gtest/gtest.h>

#include "data/loader/crop.h"
#include "tests/data/loader_fixture.h"

namespace nnuc::data {
namespace {

using loader_testing::crop_reference;
using loader_testing::random_case;
using loader_testing::TempFolder;
using loader_testing::write_case;

template <typename T>
void check_random_crops(DType dtype, T pad) {
  std::uniform_int_distribution<std::int64_t> extent(1, 9), channel_count(1, 3);
  for (int trial = 0; trial < 300; ++trial) {
    const std::int64_t channels = channel_count(testing::rng());
    const Shape3 shape = {extent(testing::rng()), extent(testing::rng()), extent(testing::rng())};
    const Shape3 size = {extent(testing::rng()), extent(testing::rng()), extent(testing::rng())};
    Shape3 corner{};
    for (int d = 0; d < 3; ++d)
      corner[d] = std::uniform_int_distribution<std::int64_t>(-size[d] - 2, shape[d] + 2)(testing::rng());
    const Tensor source = dtype == DType::f32
                              ? testing::random_uniform(Shape{channels, shape[0], shape[1], shape[2]}, dtype, 1, 2)
                              : testing::random_labels(Shape{channels, shape[0], shape[1], shape[2]}, dtype, 5);
    const std::vector<T> values = source.to_vector<T>();
    const std::size_t count = static_cast<std::size_t>(channels * size[0] * size[1] * size[2]);
    std::vector<T> out(count + 8, T(77));  // 8 canaries past the end
    crop_padded(values.data(), channels, shape, corner, size, pad, out.data());
    const std::vector<T> expected = crop_reference(values, channels, shape, corner, size, pad);
    ASSERT_EQ(std::vector<T>(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(count)), expected)
        << "corner (" << corner[0] << ", " << corner[1] << ", " << corner[2] << ")";
    for (std::size_t i = count; i < out.size(); ++i) ASSERT_EQ(out[i], T(77));
  }
}

TEST(LoaderCrop, MatchesAVoxelByVoxelReferenceForCornersAnywhere) {
  check_random_crops<float>(DType::f32, 0.0f);
  check_random_crops<std::int16_t>(DType::i16, std::int16_t{-1});
}

TEST(LoaderCrop, CropsAMappedCaseWithItsPreviousStage) {
  const TempFolder folder("nnuc_loader_crop");
  const Shape3 shape = {6, 7, 9};
  const PreprocessedCase c = random_case("case_001", 2, shape, 3);
  const std::string path = write_case(folder, c);
  const PreprocessedCaseFile file = PreprocessedCaseFile::open(path, StoreVerification::lazy);
  // The previous stage as a store file whose seg holds the prediction.
  PreprocessedCase prediction = random_case("case_001", 1, shape, 3);
  const std::string previous_path = folder.file("previous_case_001.nnuc");
  write_preprocessed_case(previous_path, prediction);
  const PreviousStageSegmentation previous = previous_stage_from_store_files({previous_path})(0, "case_001");

  const Shape3 corner = {-2, 3, 4}, size = {5, 6, 8};  // sticks out on three sides
  const std::int64_t voxels = size[0] * size[1] * size[2];
  std::vector<float> data(static_cast<std::size_t>(2 * voxels));
  std::vector<std::int16_t> seg(static_cast<std::size_t>(2 * voxels));
  crop_case_patch(file, &previous, corner, size, data.data(), seg.data());
  EXPECT_EQ(data, crop_reference(c.data.to_vector<float>(), 2, shape, corner, size, 0.0f));
  std::vector<std::int16_t> expected_seg =
      crop_reference(c.seg.to_vector<std::int16_t>(), 1, shape, corner, size, std::int16_t{-1});
  const std::vector<std::int16_t> expected_previous =
      crop_reference(prediction.seg.to_vector<std::int16_t>(), 1, shape, corner, size, std::int16_t{-1});
  expected_seg.insert(expected_seg.end(), expected_previous.begin(), expected_previous.end());
  EXPECT_EQ(seg, expected_seg);
  // The padded plane o0 = 0 (i0 = -2) is exactly 0 / -1.
  for (std::int64_t i = 0; i < size[1] * size[2]; ++i) {
    EXPECT_EQ(data[static_cast<std::size_t>(i)], 0.0f);
    EXPECT_EQ(seg[static_cast<std::size_t>(i)], -1);
    EXPECT_EQ(seg[static_cast<std::size_t>(voxels + i)], -1);
  }

  // From tensors, and a previous stage of the wrong shape is refused naming the case file.
  const PreviousStageSegmentation from_tensor = previous_stage_from_tensors({prediction.seg})(0, "case_001");
  std::vector<std::int16_t> seg_again(seg.size());
  crop_case_patch(file, &from_tensor, corner, size, data.data(), seg_again.data());
  EXPECT_EQ(seg_again, seg);
  const Tensor wrong = testing::random_labels(Shape{6, 7, 8}, DType::i16, 3);
  const PreviousStageSegmentation wrong_shape = previous_stage_from_tensors({wrong})(0, "case_001");
  EXPECT_ERROR_MENTIONS(crop_case_patch(file, &wrong_shape, corner, size, data.data(), seg.data()), path);
  EXPECT_ERROR_MENTIONS(previous_stage_from_tensors({})(0, "case_001"), "case_001");
}

}  // namespace
}  // namespace nnuc::data
