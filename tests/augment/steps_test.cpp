// data/augment steps.h on the CPU: mirroring per sample, masking, remove-label, regions and the
// channels-last conversion against index-by-index references; argument errors; Meta allocates only.
#include "data/augment/steps.h"

#include <cstring>

#include "tests/augment/pipeline_test_util.h"
#include "tests/support/test_support.h"

namespace nnuc::augment {
namespace {

using namespace testing_pipeline;

const Context& cpu_ctx = Context::cpu();

std::int64_t at(const Shape& s, std::int64_t b, std::int64_t c, std::int64_t x, std::int64_t y, std::int64_t z) {
  return (((b * s[1] + c) * s[2] + x) * s[3] + y) * s[4] + z;
}

TEST(AugmentSteps, MirrorSamplesFlipsEachSampleByItsOwnMask) {
  const Shape shape{4, 2, 3, 5, 6};
  const std::vector<unsigned> masks{0u, kMirror0 | kMirror2, kMirror1, kMirror0 | kMirror1 | kMirror2};
  for (DType dtype : {DType::f32, DType::i16}) {
    const Tensor x = dtype == DType::f32 ? testing::random_uniform(shape, dtype) : random_labels_in(shape, -1, 9);
    const Tensor out = mirror_samples(cpu_ctx, x, masks);
    ASSERT_EQ(out.shape(), shape);
    const std::vector<double> in = x.to_vector<double>(), got = out.to_vector<double>();
    for (std::int64_t b = 0; b < 4; ++b)
      for (std::int64_t c = 0; c < 2; ++c)
        for (std::int64_t i0 = 0; i0 < 3; ++i0)
          for (std::int64_t i1 = 0; i1 < 5; ++i1)
            for (std::int64_t i2 = 0; i2 < 6; ++i2) {
              const unsigned m = masks[static_cast<std::size_t>(b)];
              const std::int64_t s0 = (m & kMirror0) ? 2 - i0 : i0, s1 = (m & kMirror1) ? 4 - i1 : i1,
                                 s2 = (m & kMirror2) ? 5 - i2 : i2;
              ASSERT_EQ(got[static_cast<std::size_t>(at(shape, b, c, i0, i1, i2))],
                        in[static_cast<std::size_t>(at(shape, b, c, s0, s1, s2))]);
            }
    const Tensor twice = mirror_samples(cpu_ctx, out, masks);
    EXPECT_EQ(std::memcmp(twice.raw(), x.raw(), x.bytes()), 0);
  }
}

TEST(AugmentSteps, MaskImageZeroesFlaggedChannelsWhereTheFirstSegChannelIsNegative) {
  const Shape data_shape{2, 3, 4, 5, 6}, seg_shape{2, 2, 4, 5, 6};
  const Tensor data = testing::random_uniform(data_shape, DType::f32, 0.5, 1.5);
  const Tensor seg = random_labels_in(seg_shape, -1, 2);
  Tensor masked = data.copy_to(cpu_ctx);
  mask_image(cpu_ctx, masked, seg, {true, false, true});
  for (std::int64_t b = 0; b < 2; ++b)
    for (std::int64_t c = 0; c < 3; ++c)
      for (std::int64_t v = 0; v < 120; ++v) {
        const bool outside = seg.data<std::int16_t>()[(b * 2) * 120 + v] < 0;
        const float expected = (c != 1 && outside) ? 0.0f : data.data<float>()[(b * 3 + c) * 120 + v];
        ASSERT_EQ(masked.data<float>()[(b * 3 + c) * 120 + v], expected) << b << " " << c << " " << v;
      }
  EXPECT_ERROR_MENTIONS(mask_image(cpu_ctx, masked, seg, {true}), "channel flags");
}

TEST(AugmentSteps, RemoveLabelSplitsChannelsAndMapsMinusOneToZero) {
  const Shape shape{3, 2, 4, 3, 5};
  const Tensor seg = random_labels_in(shape, -2, 5);  // −2 stays: only −1 is nnU-Net's removed label
  const std::vector<Tensor> out = remove_label(cpu_ctx, seg);
  ASSERT_EQ(out.size(), 2u);
  for (std::int64_t s = 0; s < 2; ++s) {
    ASSERT_EQ(out[static_cast<std::size_t>(s)].shape(), (Shape{3, 1, 4, 3, 5}));
    for (std::int64_t b = 0; b < 3; ++b)
      for (std::int64_t v = 0; v < 60; ++v) {
        const std::int16_t in = seg.data<std::int16_t>()[(b * 2 + s) * 60 + v];
        ASSERT_EQ(out[static_cast<std::size_t>(s)].data<std::int16_t>()[b * 60 + v], in == -1 ? 0 : in);
      }
  }
}

TEST(AugmentSteps, LabelsToRegionsIsMultiHotWithTheIgnoreChannelLast) {
  const Tensor labels = random_labels_in(Shape{2, 3, 4, 5, 1}, 0, 4);
  const std::vector<std::vector<int>> regions{{1, 2, 3}, {2, 3}, {3}};
  const Tensor out = labels_to_regions(cpu_ctx, labels, regions, 4);
  ASSERT_EQ(out.shape(), (Shape{2, 3, 4, 5, 4}));
  ASSERT_EQ(out.dtype(), DType::u8);
  for (std::int64_t v = 0; v < labels.numel(); ++v) {
    const int label = labels.data<std::int16_t>()[v];
    const int expected[4] = {label >= 1 && label <= 3, label == 2 || label == 3, label == 3, label == 4};
    for (int r = 0; r < 4; ++r) ASSERT_EQ(out.data<std::uint8_t>()[v * 4 + r], expected[r]) << "label " << label;
  }
  const Tensor without_ignore = labels_to_regions(cpu_ctx, labels, regions, std::nullopt);
  EXPECT_EQ(without_ignore.dim(4), 3);
  EXPECT_ERROR_MENTIONS(labels_to_regions(cpu_ctx, labels, {{1}, {}}, std::nullopt), "region 1 has no labels");
}

TEST(AugmentSteps, ToChannelsLastTransposesOnce) {
  const Shape shape{2, 3, 4, 5, 2};
  const Tensor data = testing::random_uniform(shape, DType::f32);
  const Tensor out = to_channels_last(cpu_ctx, data, DType::f32);
  ASSERT_EQ(out.shape(), (Shape{2, 4, 5, 2, 3}));
  for (std::int64_t b = 0; b < 2; ++b)
    for (std::int64_t c = 0; c < 3; ++c)
      for (std::int64_t v = 0; v < 40; ++v)
        ASSERT_EQ(out.data<float>()[(b * 40 + v) * 3 + c], data.data<float>()[(b * 3 + c) * 40 + v]);
  EXPECT_ERROR_MENTIONS(to_channels_last(cpu_ctx, data, DType::bf16), "bf16 on CUDA");
}

TEST(AugmentSteps, MetaAllocatesTheOutputsOnly) {
  auto meta = Context::meta(Device::CPU);
  const Tensor data = Tensor::empty(Shape{2, 1, 4, 4, 4}, DType::f32, *meta);
  const Tensor seg = Tensor::empty(Shape{2, 2, 4, 4, 4}, DType::i16, *meta);
  EXPECT_EQ(mirror_samples(*meta, data, {1u, 0u}).shape(), data.shape());
  EXPECT_EQ(remove_label(*meta, seg).size(), 2u);
  EXPECT_EQ(to_channels_last(*meta, data, DType::f32).shape(), (Shape{2, 4, 4, 4, 1}));
  EXPECT_EQ(labels_to_regions(*meta, remove_label(*meta, seg)[0].reshape(Shape{2, 4, 4, 4, 1}), {{1}}, 2).dim(4), 2);
}

TEST(AugmentSteps, RejectsBadMirrorMasks) {
  const Tensor data = testing::random_uniform(Shape{2, 1, 2, 2, 2}, DType::f32);
  EXPECT_ERROR_MENTIONS(mirror_samples(cpu_ctx, data, {1u}), "mirror masks for a batch of 2");
  EXPECT_ERROR_MENTIONS(mirror_samples(cpu_ctx, data, {1u, 8u}), "not a subset");
}

}  // namespace
}  // namespace nnuc::augment
