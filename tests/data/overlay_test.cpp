// The overlay pictures of nnuc plot-overlay (data/overlay/overlay.h) against values worked out by hand
// from nnU-Net's overlay_plots.py: the slice choice with nnU-Net's running normalization (a case where
// a plain per-label normalization would choose another slice), ties, volumes without labels, and the
// blend (scaling, colors by rank among the values present, truncation to bytes).
#include "data/overlay/overlay.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "tests/support/test_support.h"

namespace nnuc::data {
namespace {

TEST(OverlaySlice, NnunetsRunningNormalizationChoosesTheSlice) {
  // 3 slices of 1 x 5. Label 1: 4 voxels in slice 0, 1 in slice 2 -> column (0.8, 0, 0.2), matrix
  // sum 1. Label 2: 1 voxel in slice 2 -> divided by 1 + 1: (0, 0, 0.5). Means: 0.4, 0, 0.35 ->
  // slice 0. (Each label divided by its own total would give slice 2: 0.4 vs 0.6.)
  const std::vector<std::int16_t> seg = {1, 1, 1, 1, 0, /**/ 0, 0, 0, 0, 0, /**/ 1, 2, 0, 0, 0};
  EXPECT_EQ(select_overlay_slice(seg.data(), {3, 1, 5}), 0);
  // One more voxel of label 2 in slice 2: (0, 0, 2/3) -> slice 2 (0.4 vs 0.433).
  const std::vector<std::int16_t> more = {1, 1, 1, 1, 0, /**/ 0, 0, 0, 0, 0, /**/ 1, 2, 2, 0, 0};
  EXPECT_EQ(select_overlay_slice(more.data(), {3, 1, 5}), 2);
}

TEST(OverlaySlice, TiesTakeTheFirstSliceAndNoLabelsGiveSliceZero) {
  const std::vector<std::int16_t> tie = {0, 0, /**/ 3, 0, /**/ 0, 3, /**/ 0, 0};
  EXPECT_EQ(select_overlay_slice(tie.data(), {4, 1, 2}), 1);
  // -1 (outside the preprocessed nonzero mask) is not a label.
  const std::vector<std::int16_t> background = {0, -1, /**/ -1, 0, /**/ 0, 0};
  EXPECT_EQ(select_overlay_slice(background.data(), {3, 2, 1}), 0);
  EXPECT_ERROR_MENTIONS(select_overlay_slice(background.data(), {0, 2, 1}), "empty volume");
}

TEST(OverlayRgb, ScalesBlendsByRankAndTruncates) {
  // Image (2, 4, 6) -> (0, 127.5, 255). Label 0 (rank 0) adds black, label 1 (rank 1) 0.6 * (67, 99,
  // 216), label 2 (rank 2) 0.6 * (245, 130, 49): (0,0,0), (167.7, 186.9, 257.1), (402, 333, 284.4);
  // times 255 / 402, truncated.
  const std::vector<float> image = {2.0f, 4.0f, 6.0f};
  const std::vector<std::int16_t> seg = {0, 1, 2};
  const std::vector<std::uint8_t> expected = {0, 0, 0, 106, 118, 163, 255, 211, 180};
  EXPECT_EQ(overlay_rgb(image.data(), seg.data(), 1, 3, 0.6), expected);
  // Without 0 in the slice the smallest label takes rank 0 (black), as in nnU-Net; -1 counts as 0.
  const std::vector<std::int16_t> no_background = {3, 5, 5};
  const std::vector<std::uint8_t> shifted = {0, 0, 0, 111, 123, 170, 195, 208, 255};
  EXPECT_EQ(overlay_rgb(image.data(), no_background.data(), 1, 3, 0.6), shifted);
  const std::vector<std::int16_t> outside = {-1, 1, 2};
  EXPECT_EQ(overlay_rgb(image.data(), outside.data(), 1, 3, 0.6), expected);
}

TEST(OverlayRgb, ColorsRepeatPastTheFifteenthValueAndAConstantSliceStaysBlack) {
  std::mt19937 random(std::random_device{}());
  const float level = std::uniform_real_distribution<float>(-100.0f, 100.0f)(random);
  std::vector<float> image(17, level);
  std::vector<std::int16_t> seg(17);
  for (int i = 0; i < 17; ++i) seg[static_cast<std::size_t>(i)] = static_cast<std::int16_t>(i);
  const std::vector<std::uint8_t> rgb = overlay_rgb(image.data(), seg.data(), 1, 17, 1.0);
  // The brightest channel value of all (0xff, yellow's red and green) scales to 255; value 15 wraps
  // to rank 0 (black), value 16 to the first color.
  for (int c = 0; c < 3; ++c) {
    EXPECT_EQ(rgb[static_cast<std::size_t>(15 * 3 + c)], 0);
    EXPECT_EQ(rgb[static_cast<std::size_t>(16 * 3 + c)], rgb[static_cast<std::size_t>(1 * 3 + c)]);
  }
  EXPECT_EQ(rgb[6 * 3 + 0], 255);
  EXPECT_EQ(rgb[1 * 3 + 2], 216);  // 0xd8 over a peak of 0xff: unchanged
}

}  // namespace
}  // namespace nnuc::data
