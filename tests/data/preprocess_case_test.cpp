// Preprocessing of one case (nnunet_method.md §4.1) and the class locations for foreground
// oversampling (§4.4).
#include "data/preprocess/preprocess_case.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "data/preprocess/numpy_random.h"
#include "tests/support/test_support.h"

namespace nnuc::data {
namespace {

// _sample_foreground_locations written the direct way: list the class's voxels (label by label in
// the listed order, C order within a label), draw choice(total, n, replace=False), index the list.
std::vector<ClassLocations> reference_class_locations(const Tensor& seg, const std::vector<ClassSpec>& classes) {
  const std::int64_t n1 = seg.dim(1), n2 = seg.dim(2);
  const std::int16_t* labels = seg.data<std::int16_t>();
  NumpyRandomState generator(1234);
  std::vector<ClassLocations> out;
  for (const ClassSpec& spec : classes) {
    std::vector<std::int64_t> voxels;
    for (int label : spec.labels)
      for (std::int64_t i = 0; i < seg.numel(); ++i)
        if (labels[i] == label) voxels.push_back(i);
    ClassLocations locations{spec, {}};
    if (!voxels.empty()) {
      const auto total = static_cast<std::int64_t>(voxels.size());
      const std::int64_t n =
          std::max<std::int64_t>(std::min<std::int64_t>(10000, total),
                                 static_cast<std::int64_t>(std::ceil(static_cast<double>(total) * 0.01)));
      for (std::int64_t pick : generator.choice_without_replacement(total, n)) {
        const std::int64_t i = voxels[static_cast<std::size_t>(pick)];
        locations.voxels.push_back({static_cast<std::int32_t>(i / (n1 * n2)), static_cast<std::int32_t>((i / n2) % n1),
                                    static_cast<std::int32_t>(i % n2)});
      }
    }
    out.push_back(locations);
  }
  return out;
}

TEST(PreprocessClassLocations, MatchTheDirectDefinitionForLabelsRegionsAndIgnore) {
  // 60 x 50 x 45 = 135000 voxels, labels -1 .. 3 and a sparse label 6; regions in both label orders.
  Tensor seg = testing::random_labels(Shape{60, 50, 45}, DType::i16, 4);
  std::int16_t* labels = seg.data<std::int16_t>();
  for (std::int64_t i = 0; i < seg.numel(); ++i) {
    if (i % 97 == 0) labels[i] = -1;
    if (i % 1013 == 5) labels[i] = 6;  // sparse class
  }
  const std::vector<ClassSpec> classes{{{1}, false}, {{2, 3}, true}, {{5}, false},
                                       {{6}, false}, {{3, 1}, true}, {{-1, 0, 1, 2, 3}, true}};
  const std::vector<ClassLocations> got = sample_class_locations(seg, classes);
  const std::vector<ClassLocations> want = reference_class_locations(seg, classes);
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t k = 0; k < got.size(); ++k) {
    EXPECT_EQ(got[k].key, want[k].key);
    EXPECT_EQ(got[k].voxels, want[k].voxels) << "class " << k;
  }
  EXPECT_TRUE(got[2].voxels.empty());       // label 5 absent: no draw
  EXPECT_EQ(got[0].voxels.size(), 10000u);  // min(10000, total) > 1 % of total
  EXPECT_EQ(got[5].voxels.size(), 10000u);
  const auto sixes = static_cast<std::size_t>(std::count(labels, labels + seg.numel(), std::int16_t{6}));
  EXPECT_EQ(got[3].voxels.size(), sixes);  // fewer than 10000: all of them
  // A class with more than 1,000,000 voxels gets 1 % of them.
  Tensor big = Tensor::empty_cpu(Shape{110, 100, 100}, DType::i16);
  std::fill_n(big.data<std::int16_t>(), big.numel(), std::int16_t{1});
  const auto big_locations = sample_class_locations(big, {{{1}, false}});
  EXPECT_EQ(big_locations[0].voxels.size(), 11000u);
}

TEST(PreprocessClassLocations, ClassesForSamplingFollowTheLabelManager) {
  const auto plain = classes_for_sampling({0, 1, 2}, {}, false, false);
  EXPECT_EQ(plain, (std::vector<ClassSpec>{{{1}, false}, {{2}, false}}));
  const auto with_ignore = classes_for_sampling({0, 1, 2}, {}, false, true);
  EXPECT_EQ(with_ignore.back(), (ClassSpec{{-1, 0, 1, 2}, true}));
  const auto regions = classes_for_sampling({0, 1, 2, 3}, {{1, 2, 3}, {2, 3}, {3}}, true, false);
  EXPECT_EQ(regions, (std::vector<ClassSpec>{{{1, 2, 3}, true}, {{2, 3}, true}, {{3}, true}}));
}

TEST(PreprocessCase, TransposeMovesAxesAndChannelsStay) {
  Tensor image = testing::random_uniform(Shape{2, 3, 4, 5}, DType::f32, -1, 1);
  const Tensor moved = transpose_spatial(image, {2, 0, 1});
  ASSERT_EQ(moved.shape(), (Shape{2, 5, 3, 4}));
  for (std::int64_t c = 0; c < 2; ++c)
    for (std::int64_t a = 0; a < 3; ++a)
      for (std::int64_t b = 0; b < 4; ++b)
        for (std::int64_t d = 0; d < 5; ++d)
          EXPECT_EQ(moved.data<float>()[((c * 5 + d) * 3 + a) * 4 + b],
                    image.data<float>()[((c * 3 + a) * 4 + b) * 5 + d]);
  EXPECT_THROW(transpose_spatial(image, {0, 0, 1}), InvalidInput);
}

// A case with a zero background around a textured object, labels inside it.
LoadedCase make_case(const Shape3& shape, int channels, bool with_seg) {
  LoadedCase c;
  c.identifier = "case_x";
  c.image = testing::random_uniform(Shape{channels, shape[0], shape[1], shape[2]}, DType::f32, 10, 100);
  c.seg = with_seg ? testing::random_labels(Shape{shape[0], shape[1], shape[2]}, DType::i16, 3) : Tensor();
  const std::int64_t n = shape[0] * shape[1] * shape[2];
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t a = i / (shape[1] * shape[2]), b = (i / shape[2]) % shape[1], d = i % shape[2];
    if (a < 2 || b < 3 || d >= shape[2] - 2) {
      for (int ch = 0; ch < channels; ++ch) c.image.data<float>()[ch * n + i] = 0;
      if (with_seg) c.seg.data<std::int16_t>()[i] = 0;
    }
  }
  c.spacing = {0.8, 3.5, 0.9};
  c.reader_properties = {{"reader", "test"}};
  return c;
}

TEST(PreprocessCase, RunsTransposeCropNormalizeResampleSampleInOrder) {
  const LoadedCase input = make_case({14, 9, 16}, 2, true);
  PreprocessingPlan plan;
  plan.transpose_forward = {1, 0, 2};
  plan.target_spacing = {3.0, 1.0, 1.1};
  plan.normalization = {{NormalizationScheme::ZScore, true, {}},
                        {NormalizationScheme::CT, false, {50, 50, 20, 10, 100, 15, 90}}};
  plan.sampling_classes = classes_for_sampling({0, 1, 2}, {}, false, false);
  const PreprocessedCase out = preprocess_case(input, plan);

  // The same steps composed by hand.
  const Tensor image = transpose_spatial(input.image, plan.transpose_forward);
  const Tensor seg = transpose_spatial(input.seg, plan.transpose_forward);
  CropResult cropped = crop_to_nonzero(image, seg);
  const Spacing3 spacing{3.5, 0.8, 0.9};
  const Spacing3 target{3.0, 1.0, 1.1};
  const Shape3 new_shape = compute_new_shape(cropped.bbox.shape(), spacing, target);
  normalize(cropped.image, cropped.seg, plan.normalization);
  const Tensor data = resample_data(cropped.image, new_shape, spacing, target);
  const Tensor labels = resample_seg(cropped.seg, new_shape, spacing, target);

  EXPECT_EQ(out.identifier, "case_x");
  EXPECT_EQ(out.properties.spacing, input.spacing);
  EXPECT_EQ(out.properties.shape_before_cropping, (Shape3{9, 14, 16}));
  EXPECT_EQ(out.properties.bbox_used_for_cropping, (BoundingBox{{3, 2, 0}, {9, 14, 14}}));
  EXPECT_EQ(out.properties.shape_after_cropping_and_before_resampling, (Shape3{6, 12, 14}));
  EXPECT_EQ(out.properties.spacing_after_resampling, target);
  EXPECT_EQ(out.properties.reader_properties, input.reader_properties);
  ASSERT_EQ(out.data.shape(), data.shape());
  EXPECT_EQ(out.data.to_vector<float>(), data.to_vector<float>());
  EXPECT_EQ(out.seg.to_vector<std::int16_t>(), labels.to_vector<std::int16_t>());
  EXPECT_TRUE(out.properties.has_class_locations);
  const auto expected_locations = sample_class_locations(labels, plan.sampling_classes);
  ASSERT_EQ(out.properties.class_locations.size(), 2u);
  for (std::size_t k = 0; k < 2; ++k) EXPECT_EQ(out.properties.class_locations[k].voxels, expected_locations[k].voxels);
  // ZScore with the mask: the masked voxels of channel 0 have mean ~0 and std ~1 before resampling.
  const std::int64_t count = cropped.seg.numel();
  double sum = 0, squares = 0;
  std::int64_t inside = 0;
  for (std::int64_t i = 0; i < count; ++i)
    if (cropped.seg.data<std::int16_t>()[i] >= 0) {
      sum += cropped.image.data<float>()[i];
      ++inside;
    }
  for (std::int64_t i = 0; i < count; ++i)
    if (cropped.seg.data<std::int16_t>()[i] >= 0)
      squares += std::pow(cropped.image.data<float>()[i] - sum / static_cast<double>(inside), 2);
  EXPECT_NEAR(sum / static_cast<double>(inside), 0.0, 1e-5);
  EXPECT_NEAR(std::sqrt(squares / static_cast<double>(inside)), 1.0, 1e-5);
}

TEST(PreprocessCase, TwoDimensionalPlanKeepsAxisZeroAndTestCasesGetAMaskSeg) {
  const LoadedCase input = make_case({7, 20, 18}, 1, false);
  PreprocessingPlan plan;
  plan.target_spacing = {1.2, 0.7};  // 2d: (a1, a2); axis 0 keeps the case's 0.8
  plan.normalization = {{NormalizationScheme::RescaleTo01, false, {}}};
  const PreprocessedCase out = preprocess_case(input, plan);
  EXPECT_EQ(out.properties.spacing_after_resampling, (Spacing3{0.8, 1.2, 0.7}));
  const Shape3 cropped = out.properties.shape_after_cropping_and_before_resampling;
  EXPECT_EQ(out.data.shape(), (Shape{1, cropped[0], static_cast<std::int64_t>(std::nearbyint(3.5 / 1.2 * cropped[1])),
                                     static_cast<std::int64_t>(std::nearbyint(0.9 / 0.7 * cropped[2]))}));
  EXPECT_FALSE(out.properties.has_class_locations);
  for (std::int16_t v : out.seg.to_vector<std::int16_t>()) EXPECT_TRUE(v == 0 || v == -1);
  for (float v : out.data.to_vector<float>()) EXPECT_TRUE(v >= 0.0f && v <= 1.0f);
  // Without the mask seg (prediction): the same data and properties, no seg.
  plan.keep_mask_seg = false;
  const PreprocessedCase without = preprocess_case(input, plan);
  EXPECT_FALSE(without.seg.defined());
  EXPECT_TRUE(testing::all_close(without.data, out.data, 0, 0));
  EXPECT_EQ(case_properties_to_json(without.properties), case_properties_to_json(out.properties));
  plan.normalization.push_back(plan.normalization[0]);
  EXPECT_THROW(preprocess_case(input, plan), InvalidInput);  // two schemes for one channel
}

}  // namespace
}  // namespace nnuc::data
