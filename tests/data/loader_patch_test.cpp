// Patch sampling (data/loader/patch.h): rotation ranges and dummy-2D (§7.2), the enlarged patch
// P_load (Appendix A.4, every row), foreground-forced positions (A.9) and their per-rank split
// (§6.11), padding and corner bounds with Python's floor semantics (§7.1), and the corner draws:
// forced patches contain a stored voxel of an eligible class, the annotated-voxels class only when
// nothing else is eligible, ignore-label patches centred on annotated voxels, random corners over the
// whole [lb, ub] range.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "data/loader/patch.h"
#include "tests/support/test_support.h"

namespace nnuc::data {
namespace {

constexpr double kPi = 3.141592653589793;

TEST(LoaderPatch, EnlargedPatchSizeReproducesAppendixA4) {
  struct Row {
    std::vector<std::int64_t> patch;
    double degrees;
    bool dummy_2d;
    std::vector<std::int64_t> p_load;
  };
  const std::vector<Row> rows = {
      {{128, 128, 128}, 30, false, {205, 205, 205}},
      {{40, 56, 40}, 30, false, {73, 80, 64}},
      {{112, 160, 128}, 30, false, {208, 238, 196}},
      {{64, 192, 160}, 30, false, {178, 289, 200}},
      {{20, 320, 256}, 180, true, {20, 376, 376}},
      {{512, 512}, 180, false, {602, 602}},
      {{56, 40}, 180, false, {65, 65}},
      {{320, 160}, 15, false, {412, 188}},
  };
  for (const Row& row : rows) {
    const AugmentationGeometry geometry = rotation_and_dummy_2d(row.patch);
    SCOPED_TRACE(::testing::Message() << "patch of " << row.patch.size() << " axes, first " << row.patch[0]);
    EXPECT_EQ(geometry.dummy_2d, row.dummy_2d);
    for (const double range : geometry.rotation_range) EXPECT_NEAR(range, row.degrees / 180.0 * kPi, 1e-15);
    EXPECT_EQ(geometry.mirror_axes, row.patch.size() == 3 ? std::vector<int>({0, 1, 2}) : std::vector<int>({0, 1}));
    EXPECT_EQ(enlarged_patch_size(row.patch, geometry.rotation_range, geometry.dummy_2d), row.p_load);
  }
}

TEST(LoaderPatch, DummyTwoDNeedsAnisotropyAboveThree) {
  EXPECT_FALSE(rotation_and_dummy_2d({32, 96, 96}).dummy_2d);  // exactly 3
  EXPECT_TRUE(rotation_and_dummy_2d({31, 96, 96}).dummy_2d);
  EXPECT_FALSE(rotation_and_dummy_2d({96, 32, 96}).dummy_2d);                       // only max / P[0] counts
  EXPECT_NEAR(rotation_and_dummy_2d({64, 96}).rotation_range[0], kPi, 1e-15);       // ratio 1.5: not above
  EXPECT_NEAR(rotation_and_dummy_2d({64, 97}).rotation_range[0], kPi / 12, 1e-15);  // 15°
  // No rotation: P_load = P / 0.85 truncated; a dummy-2D axis keeps its size.
  EXPECT_EQ(enlarged_patch_size({17, 40, 85}, {0, 0, 0}, false), (std::vector<std::int64_t>{20, 47, 100}));
  EXPECT_EQ(enlarged_patch_size({17, 40, 85}, {0, 0, 0}, true), (std::vector<std::int64_t>{17, 47, 100}));
  EXPECT_EQ(sampling_patch({56, 40}), (Shape3{1, 56, 40}));
  EXPECT_EQ(sampling_patch({40, 56, 40}), (Shape3{40, 56, 40}));
  EXPECT_ERROR_MENTIONS(enlarged_patch_size({4}, {0, 0, 0}, false), "2 or 3 values");
}

TEST(LoaderPatch, ForegroundForcedPositionsReproduceAppendixA9) {
  const std::vector<std::pair<std::int64_t, std::set<std::int64_t>>> rows = {
      {2, {1}}, {3, {2}}, {4, {3}}, {5, {3, 4}}, {9, {6, 7, 8}}, {12, {8, 9, 10, 11}}, {1, {}}};
  for (const auto& [batch, expected] : rows) {
    std::set<std::int64_t> forced;
    for (std::int64_t j = 0; j < batch; ++j)
      if (foreground_forced(j, batch)) forced.insert(j);
    EXPECT_EQ(forced, expected) << "B = " << batch;
  }
  // round() is half to even: B = 2 with oversample 0.25 gives round(1.5) = 2, B = 10 with 0.75 round(2.5) = 2.
  EXPECT_FALSE(foreground_forced(1, 2, 0.25));
  EXPECT_TRUE(foreground_forced(2, 10, 0.75));
  EXPECT_FALSE(foreground_forced(1, 10, 0.75));
}

TEST(LoaderPatch, RankBatchesSplitTheGlobalBatchAndKeepTheGlobalForcingRule) {
  for (const double oversample : {0.33, 0.5, 0.1, 1.0, 0.0}) {
    for (std::int64_t batch = 1; batch <= 64; ++batch) {
      for (int world = 1; world <= batch; ++world) {
        std::int64_t next_first = 0;
        for (int rank = 0; rank < world; ++rank) {
          const RankBatch share = rank_batch(batch, world, rank, oversample);
          ASSERT_EQ(share.first_element, next_first);
          ASSERT_EQ(share.batch_size, batch / world + (rank < batch % world ? 1 : 0));
          for (std::int64_t j = 0; j < share.batch_size; ++j)
            ASSERT_EQ(share.forced[static_cast<std::size_t>(j)],
                      foreground_forced(share.first_element + j, batch, oversample))
                << "B " << batch << " W " << world << " rank " << rank << " element " << j << " p " << oversample;
          next_first += share.batch_size;
        }
        ASSERT_EQ(next_first, batch);
      }
    }
  }
  // nnU-Net's fractions for B = 9 on 2 ranks: 5 random elements, then 4 with 3 forced.
  EXPECT_EQ(rank_batch(9, 2, 0).oversample_foreground, 0.0);
  EXPECT_EQ(rank_batch(9, 2, 1).oversample_foreground, 0.75);
  EXPECT_ERROR_MENTIONS(rank_batch(2, 3, 0), "at least the number of ranks");
}

// Python: lb = -n // 2, ub = shape + n // 2 + n % 2 - P_load, with floor division.
TEST(LoaderPatch, BoundsFollowPythonFloorSemantics) {
  PatchBounds bounds = padding_and_bounds({100, 100, 100}, {73, 80, 64}, {40, 56, 40});
  EXPECT_EQ(bounds.need_to_pad, (Shape3{33, 24, 24}));
  EXPECT_EQ(bounds.lower, (Shape3{-17, -12, -12}));
  EXPECT_EQ(bounds.upper, (Shape3{44, 32, 48}));
  // A case smaller than P_load - need_to_pad: need_to_pad grows to P_load - shape.
  bounds = padding_and_bounds({30, 1, 81}, {73, 1, 80}, {40, 1, 56});
  EXPECT_EQ(bounds.need_to_pad, (Shape3{43, 0, 24}));
  EXPECT_EQ(bounds.lower, (Shape3{-22, 0, -12}));
  EXPECT_EQ(bounds.upper, (Shape3{-21, 0, 13}));
  // Random sizes (also P_load < P_final, where n is negative and floor differs from truncation).
  std::uniform_int_distribution<std::int64_t> size(1, 40);
  for (int trial = 0; trial < 2000; ++trial) {
    const Shape3 shape = {size(testing::rng()), size(testing::rng()), size(testing::rng())};
    const Shape3 load = {size(testing::rng()), size(testing::rng()), size(testing::rng())};
    const Shape3 final_patch = {size(testing::rng()), size(testing::rng()), size(testing::rng())};
    bounds = padding_and_bounds(shape, load, final_patch);
    for (int d = 0; d < 3; ++d) {
      const std::int64_t n = std::max(load[d] - final_patch[d], load[d] - shape[d]);
      ASSERT_EQ(bounds.need_to_pad[d], n);
      ASSERT_EQ(bounds.lower[d], static_cast<std::int64_t>(std::floor(-n / 2.0)));
      ASSERT_EQ(bounds.upper[d], shape[d] + static_cast<std::int64_t>(std::ceil(n / 2.0)) - load[d]);
      ASSERT_LE(bounds.lower[d], bounds.upper[d]);
    }
  }
}

ClassLocations random_class(std::vector<int> labels, const Shape3& shape, int count, bool region = false) {
  ClassLocations out;
  out.key.labels = std::move(labels);
  out.key.is_region = region;
  for (int i = 0; i < count; ++i) {
    std::array<std::int32_t, 3> voxel{};
    for (int d = 0; d < 3; ++d)
      voxel[d] =
          static_cast<std::int32_t>(std::uniform_int_distribution<std::int64_t>(0, shape[d] - 1)(testing::rng()));
    out.voxels.push_back(voxel);
  }
  return out;
}

class LoaderCorners : public ::testing::Test {
 protected:
  // Draws `count` corners (iterations 0..count-1, element 3) for one case.
  std::vector<PatchChoice> draw(const std::vector<ClassLocations>* classes, bool forced, int count = 300) const {
    std::vector<PatchChoice> out;
    for (int i = 0; i < count; ++i) {
      out.push_back(draw_patch(key_, static_cast<std::uint64_t>(i), 3, forced, settings_, 1, [&](std::size_t) {
        return CaseForSampling{shape_, classes};
      }));
    }
    return out;
  }
  static bool contains(const PatchChoice& choice, const Shape3& patch) {
    for (int d = 0; d < 3; ++d)
      if (choice.voxel[d] < choice.corner[d] || choice.voxel[d] >= choice.corner[d] + patch[d]) return false;
    return true;
  }

  PhiloxKey key_ = philox_key(testing::rng()(), PhiloxStream::sampler);
  Shape3 shape_{23, 9, 31};
  SamplerSettings settings_{{12, 15, 17}, {8, 10, 11}, kOversampleForeground, false};
};

TEST_F(LoaderCorners, ForcedPatchesContainAStoredVoxelOfAnEligibleClass) {
  const std::vector<ClassLocations> classes = {random_class({1}, shape_, 40), random_class({2}, shape_, 0),
                                               random_class({1, 2}, shape_, 7, true)};
  const PatchBounds bounds = padding_and_bounds(shape_, settings_.patch_load, settings_.patch_final);
  std::set<int> chosen;
  for (const PatchChoice& choice : draw(&classes, true)) {
    ASSERT_TRUE(choice.forced);
    ASSERT_TRUE(choice.class_index == 0 || choice.class_index == 2) << choice.class_index;
    chosen.insert(choice.class_index);
    const auto& voxels = classes[static_cast<std::size_t>(choice.class_index)].voxels;
    ASSERT_NE(std::find(voxels.begin(), voxels.end(), choice.voxel), voxels.end());
    for (int d = 0; d < 3; ++d)
      ASSERT_EQ(choice.corner[d], std::max(bounds.lower[d], choice.voxel[d] - settings_.patch_load[d] / 2));
    ASSERT_TRUE(contains(choice, settings_.patch_load));
  }
  EXPECT_EQ(chosen, (std::set<int>{0, 2}));  // both eligible classes are drawn (300 draws)
}

TEST_F(LoaderCorners, AnnotatedVoxelsAreForcedOnlyWhenNothingElseIsEligible) {
  std::vector<ClassLocations> classes = {random_class({-1, 0, 1, 2}, shape_, 30, true), random_class({1}, shape_, 5),
                                         random_class({2}, shape_, 0)};
  for (const PatchChoice& choice : draw(&classes, true)) ASSERT_EQ(choice.class_index, 1);
  classes[1].voxels.clear();
  for (const PatchChoice& choice : draw(&classes, true)) ASSERT_EQ(choice.class_index, 0);
  // Ignore label: non-forced patches centre on annotated voxels; without it they are random.
  classes[1] = random_class({1}, shape_, 5);
  settings_.has_ignore_label = true;
  for (const PatchChoice& choice : draw(&classes, false)) {
    ASSERT_EQ(choice.class_index, 0);
    ASSERT_TRUE(contains(choice, settings_.patch_load));
  }
  settings_.has_ignore_label = false;
  for (const PatchChoice& choice : draw(&classes, false)) ASSERT_EQ(choice.class_index, -1);
}

TEST_F(LoaderCorners, RandomCornersCoverTheWholeBoundsRange) {
  const std::vector<ClassLocations> empty = {random_class({1}, shape_, 0)};
  const PatchBounds bounds = padding_and_bounds(shape_, settings_.patch_load, settings_.patch_final);
  for (const std::vector<ClassLocations>* classes :
       {static_cast<const std::vector<ClassLocations>*>(nullptr), &empty}) {
    Shape3 low = bounds.upper, high = bounds.lower;
    for (const PatchChoice& choice : draw(classes, true, 2000)) {
      ASSERT_EQ(choice.class_index, -1);  // forced, but no class qualifies
      for (int d = 0; d < 3; ++d) {
        ASSERT_GE(choice.corner[d], bounds.lower[d]);
        ASSERT_LE(choice.corner[d], bounds.upper[d]);
        low[d] = std::min(low[d], choice.corner[d]);
        high[d] = std::max(high[d], choice.corner[d]);
      }
    }
    EXPECT_EQ(low, bounds.lower);
    EXPECT_EQ(high, bounds.upper);
  }
}

TEST_F(LoaderCorners, DrawsArePureFunctionsOfKeyIterationAndElement) {
  const std::vector<ClassLocations> classes = {random_class({1}, shape_, 50)};
  const auto describe = [&](std::size_t) { return CaseForSampling{shape_, &classes}; };
  std::set<std::size_t> cases;
  for (std::uint64_t iteration = 0; iteration < 200; ++iteration) {
    const PatchChoice a = draw_patch(key_, iteration, 1, true, settings_, 7, describe);
    const PatchChoice b = draw_patch(key_, iteration, 1, true, settings_, 7, describe);
    EXPECT_EQ(a.case_index, b.case_index);
    EXPECT_EQ(a.corner, b.corner);
    EXPECT_EQ(a.voxel, b.voxel);
    cases.insert(a.case_index);
  }
  EXPECT_EQ(cases.size(), 7u);  // uniform over 7 cases: all drawn in 200 tries (p of a miss < 1e-12)
  EXPECT_ERROR_MENTIONS(draw_patch(key_, std::uint64_t{1} << 32, 0, false, settings_, 1, describe), "below 2^32");
}

}  // namespace
}  // namespace nnuc::data
