// Crop to nonzero (nnunet_method.md §2.1): fill holes (scipy.ndimage.binary_fill_holes semantics),
// bounding box, -1 marking.
#include <gtest/gtest.h>

#include <random>

#include "data/preprocess/crop.h"
#include "tests/support/test_support.h"

namespace nnuc::data {
namespace {

using testing::random_mask;

// binary_fill_holes as scipy defines it: iterate a face-connected dilation of "outside" (border value
// 1) restricted to background until nothing changes; filled = not reached.
std::vector<std::uint8_t> reference_fill_holes(const std::vector<std::uint8_t>& mask, const Shape3& shape) {
  const std::int64_t n0 = shape[0], n1 = shape[1], n2 = shape[2];
  std::vector<std::uint8_t> reached(mask.size(), 0);
  auto at = [&](std::int64_t a, std::int64_t b, std::int64_t c) {
    return static_cast<std::size_t>((a * n1 + b) * n2 + c);
  };
  auto reached_or_outside = [&](std::int64_t a, std::int64_t b, std::int64_t c) {
    if (a < 0 || b < 0 || c < 0 || a >= n0 || b >= n1 || c >= n2) return true;
    return reached[at(a, b, c)] != 0;
  };
  bool changed = true;
  while (changed) {
    changed = false;
    for (std::int64_t a = 0; a < n0; ++a)
      for (std::int64_t b = 0; b < n1; ++b)
        for (std::int64_t c = 0; c < n2; ++c) {
          if (mask[at(a, b, c)] || reached[at(a, b, c)]) continue;
          if (reached_or_outside(a - 1, b, c) || reached_or_outside(a + 1, b, c) || reached_or_outside(a, b - 1, c) ||
              reached_or_outside(a, b + 1, c) || reached_or_outside(a, b, c - 1) || reached_or_outside(a, b, c + 1)) {
            reached[at(a, b, c)] = 1;
            changed = true;
          }
        }
  }
  std::vector<std::uint8_t> filled(mask.size());
  for (std::size_t i = 0; i < mask.size(); ++i) filled[i] = reached[i] ? 0 : 1;
  return filled;
}

TEST(PreprocessCrop, FillHolesMatchesScipyDefinitionOnRandomMasks) {
  const std::vector<Shape3> shapes{{7, 9, 6}, {1, 12, 10}, {2, 8, 9}, {5, 1, 7}, {11, 10, 13}, {3, 3, 3}};
  for (const Shape3& shape : shapes) {
    for (double density : {0.3, 0.55, 0.7, 0.85}) {
      const std::vector<std::uint8_t> mask = random_mask(shape, density);
      EXPECT_EQ(fill_holes(mask, shape), reference_fill_holes(mask, shape))
          << "shape (" << shape[0] << ", " << shape[1] << ", " << shape[2] << ") density " << density;
    }
  }
}

TEST(PreprocessCrop, FillHolesFillsEnclosedCavitiesOnlyAndNeverIn2D) {
  // A hollow cube: the cavity is filled, the outside is not.
  const Shape3 shape{7, 7, 7};
  std::vector<std::uint8_t> mask(343, 0);
  for (int a = 1; a < 6; ++a)
    for (int b = 1; b < 6; ++b)
      for (int c = 1; c < 6; ++c) mask[static_cast<std::size_t>((a * 7 + b) * 7 + c)] = 1;
  mask[static_cast<std::size_t>((3 * 7 + 3) * 7 + 3)] = 0;  // cavity voxel
  const auto filled = fill_holes(mask, shape);
  EXPECT_EQ(filled[static_cast<std::size_t>((3 * 7 + 3) * 7 + 3)], 1);
  EXPECT_EQ(filled[0], 0);
  // A ring in a (1, H, W) array: every voxel touches the border along axis 0, so nothing is filled.
  const Shape3 flat{1, 5, 5};
  std::vector<std::uint8_t> ring(25, 1);
  ring[12] = 0;
  EXPECT_EQ(fill_holes(ring, flat)[12], 0);
}

TEST(PreprocessCrop, BoundingBoxIsHalfOpenAndFullWhenEmpty) {
  const Shape3 shape{6, 8, 5};
  std::vector<std::uint8_t> mask(240, 0);
  EXPECT_EQ(bounding_box(mask, shape), (BoundingBox{{0, 0, 0}, {6, 8, 5}}));
  mask[static_cast<std::size_t>((2 * 8 + 3) * 5 + 1)] = 1;
  mask[static_cast<std::size_t>((4 * 8 + 6) * 5 + 4)] = 1;
  EXPECT_EQ(bounding_box(mask, shape), (BoundingBox{{2, 3, 1}, {5, 7, 5}}));
}

TEST(PreprocessCrop, CropToNonzeroCropsAllChannelsAndMarksOutsideWithMinusOne) {
  const Shape3 shape{9, 10, 8};
  const std::int64_t count = 720;
  Tensor image = testing::random_uniform(Shape{2, shape[0], shape[1], shape[2]}, DType::f32, 0.5, 2.0);
  float* values = image.data<float>();
  // Channel 0 nonzero in a box; channel 1 adds one voxel outside it (the union defines the crop).
  for (std::int64_t a = 0; a < 9; ++a)
    for (std::int64_t b = 0; b < 10; ++b)
      for (std::int64_t c = 0; c < 8; ++c) {
        const std::int64_t i = (a * 10 + b) * 8 + c;
        const bool in_box = a >= 2 && a < 7 && b >= 1 && b < 6 && c >= 3 && c < 8;
        if (!in_box) values[i] = 0;
        if (!(a == 8 && b == 2 && c == 4)) values[count + i] = 0;
      }
  values[(4 * 10 + 3) * 8 + 5] = 0;  // interior zero in the box: a hole, gets filled
  values[(2 * 10 + 1) * 8 + 3] = 0;  // corner zero: touches the outside, not filled
  Tensor seg = testing::random_labels(Shape{shape[0], shape[1], shape[2]}, DType::i16, 3);
  const CropResult result = crop_to_nonzero(image, seg);
  EXPECT_EQ(result.bbox, (BoundingBox{{2, 1, 3}, {9, 6, 8}}));
  ASSERT_EQ(result.image.shape(), (Shape{2, 7, 5, 5}));
  ASSERT_EQ(result.seg.shape(), (Shape{7, 5, 5}));
  const std::vector<std::uint8_t> mask = nonzero_mask(image);
  for (std::int64_t a = 0; a < 7; ++a)
    for (std::int64_t b = 0; b < 5; ++b)
      for (std::int64_t c = 0; c < 5; ++c) {
        const std::int64_t source = ((a + 2) * 10 + (b + 1)) * 8 + (c + 3);
        const std::int64_t target = (a * 5 + b) * 5 + c;
        for (int channel = 0; channel < 2; ++channel)
          EXPECT_EQ(result.image.data<float>()[channel * 175 + target], values[channel * count + source]);
        const std::int16_t original = seg.data<std::int16_t>()[source];
        const std::int16_t expected = (original == 0 && !mask[static_cast<std::size_t>(source)]) ? -1 : original;
        EXPECT_EQ(result.seg.data<std::int16_t>()[target], expected);
      }
  EXPECT_EQ(mask[static_cast<std::size_t>((4 * 10 + 3) * 8 + 5)], 1);
  EXPECT_EQ(mask[static_cast<std::size_t>((2 * 10 + 1) * 8 + 3)], 0);

  // Without a label map: 0 inside the mask, -1 outside.
  const CropResult unlabeled = crop_to_nonzero(image, Tensor());
  for (std::int64_t a = 0; a < 7; ++a)
    for (std::int64_t b = 0; b < 5; ++b)
      for (std::int64_t c = 0; c < 5; ++c) {
        const std::int64_t source = ((a + 2) * 10 + (b + 1)) * 8 + (c + 3);
        EXPECT_EQ(unlabeled.seg.data<std::int16_t>()[(a * 5 + b) * 5 + c],
                  mask[static_cast<std::size_t>(source)] ? 0 : -1);
      }
  EXPECT_THROW(crop_to_nonzero(image, testing::random_labels(Shape{9, 10, 7}, DType::i16, 2)), InvalidInput);
}

}  // namespace
}  // namespace nnuc::data
