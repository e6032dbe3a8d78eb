// data/augment on a GPU: each op of spatial.h and steps.h against the CPU on the same inputs
// (exact, or within the op's stated tolerance), and the whole augment_batch — training and
// validation, 3-D with a cascade and masking, 2-D with regions, dummy-2D, f32 and bf16 output —
// against the CPU on the same crops and draws, at the tolerances of augment.h.
#include <cstring>

#include "data/augment/augment.h"
#include "tests/augment/pipeline_test_util.h"
#include "tests/support/coverage.h"
#include "tests/support/test_support.h"

NNUC_COVER_CUDA("spatial_transform");
NNUC_COVER_CUDA("mirror_samples");
NNUC_COVER_CUDA("mask_image");
NNUC_COVER_CUDA("remove_label");
NNUC_COVER_CUDA("labels_to_regions");
NNUC_COVER_CUDA("to_channels_last");

namespace nnuc::augment {
namespace {

using namespace testing_pipeline;

const Context& cpu_ctx = Context::cpu();
const Context& gpu() { return *testing::gpu(); }

Tensor on_gpu(const Tensor& host) { return host.copy_to(gpu()); }

::testing::AssertionResult identical(const Tensor& device, const Tensor& host) {
  const Tensor back = device.to_cpu();
  if (back.shape() != host.shape() || back.dtype() != host.dtype())
    return ::testing::AssertionFailure() << back.describe() << " vs " << host.describe();
  if (std::memcmp(back.raw(), host.raw(), host.bytes()) != 0) return ::testing::AssertionFailure() << "bytes differ";
  return ::testing::AssertionSuccess();
}

// Fraction of elements that differ between a device tensor and a host one of the same shape.
double mismatch_fraction(const Tensor& device, const Tensor& host) {
  const std::vector<double> a = device.to_vector<double>(), b = host.to_vector<double>();
  if (a.size() != b.size()) return 1.0;
  std::int64_t differ = 0;
  for (std::size_t i = 0; i < a.size(); ++i) differ += a[i] != b[i];
  return a.empty() ? 0.0 : static_cast<double>(differ) / static_cast<double>(a.size());
}

std::vector<SpatialParams> random_spatial(std::size_t count) {
  std::uniform_real_distribution<double> angle(-kPi, kPi), scale(kScaleLow, kScaleHigh);
  std::vector<SpatialParams> params(count);
  for (std::size_t i = 0; i < count; ++i) {
    params[i].rotated = i % 3 != 2;
    params[i].scaled = i % 3 != 0;
    params[i].angles = {angle(testing::rng()), angle(testing::rng()), angle(testing::rng())};
    params[i].scale = scale(testing::rng());
  }
  if (count > 3) params[3] = SpatialParams{};  // a centre crop among them
  return params;
}

TEST(AugmentGpu, SpatialTransformMatchesCpu) {
  NNUC_REQUIRE_GPU();
  struct Case {
    Shape data, seg;
    std::array<std::int64_t, 3> patch;
    bool planar;
  };
  // The third case has more samples than one launch carries (32).
  for (const Case& c : {Case{Shape{5, 2, 13, 11, 12}, Shape{5, 2, 13, 11, 12}, {8, 9, 7}, false},
                        Case{Shape{4, 3, 4, 17, 15}, Shape{4, 1, 4, 17, 15}, {4, 12, 10}, true},
                        Case{Shape{37, 1, 1, 9, 10}, Shape{37, 1, 1, 9, 10}, {1, 7, 6}, true}}) {
    const Tensor data = testing::random_uniform(c.data, DType::f32);
    const Tensor seg = random_labels_in(c.seg, -1, 5);
    const std::vector<SpatialParams> params = random_spatial(static_cast<std::size_t>(c.data[0]));
    const SpatialResult expected = spatial_transform(cpu_ctx, data, seg, params, c.patch, c.planar);
    const SpatialResult actual = spatial_transform(gpu(), on_gpu(data), on_gpu(seg), params, c.patch, c.planar);
    EXPECT_TRUE(testing::all_close(actual.data, expected.data, kSpatialTolerance.atol, kSpatialTolerance.rtol));
    EXPECT_TRUE(identical(actual.seg, expected.seg))
        << "mismatch fraction " << mismatch_fraction(actual.seg, expected.seg);
  }
}

TEST(AugmentGpu, StepsMatchCpuExactly) {
  NNUC_REQUIRE_GPU();
  const Shape shape{3, 2, 5, 6, 7};
  const Tensor data = testing::random_uniform(shape, DType::f32);
  const Tensor seg = random_labels_in(shape, -1, 4);
  const std::vector<unsigned> masks{kMirror0 | kMirror2, 0u, kMirror1 | kMirror2};
  EXPECT_TRUE(identical(mirror_samples(gpu(), on_gpu(data), masks), mirror_samples(cpu_ctx, data, masks)));
  EXPECT_TRUE(identical(mirror_samples(gpu(), on_gpu(seg), masks), mirror_samples(cpu_ctx, seg, masks)));

  Tensor masked_gpu = on_gpu(data), masked_cpu = data.copy_to(cpu_ctx);
  mask_image(gpu(), masked_gpu, on_gpu(seg), {false, true});
  mask_image(cpu_ctx, masked_cpu, seg, {false, true});
  EXPECT_TRUE(identical(masked_gpu, masked_cpu));

  const std::vector<Tensor> split_gpu = remove_label(gpu(), on_gpu(seg)), split_cpu = remove_label(cpu_ctx, seg);
  ASSERT_EQ(split_gpu.size(), 2u);
  for (std::size_t s = 0; s < 2; ++s) EXPECT_TRUE(identical(split_gpu[s], split_cpu[s])) << s;

  const Tensor labels = split_cpu[0].reshape(Shape{3, 5, 6, 7, 1});
  const std::vector<std::vector<int>> regions{{1, 2, 3, 4}, {2, 4}, {4}};
  EXPECT_TRUE(
      identical(labels_to_regions(gpu(), on_gpu(labels), regions, 3), labels_to_regions(cpu_ctx, labels, regions, 3)));

  const Tensor channels_last = to_channels_last(cpu_ctx, data, DType::f32);
  EXPECT_TRUE(identical(to_channels_last(gpu(), on_gpu(data), DType::f32), channels_last));
  const Tensor bf16_out = to_channels_last(gpu(), on_gpu(data), DType::bf16);
  ASSERT_EQ(bf16_out.dtype(), DType::bf16);
  EXPECT_TRUE(testing::all_close(testing::to_host_f32(bf16_out), testing::round_to_bf16(channels_last), 0, 0));
}

struct PipelineCase {
  const char* name;
  AugmentConfig config;
  int label_high;
};

std::vector<PipelineCase> pipeline_cases() {
  return {
      {"3-D cascade, masked channel",
       make_augment_config({16, 20, 18}, 2, {true, false}, {{1, 1, 1}, {2, 2, 2}, {2, 2, 2}, {2, 2, 2}}, {1, 2}), 3},
      {"2-D regions + ignore",
       make_augment_config({40, 36}, 1, {false}, {{1, 1}, {2, 2}, {2, 2}}, {}, {{1, 2}, {2}}, 3), 3},
      {"dummy-2D", make_augment_config({6, 40, 32}, 1, {true}, {{1, 1, 1}, {1, 2, 2}, {2, 2, 2}}), 2},
  };
}

TEST(AugmentGpu, AugmentBatchMatchesCpu) {
  NNUC_REQUIRE_GPU();
  for (const PipelineCase& c : pipeline_cases()) {
    const AugmentConfig& config = c.config;
    for (const bool training : {true, false}) {
      const auto& extent = training ? config.patch_load : config.patch;
      const Shape data_shape{2, config.input_channels, extent[0], extent[1], extent[2]};
      const Shape seg_shape{2, config.seg_channels(), extent[0], extent[1], extent[2]};
      const Tensor data = testing::random_uniform(data_shape, DType::f32);
      const Tensor seg = random_labels_in(seg_shape, -1, c.label_high);
      const Tensor data_gpu = on_gpu(data), seg_gpu = on_gpu(seg);
      for (std::uint32_t iteration = 0; iteration < (training ? 6u : 1u); ++iteration) {
        SCOPED_TRACE(std::string(c.name) + (training ? " training, iteration " : " validation, iteration ") +
                     std::to_string(iteration));
        const AugmentedBatch expected = augment_batch(cpu_ctx, data, seg, config, 11, iteration, training, DType::f32);
        for (const DType out_dtype : {DType::f32, DType::bf16}) {
          const AugmentedBatch actual =
              augment_batch(gpu(), data_gpu, seg_gpu, config, 11, iteration, training, out_dtype);
          ASSERT_EQ(actual.data.shape(), expected.data.shape());
          ASSERT_EQ(actual.data.dtype(), out_dtype);
          const Tolerance tolerance = out_dtype == DType::f32 ? kAugmentImageTolerance : kAugmentImageToleranceBf16;
          EXPECT_TRUE(
              testing::all_close(testing::to_host_f32(actual.data), expected.data, tolerance.atol, tolerance.rtol))
              << dtype_name(out_dtype);
          ASSERT_EQ(actual.targets.size(), expected.targets.size());
          for (std::size_t t = 0; t < expected.targets.size(); ++t) {
            ASSERT_EQ(actual.targets[t].shape(), expected.targets[t].shape());
            ASSERT_EQ(actual.targets[t].dtype(), expected.targets[t].dtype());
            EXPECT_LE(mismatch_fraction(actual.targets[t], expected.targets[t]), kAugmentLabelMismatchFraction)
                << "target " << t;
          }
        }
      }
    }
  }
}

TEST(AugmentGpu, AugmentBatchLeavesItsInputsAlone) {
  NNUC_REQUIRE_GPU();
  const AugmentConfig config = make_augment_config({8, 12, 10}, 1, {true}, {});
  const Shape shape{2, 1, config.patch_load[0], config.patch_load[1], config.patch_load[2]};
  const Tensor data = testing::random_uniform(shape, DType::f32);
  const Tensor seg = random_labels_in(shape, -1, 2);
  const Tensor data_gpu = on_gpu(data), seg_gpu = on_gpu(seg);
  for (std::uint32_t iteration = 0; iteration < 3; ++iteration)
    (void)augment_batch(gpu(), data_gpu, seg_gpu, config, 5, iteration, true, DType::bf16);
  EXPECT_TRUE(identical(data_gpu, data));
  EXPECT_TRUE(identical(seg_gpu, seg));
}

}  // namespace
}  // namespace nnuc::augment
