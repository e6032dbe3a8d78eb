// data/augment/intensity on a GPU: apply_intensity on CUDA against the CPU on the same crops and the
// same draws, at kIntensityTolerance; each transform alone, all of them, and drawn batches; shapes
// with several statistics chunks, more volumes than one launch holds, long and short axes, 2-D and
// dummy-2D; repeatability; CUDA vs Meta allocations.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "data/augment/intensity.h"
#include "tests/augment/intensity_test_util.h"
#include "tests/support/test_support.h"

namespace nnuc::augment {
namespace {

using testing_intensity::random_crop;

const PhiloxKey kNoiseKey = philox_key(99, PhiloxStream::augment_noise);

struct GpuCase {
  Shape shape;
  bool dummy_2d;
};
// (B, C, X, Y, Z): 3-D; 2-D (X = 1); dummy-2D; 18 volumes (two launch groups); 40*41*23 voxels (three
// statistics chunks); a long contiguous axis and a long strided one; axes shorter than the blur radius.
const std::vector<GpuCase> kCases = {
    {Shape{2, 2, 9, 10, 11}, false}, {Shape{3, 1, 1, 17, 19}, false},  {Shape{2, 2, 3, 20, 18}, true},
    {Shape{9, 2, 5, 6, 7}, false},   {Shape{1, 2, 40, 41, 23}, false}, {Shape{1, 1, 3, 5, 700}, false},
    {Shape{1, 1, 300, 4, 3}, false}, {Shape{2, 1, 2, 3, 2}, false},
};

// Runs the CPU and the GPU on the same crop and parameters and compares.
void expect_gpu_matches_cpu(const Tensor& host, const std::vector<IntensityParams>& params, std::uint32_t iteration,
                            const std::string& what) {
  Tensor on_cpu = host.to_cpu();
  apply_intensity(Context::cpu(), on_cpu, params, kNoiseKey, iteration);
  Tensor on_gpu = host.copy_to(*nnuc::testing::gpu());
  apply_intensity(*nnuc::testing::gpu(), on_gpu, params, kNoiseKey, iteration);
  EXPECT_TRUE(nnuc::testing::all_close(on_gpu.to_cpu(), on_cpu, kIntensityTolerance.atol, kIntensityTolerance.rtol))
      << what << " " << host.shape().str();
}

std::vector<IntensityParams> all_firing_batch(const GpuCase& c, std::uint32_t iteration) {
  std::vector<IntensityParams> params;
  for (std::int64_t b = 0; b < c.shape[0]; ++b)
    params.push_back(testing_intensity::all_firing(nnuc::testing::test_seed(), iteration, static_cast<std::uint32_t>(b),
                                                   static_cast<int>(c.shape[1]), c.dummy_2d));
  return params;
}

TEST(IntensityGpu, EachTransformAloneMatchesCpu) {
  NNUC_REQUIRE_GPU();
  // Keeps only transform t of an all-firing batch.
  const std::vector<std::pair<const char*, std::function<void(IntensityParams&)>>> only = {
      {"noise", [](IntensityParams& p) { p.noise = true; }},
      {"blur", [](IntensityParams& p) { p.blur = true; }},
      {"brightness", [](IntensityParams& p) { p.brightness = true; }},
      {"contrast", [](IntensityParams& p) { p.contrast = true; }},
      {"low resolution", [](IntensityParams& p) { p.low_resolution = true; }},
      {"inverted gamma", [](IntensityParams& p) { p.inverted_gamma = true; }},
      {"gamma", [](IntensityParams& p) { p.gamma = true; }},
  };
  for (const GpuCase& c : kCases) {
    const Tensor host = random_crop(c.shape);
    for (const auto& [name, enable] : only) {
      std::vector<IntensityParams> params = all_firing_batch(c, 2);
      for (IntensityParams& p : params) {
        p.noise = p.blur = p.brightness = p.contrast = p.low_resolution = p.inverted_gamma = p.gamma = false;
        enable(p);
      }
      expect_gpu_matches_cpu(host, params, 2, name);
    }
  }
}

TEST(IntensityGpu, AllTransformsMatchCpu) {
  NNUC_REQUIRE_GPU();
  for (const GpuCase& c : kCases) expect_gpu_matches_cpu(random_crop(c.shape), all_firing_batch(c, 8), 8, "all");
}

TEST(IntensityGpu, DrawnBatchesMatchCpu) {
  NNUC_REQUIRE_GPU();
  for (const GpuCase& c : kCases)
    for (std::uint32_t iteration = 0; iteration < 6; ++iteration)
      expect_gpu_matches_cpu(
          random_crop(c.shape),
          testing_intensity::drawn_batch(nnuc::testing::test_seed(), iteration, static_cast<int>(c.shape[0]),
                                         static_cast<int>(c.shape[1]), c.dummy_2d),
          iteration, "drawn, iteration " + std::to_string(iteration));
}

TEST(IntensityGpu, SameIterationSameBytes) {
  NNUC_REQUIRE_GPU();
  const GpuCase c = kCases[4];
  const Tensor host = random_crop(c.shape);
  const std::vector<IntensityParams> params = all_firing_batch(c, 3);
  Tensor first = host.copy_to(*nnuc::testing::gpu()), second = host.copy_to(*nnuc::testing::gpu());
  apply_intensity(*nnuc::testing::gpu(), first, params, kNoiseKey, 3);
  apply_intensity(*nnuc::testing::gpu(), second, params, kNoiseKey, 3);
  const Tensor a = first.to_cpu(), b = second.to_cpu();
  EXPECT_EQ(std::memcmp(a.raw(), b.raw(), a.bytes()), 0);
}

TEST(IntensityGpu, AllocatesAsMetaPredicts) {
  NNUC_REQUIRE_GPU();
  const GpuCase c = kCases[0];
  const std::vector<IntensityParams> params = all_firing_batch(c, 1);
  Tensor data = random_crop(c.shape).copy_to(*nnuc::testing::gpu());
  const std::size_t cuda_peak = nnuc::testing::peak_bytes_of(
      *nnuc::testing::gpu(), [&] { apply_intensity(*nnuc::testing::gpu(), data, params, kNoiseKey, 1); });
  auto meta = Context::meta(Device::CUDA);
  Tensor meta_data = Tensor::empty(c.shape, DType::f32, *meta);
  const std::size_t meta_peak =
      nnuc::testing::peak_bytes_of(Device::Meta, [&] { apply_intensity(*meta, meta_data, params, kNoiseKey, 1); });
  EXPECT_EQ(cuda_peak, meta_peak);
  EXPECT_GT(cuda_peak, 0u);
}

}  // namespace
}  // namespace nnuc::augment
