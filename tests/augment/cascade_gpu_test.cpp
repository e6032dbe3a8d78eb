// Step 14 on the GPU: cascade_inputs and component_roots against the CPU, exactly (kCascadeTolerance
// is 0: one-hot values, morphology and component choice are integer decisions). Covers drawn and
// everything-firing parameters, 3-D and 2-D (X = 1) patches, and a patch of more than 1024 tiles of
// 1024 voxels, which the CUDA component selection walks in several chunks.
#include <gtest/gtest.h>

#include <random>

#include "data/augment/cascade.h"
#include "tests/augment/cascade_test_util.h"
#include "tests/support/coverage.h"
#include "tests/support/test_support.h"

NNUC_COVER_CUDA("cascade_inputs");
NNUC_COVER_CUDA("component_roots");

namespace nnuc::augment {
namespace {

using namespace testing_cascade;
const Context& cpu_ctx = Context::cpu();

// GPU result == CPU result for one batch and one parameter set (null: validation).
void expect_same_on_gpu(const Tensor& data, const Tensor& previous, const std::vector<int>& labels,
                        const std::vector<CascadeParams>* params) {
  const Context& gpu = *nnuc::testing::gpu();
  const Tensor want = cascade_inputs(cpu_ctx, data, previous, labels, params);
  const Tensor got = cascade_inputs(gpu, data.copy_to(gpu), previous.copy_to(gpu), labels, params);
  ASSERT_EQ(got.shape(), want.shape());
  const std::vector<float> got_values = got.to_vector<float>(), want_values = want.to_vector<float>();
  std::int64_t differing = 0, first = -1;
  for (std::size_t i = 0; i < want_values.size(); ++i)
    if (got_values[i] != want_values[i]) {
      if (first < 0) first = static_cast<std::int64_t>(i);
      ++differing;
    }
  EXPECT_EQ(differing, 0) << "first differing element " << first << " of " << want.describe();
}

TEST(CascadeGpu, ComponentRootsMatchTheCpu) {
  NNUC_REQUIRE_GPU();
  const Context& gpu = *nnuc::testing::gpu();
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (const Shape3& patch :
       {Shape3{24, 20, 22}, Shape3{1, 64, 60}, Shape3{40, 1, 33}, Shape3{7, 9, 1}, Shape3{64, 64, 64}}) {
    for (double density : {0.05, 0.3, 0.5, 0.8}) {
      std::vector<float> mask(static_cast<std::size_t>(patch[0] * patch[1] * patch[2]));
      for (float& m : mask) m = unit(nnuc::testing::rng()) < density ? 1.0f : 0.0f;
      const Tensor host = Tensor::from_vector(Shape{patch[0], patch[1], patch[2]}, mask);
      const Tensor want = component_roots(cpu_ctx, host);
      const Tensor got = component_roots(gpu, host.copy_to(gpu));
      EXPECT_EQ(got.to_vector<std::int32_t>(), want.to_vector<std::int32_t>())
          << "patch (" << patch[0] << ", " << patch[1] << ", " << patch[2] << ") density " << density;
    }
    const auto blobs = blob_labels(patch, 2, 10, 6.0, 0.02);
    const Tensor host =
        Tensor::from_vector(Shape{patch[0], patch[1], patch[2]}, std::vector<float>(blobs.begin(), blobs.end()));
    EXPECT_EQ(component_roots(gpu, host.copy_to(gpu)).to_vector<std::int32_t>(),
              component_roots(cpu_ctx, host).to_vector<std::int32_t>());
  }
}

TEST(CascadeGpu, ValidationAndDrawnBatchesMatchTheCpu) {
  NNUC_REQUIRE_GPU();
  const std::vector<int> labels{2, 1, 3};
  const std::uint64_t seed = nnuc::testing::test_seed();
  for (const Shape3& patch : {Shape3{20, 24, 18}, Shape3{1, 48, 40}}) {
    SCOPED_TRACE("patch (" + std::to_string(patch[0]) + ", " + std::to_string(patch[1]) + ", " +
                 std::to_string(patch[2]) + ")");
    const Tensor data = nnuc::testing::random_uniform(Shape{4, 2, patch[0], patch[1], patch[2]}, DType::f32);
    const Tensor previous = previous_segmentation(4, patch, 4, 14, 5.0, 0.02);
    expect_same_on_gpu(data, previous, labels, nullptr);
    for (std::uint32_t iteration = 0; iteration < 8; ++iteration) {
      const auto drawn = drawn_batch(seed, iteration, 4, 3);
      expect_same_on_gpu(data, previous, labels, &drawn);
    }
  }
}

TEST(CascadeGpu, EveryOperatorAndRemovalMatchesTheCpu) {
  NNUC_REQUIRE_GPU();
  const std::vector<int> labels{1, 2, 3, 4};
  for (const Shape3& patch : {Shape3{22, 19, 25}, Shape3{1, 57, 43}, Shape3{9, 30, 1}}) {
    const Tensor data = nnuc::testing::random_uniform(Shape{3, 1, patch[0], patch[1], patch[2]}, DType::f32);
    const Tensor previous = previous_segmentation(3, patch, 5, 16, 4.0, 0.03);
    for (std::uint64_t salt = 0; salt < 6; ++salt) {
      const std::vector<CascadeParams> params{everything(4, salt), everything(4, salt + 1), everything(4, salt + 2)};
      expect_same_on_gpu(data, previous, labels, &params);
    }
  }
}

TEST(CascadeGpu, RemovalOnAPatchOfManyTilesMatchesTheCpu) {
  NNUC_REQUIRE_GPU();
  // 128 x 96 x 96 = 1179648 voxels: 1152 selection tiles, two chunks of the choose kernel.
  const Shape3 patch{128, 96, 96};
  const Tensor data = nnuc::testing::random_uniform(Shape{1, 1, patch[0], patch[1], patch[2]}, DType::f32);
  const Tensor previous = previous_segmentation(1, patch, 3, 40, 9.0, 0.002);
  for (double choice : {0.0, 0.13, 0.5, 0.77, 0.999}) {
    std::vector<CascadeParams> params(1);
    params[0].component_removal = true;
    params[0].removals = {{0, choice}, {1, 1.0 - choice - 1e-9}};
    expect_same_on_gpu(data, previous, {1, 2}, &params);
  }
}

TEST(CascadeGpu, MetaModelsTheCudaAllocations) {
  NNUC_REQUIRE_GPU();
  const Context& gpu = *nnuc::testing::gpu();
  const Shape3 patch{12, 14, 10};
  const Tensor data = nnuc::testing::random_uniform(Shape{2, 1, 12, 14, 10}, DType::f32).copy_to(gpu);
  const Tensor previous = previous_segmentation(2, patch, 3).copy_to(gpu);
  const std::vector<CascadeParams> params{everything(2, 3), everything(2, 4)};
  const std::size_t real = nnuc::testing::peak_bytes_of(gpu, [&] {
    cascade_inputs(gpu, data, previous, {1, 2}, &params);
  });
  const auto meta = Context::meta(Device::CUDA);
  const Tensor meta_data = Tensor::empty(data.shape(), DType::f32, *meta);
  const Tensor meta_previous = Tensor::empty(previous.shape(), DType::i16, *meta);
  const std::size_t modelled = nnuc::testing::peak_bytes_of(*meta, [&] {
    cascade_inputs(*meta, meta_data, meta_previous, {1, 2}, &params);
  });
  EXPECT_EQ(modelled, real);
}

}  // namespace
}  // namespace nnuc::augment
