// Step 14 on the CPU (data/augment/cascade.h): one-hot channels, ball morphology against a brute-force
// reference, the rule that added voxels leave the other channels, component removal (only components
// under 15 % of the patch, picked by the draw in smallest-voxel order), the draws' rates, their fixed
// consumption, and determinism.
#include "data/augment/cascade.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "data/components/connected_components.h"
#include "kernels/core/allocator.h"
#include "tests/augment/cascade_test_util.h"
#include "tests/support/test_support.h"

namespace nnuc::augment {
namespace {

using namespace testing_cascade;
const Context& cpu_ctx = Context::cpu();

// A one-sample, one-label input whose one-hot channel is `mask`.
Tensor single_channel_previous(const std::vector<std::uint8_t>& mask, const Shape3& patch) {
  std::vector<std::int16_t> labels(mask.begin(), mask.end());
  return Tensor::from_vector(Shape{1, 1, patch[0], patch[1], patch[2]}, labels);
}

Tensor empty_image(const Shape3& patch) {
  return Tensor::empty_cpu(Shape{1, 0, patch[0], patch[1], patch[2]}, DType::f32);
}

TEST(CascadeInputs, ValidationAppendsOneHotChannelsInLabelOrder) {
  const Shape3 patch{9, 11, 7};
  const Tensor data = nnuc::testing::random_uniform(Shape{2, 2, 9, 11, 7}, DType::f32);
  const Tensor previous = previous_segmentation(2, patch, 5);
  const std::vector<int> labels{3, 1, 4, 7};  // 7 does not occur: an all-zero channel
  const Tensor out = cascade_inputs(cpu_ctx, data, previous, labels, nullptr);
  ASSERT_EQ(out.shape(), (Shape{2, 6, 9, 11, 7}));
  const std::int64_t voxels = 9 * 11 * 7;
  const float* got = out.data<float>();
  const float* image = data.data<float>();
  const std::int16_t* seg = previous.data<std::int16_t>();
  for (std::int64_t b = 0; b < 2; ++b) {
    for (std::int64_t c = 0; c < 2; ++c)
      for (std::int64_t v = 0; v < voxels; ++v)
        ASSERT_EQ(got[(b * 6 + c) * voxels + v], image[(b * 2 + c) * voxels + v]);
    for (std::size_t f = 0; f < labels.size(); ++f)
      for (std::int64_t v = 0; v < voxels; ++v)
        ASSERT_EQ(got[(b * 6 + 2 + static_cast<std::int64_t>(f)) * voxels + v],
                  seg[b * voxels + v] == labels[f] ? 1.0f : 0.0f);
  }
  // Params where nothing fires give the same result; the inputs stay as they were.
  const std::vector<CascadeParams> quiet(2);
  EXPECT_EQ(cascade_inputs(cpu_ctx, data, previous, labels, &quiet).to_vector<float>(), out.to_vector<float>());
}

TEST(CascadeInputs, MorphologyMatchesBruteForceBall) {
  for (const Shape3& patch : {Shape3{14, 17, 15}, Shape3{1, 31, 27}, Shape3{6, 1, 25}}) {
    const auto labels = blob_labels(patch, 2, 6, 4.0, 0.04);
    std::vector<std::uint8_t> mask(labels.begin(), labels.end());
    for (BinaryOperator op :
         {BinaryOperator::dilation, BinaryOperator::erosion, BinaryOperator::closing, BinaryOperator::opening}) {
      for (float radius : {1.0f, 1.5f, 2.3f, 3.0f, 4.9f, 7.99f}) {
        SCOPED_TRACE(std::string(binary_operator_name(op)) + " radius " + std::to_string(radius) + " patch (" +
                     std::to_string(patch[0]) + ", " + std::to_string(patch[1]) + ", " + std::to_string(patch[2]) +
                     ")");
        std::vector<CascadeParams> params(1);
        params[0].binary_operator = true;
        params[0].morphology.push_back({0, op, radius});
        const Tensor out =
            cascade_inputs(cpu_ctx, empty_image(patch), single_channel_previous(mask, patch), {1}, &params);
        ASSERT_EQ(channel_mask(out, 0, 0), brute_operator(mask, patch, op, radius));
      }
    }
  }
}

TEST(CascadeInputs, MorphologyKeepsThePatchBorderAndSeesNothingOutside) {
  // All foreground: erosion keeps everything (outside the patch is not background), dilation of an
  // empty channel adds nothing.
  const Shape3 patch{5, 6, 7};
  const std::vector<std::uint8_t> full(210, 1), none(210, 0);
  for (BinaryOperator op : {BinaryOperator::erosion, BinaryOperator::opening, BinaryOperator::closing}) {
    std::vector<CascadeParams> params(1);
    params[0].morphology.push_back({0, op, 3.5f});
    EXPECT_EQ(
        channel_mask(cascade_inputs(cpu_ctx, empty_image(patch), single_channel_previous(full, patch), {1}, &params), 0,
                     0),
        full);
    EXPECT_EQ(
        channel_mask(cascade_inputs(cpu_ctx, empty_image(patch), single_channel_previous(none, patch), {1}, &params), 0,
                     0),
        none);
  }
}

TEST(CascadeInputs, VoxelsAddedToAChannelLeaveTheOthers) {
  const Shape3 patch{12, 13, 11};
  const Tensor previous = previous_segmentation(1, patch, 4, 14, 4.0, 0.03);
  const std::vector<int> labels{1, 2, 3};
  const Tensor before = cascade_inputs(cpu_ctx, empty_image(patch), previous, labels, nullptr);
  for (int target = 0; target < 3; ++target) {
    for (BinaryOperator op : {BinaryOperator::dilation, BinaryOperator::closing, BinaryOperator::erosion}) {
      std::vector<CascadeParams> params(1);
      params[0].morphology.push_back({target, op, 2.6f});
      const Tensor after = cascade_inputs(cpu_ctx, empty_image(patch), previous, labels, &params);
      const auto old_target = channel_mask(before, 0, target), new_target = channel_mask(after, 0, target);
      EXPECT_EQ(new_target, brute_operator(old_target, patch, op, 2.6f));
      for (int other = 0; other < 3; ++other) {
        if (other == target) continue;
        const auto old_other = channel_mask(before, 0, other), new_other = channel_mask(after, 0, other);
        for (std::size_t v = 0; v < old_other.size(); ++v) {
          const bool added = new_target[v] != 0 && old_target[v] == 0;
          ASSERT_EQ(new_other[v], added ? 0 : old_other[v]) << "channel " << other << " voxel " << v;
        }
      }
    }
  }
}

TEST(CascadeInputs, ComponentRemovalPicksOnlySmallComponentsInVoxelOrder) {
  // 10 x 10 x 10 = 1000 voxels, so eligible means fewer than 150. A slab of 200 and a block of
  // exactly 150 are not; a block of 144 (first voxel 300), a voxel at 309, a 2 x 2 x 2 block (first
  // voxel 848) and a voxel at 900 are, in that order.
  const Shape3 patch{10, 10, 10};
  std::vector<std::uint8_t> mask(1000, 0);
  auto fill = [&](int x0, int x1, int y0, int y1, int z0, int z1) {
    for (int x = x0; x <= x1; ++x)
      for (int y = y0; y <= y1; ++y)
        for (int z = z0; z <= z1; ++z) mask[static_cast<std::size_t>((x * 10 + y) * 10 + z)] = 1;
  };
  fill(0, 1, 0, 9, 0, 9);  // 200
  fill(3, 6, 0, 5, 0, 5);  // 144
  fill(3, 7, 7, 9, 0, 9);  // 150
  fill(9, 9, 0, 0, 0, 0);
  fill(8, 9, 4, 5, 8, 9);
  fill(3, 3, 0, 0, 9, 9);
  const data::ComponentLabels components = data::label_components(mask, patch);
  ASSERT_EQ(components.count, 6);
  const auto sizes = data::component_sizes(components);
  std::vector<std::int32_t> eligible;
  for (std::int32_t label = 1; label <= components.count; ++label)
    if (sizes[static_cast<std::size_t>(label)] < 150) eligible.push_back(label);
  ASSERT_EQ(eligible.size(), 4u);
  const std::vector<std::size_t> first_voxels{300, 309, 848, 900};
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(components.labels[first_voxels[i]], eligible[i]);
  for (int k = 0; k < 8; ++k) {
    const double choice = (k + 0.5) / 8.0;
    std::vector<CascadeParams> params(1);
    params[0].component_removal = true;
    params[0].removals.push_back({0, choice});
    const auto got = channel_mask(
        cascade_inputs(cpu_ctx, empty_image(patch), single_channel_previous(mask, patch), {1}, &params), 0, 0);
    const std::int32_t removed = eligible[static_cast<std::size_t>(removal_index(choice, 4))];
    for (std::size_t v = 0; v < mask.size(); ++v)
      ASSERT_EQ(got[v], components.labels[v] == removed ? 0 : mask[v]) << "choice " << choice << " voxel " << v;
  }
  // Only components of 15 % and more: nothing changes. An empty channel stays empty.
  std::vector<std::uint8_t> big(1000, 0);
  for (std::size_t v = 0; v < 150; ++v) big[v] = 1;
  std::vector<CascadeParams> params(1);
  params[0].removals.push_back({0, 0.3});
  EXPECT_EQ(channel_mask(cascade_inputs(cpu_ctx, empty_image(patch), single_channel_previous(big, patch), {1}, &params),
                         0, 0),
            big);
  const std::vector<std::uint8_t> none(1000, 0);
  EXPECT_EQ(channel_mask(
                cascade_inputs(cpu_ctx, empty_image(patch), single_channel_previous(none, patch), {1}, &params), 0, 0),
            none);
}

TEST(CascadeInputs, RandomRemovalsClearExactlyOneSmallComponentOfTheirChannel) {
  const Shape3 patch{16, 14, 12};
  const std::int64_t voxels = 16 * 14 * 12;
  const Tensor previous = previous_segmentation(2, patch, 3, 10, 5.0, 0.02);
  const std::vector<int> labels{1, 2};
  for (int trial = 0; trial < 6; ++trial) {
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    std::vector<CascadeParams> params(2);
    for (auto& p : params) p.removals.push_back({trial % 2, unit(nnuc::testing::rng())});
    const Tensor data = Tensor::empty_cpu(Shape{2, 0, 16, 14, 12}, DType::f32);
    const Tensor plain = cascade_inputs(cpu_ctx, data, previous, labels, nullptr);
    const Tensor out = cascade_inputs(cpu_ctx, data, previous, labels, &params);
    for (std::int64_t b = 0; b < 2; ++b) {
      const int channel = trial % 2;
      const auto old_mask = channel_mask(plain, b, channel), new_mask = channel_mask(out, b, channel);
      EXPECT_EQ(channel_mask(plain, b, 1 - channel), channel_mask(out, b, 1 - channel));
      const data::ComponentLabels components = data::label_components(old_mask, patch);
      const auto sizes = data::component_sizes(components);
      std::set<std::int32_t> removed;
      for (std::size_t v = 0; v < old_mask.size(); ++v) {
        ASSERT_LE(new_mask[v], old_mask[v]);
        if (new_mask[v] != old_mask[v]) removed.insert(components.labels[v]);
      }
      bool any_small = false;
      for (std::int32_t label = 1; label <= components.count; ++label)
        any_small = any_small ||
                    static_cast<double>(sizes[static_cast<std::size_t>(label)]) < 0.15 * static_cast<double>(voxels);
      ASSERT_EQ(removed.size(), any_small ? 1u : 0u);
      if (!removed.empty()) {
        const std::int32_t label = *removed.begin();
        EXPECT_LT(static_cast<double>(sizes[static_cast<std::size_t>(label)]), 0.15 * static_cast<double>(voxels));
        for (std::size_t v = 0; v < old_mask.size(); ++v)
          if (components.labels[v] == label) {
            ASSERT_EQ(new_mask[v], 0);  // the whole component
          }
      }
    }
  }
}

TEST(CascadeDraws, RatesMatchTheSpec) {
  constexpr int kSamples = 20000, kLabels = 3;
  int morphology_fired = 0, removal_fired = 0, morphology_channels = 0, removal_channels = 0;
  std::map<int, int> ops;
  std::map<std::vector<int>, int> orders;
  double radius_sum = 0, choice_sum = 0;
  float radius_min = 100, radius_max = 0;
  const std::uint64_t seed = nnuc::testing::test_seed();
  for (int s = 0; s < kSamples; ++s) {
    PhiloxDraws draws(philox_key(seed, PhiloxStream::augmentation), static_cast<std::uint32_t>(s), 0, 0);
    const CascadeParams p = draw_cascade(draws, kLabels);
    morphology_fired += p.binary_operator;
    removal_fired += p.component_removal;
    EXPECT_TRUE(p.binary_operator || p.morphology.empty());
    EXPECT_TRUE(p.component_removal || p.removals.empty());
    morphology_channels += static_cast<int>(p.morphology.size());
    removal_channels += static_cast<int>(p.removals.size());
    std::vector<int> order;
    for (const CascadeMorphology& m : p.morphology) {
      ++ops[static_cast<int>(m.op)];
      radius_sum += m.radius;
      radius_min = std::min(radius_min, m.radius);
      radius_max = std::max(radius_max, m.radius);
      order.push_back(m.channel);
    }
    if (order.size() == kLabels) ++orders[order];
    std::set<int> seen;
    for (const CascadeRemoval& r : p.removals) {
      EXPECT_TRUE(seen.insert(r.channel).second);
      choice_sum += r.choice;
    }
  }
  // Binomial bounds at 5 standard deviations.
  const auto near = [](double count, double n, double p) {
    return std::fabs(count - n * p) <= 5.0 * std::sqrt(n * p * (1 - p));
  };
  EXPECT_TRUE(near(morphology_fired, kSamples, 0.4)) << morphology_fired;
  EXPECT_TRUE(near(removal_fired, kSamples, 0.2)) << removal_fired;
  EXPECT_TRUE(near(morphology_channels, morphology_fired * kLabels, 0.5)) << morphology_channels;
  EXPECT_TRUE(near(removal_channels, removal_fired * kLabels, 0.5)) << removal_channels;
  for (int op = 0; op < 4; ++op)
    EXPECT_TRUE(near(ops[op], morphology_channels, 0.25)) << "operator " << op << ": " << ops[op];
  EXPECT_NEAR(radius_sum / morphology_channels, 4.5, 0.1);
  EXPECT_GE(radius_min, 1.0f);
  EXPECT_LE(radius_max, 8.0f);
  EXPECT_NEAR(choice_sum / removal_channels, 0.5, 0.05);
  int full_orders = 0;
  for (const auto& [order, count] : orders) full_orders += count;
  EXPECT_EQ(orders.size(), 6u);  // every permutation of 3 channels occurs, about equally often
  for (const auto& [order, count] : orders)
    EXPECT_TRUE(near(count, full_orders, 1.0 / 6.0)) << count << " of " << full_orders;
}

TEST(CascadeDraws, ConsumeAFixedNumberOfUniformsAndAreDeterministic) {
  const PhiloxKey key = philox_key(nnuc::testing::test_seed(), PhiloxStream::augmentation);
  for (int labels : {1, 2, 5}) {
    for (std::uint32_t sample = 0; sample < 50; ++sample) {
      PhiloxDraws a(key, 7, sample, 0), b(key, 7, sample, 0), skip(key, 7, sample, 0);
      const CascadeParams first = draw_cascade(a, labels), second = draw_cascade(b, labels);
      ASSERT_EQ(first.morphology.size(), second.morphology.size());
      for (std::size_t i = 0; i < first.morphology.size(); ++i) {
        EXPECT_EQ(first.morphology[i].channel, second.morphology[i].channel);
        EXPECT_EQ(first.morphology[i].op, second.morphology[i].op);
        EXPECT_EQ(first.morphology[i].radius, second.morphology[i].radius);
      }
      ASSERT_EQ(first.removals.size(), second.removals.size());
      for (int i = 0; i < kCascadeUniformsPerSample + labels * kCascadeUniformsPerChannel; ++i) skip.uniform();
      EXPECT_EQ(a.next_u32(), skip.next_u32());
    }
  }
  EXPECT_ERROR_MENTIONS(
      {
        PhiloxDraws draws(key, 0, 0, 0);
        draw_cascade(draws, 0);
      },
      "foreground_labels must be >= 1");
}

TEST(CascadeInputs, DrawnPerturbationsAreDeterministicAndStayOneHot) {
  const Shape3 patch{10, 12, 9};
  const Tensor data = nnuc::testing::random_uniform(Shape{4, 1, 10, 12, 9}, DType::f32);
  const Tensor previous = previous_segmentation(4, patch, 4);
  const std::vector<int> labels{1, 2, 3};
  const std::uint64_t seed = nnuc::testing::test_seed();
  for (std::uint32_t iteration = 0; iteration < 5; ++iteration) {
    const auto params = drawn_batch(seed, iteration, 4, 3);
    const Tensor first = cascade_inputs(cpu_ctx, data, previous, labels, &params);
    EXPECT_EQ(first.to_vector<float>(), cascade_inputs(cpu_ctx, data, previous, labels, &params).to_vector<float>());
    const std::int64_t voxels = 10 * 12 * 9;
    const float* values = first.data<float>();
    for (std::int64_t b = 0; b < 4; ++b)
      for (std::int64_t v = 0; v < voxels; ++v) {
        float sum = 0;
        for (std::int64_t f = 0; f < 3; ++f) {
          const float value = values[(b * 4 + 1 + f) * voxels + v];
          ASSERT_TRUE(value == 0.0f || value == 1.0f);
          sum += value;
        }
        ASSERT_LE(sum, 1.0f) << "two classes claim voxel " << v << " of sample " << b;
      }
  }
}

TEST(CascadeInputs, ComponentRootsAreEachComponentsSmallestVoxel) {
  const Shape3 patch{9, 10, 11};
  const auto labels = blob_labels(patch, 2, 8, 3.0, 0.05);
  std::vector<float> values(labels.begin(), labels.end());
  const Tensor roots = component_roots(cpu_ctx, Tensor::from_vector(Shape{9, 10, 11}, values));
  const data::ComponentLabels components =
      data::label_components(std::vector<std::uint8_t>(labels.begin(), labels.end()), patch);
  std::map<std::int32_t, std::int32_t> first;
  const std::int32_t* got = roots.data<std::int32_t>();
  for (std::size_t v = 0; v < labels.size(); ++v) {
    if (components.labels[v] == 0) {
      ASSERT_EQ(got[v], -1);
      continue;
    }
    first.emplace(components.labels[v], static_cast<std::int32_t>(v));
    ASSERT_EQ(got[v], first[components.labels[v]]);
  }
}

TEST(CascadeInputs, ChecksItsArgumentsAndAccountsOnMeta) {
  const Tensor data = nnuc::testing::random_uniform(Shape{2, 1, 4, 5, 6}, DType::f32);
  const Tensor previous = previous_segmentation(2, Shape3{4, 5, 6}, 3);
  EXPECT_ERROR_MENTIONS(cascade_inputs(cpu_ctx, data, previous, {}, nullptr), "foreground_labels is empty");
  EXPECT_ERROR_MENTIONS(cascade_inputs(cpu_ctx, data, previous.reshape(Shape{1, 2, 4, 5, 6}), {1}, nullptr),
                        "previous must be (2, 1, 4, 5, 6)");
  std::vector<CascadeParams> one(1);
  EXPECT_ERROR_MENTIONS(cascade_inputs(cpu_ctx, data, previous, {1}, &one), "1 CascadeParams for a batch of 2");
  std::vector<CascadeParams> bad(2);
  bad[1].morphology.push_back({2, BinaryOperator::dilation, 2.0f});
  EXPECT_ERROR_MENTIONS(cascade_inputs(cpu_ctx, data, previous, {1, 2}, &bad), "morphology on channel 2");
  bad[1].morphology.clear();
  bad[1].removals.push_back({0, 1.0});
  EXPECT_ERROR_MENTIONS(cascade_inputs(cpu_ctx, data, previous, {1, 2}, &bad), "choice 1");
  EXPECT_ERROR_MENTIONS(cascade_inputs(cpu_ctx, previous, previous, {1}, nullptr), "data");

  // Meta allocates the output and, when something fires, the workspace.
  const auto meta = Context::meta(Device::CPU);
  const Tensor meta_data = Tensor::empty(Shape{2, 1, 4, 5, 6}, DType::f32, *meta);
  const Tensor meta_previous = Tensor::empty(Shape{2, 1, 4, 5, 6}, DType::i16, *meta);
  const auto params = std::vector<CascadeParams>{everything(2, 1), CascadeParams{}};
  const std::size_t peak = nnuc::testing::peak_bytes_of(Device::Meta, [&] {
    const Tensor out = cascade_inputs(*meta, meta_data, meta_previous, {1, 2}, &params);
    EXPECT_EQ(out.shape(), (Shape{2, 3, 4, 5, 6}));
  });
  EXPECT_GE(peak, rounded_allocation_bytes(2 * 3 * 120 * sizeof(float)) +
                      rounded_allocation_bytes(cascade_workspace_bytes(Device::CPU, Shape3{4, 5, 6})));
}

}  // namespace
}  // namespace nnuc::augment
