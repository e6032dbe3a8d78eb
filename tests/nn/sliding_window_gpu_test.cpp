// The sliding window on a GPU: the kernels/window ops give the CPU's bits (f32 and bf16), and
// predict_sliding_window on CUDA (f32 and bf16 activations) matches the CPU on the same networks
// within kSlidingWindowTolerance*; host accumulation and the forced OutOfMemory fallbacks (the CUDA
// allocator's failure injection, armed mid-case from the progress callback) give the device path's values.
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>

#include "kernels/core/allocator.h"
#include "kernels/window/window.h"
#include "nn/predict/sliding_window.h"
#include "tests/kernels/window_test_util.h"
#include "tests/support/coverage.h"
#include "tests/support/test_support.h"

NNUC_COVER_CUDA("extract_tiles");
NNUC_COVER_CUDA("add_flipped_tiles");
NNUC_COVER_CUDA("accumulate_tiles");
NNUC_COVER_CUDA("normalize_by_weights");

namespace nnuc::nn {
namespace {

using window_test::random_origins;

const Context& cpu_ctx = Context::cpu();
const Context& gpu() { return *testing::gpu(); }

bool same_values(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.to_vector<float>() == b.to_vector<float>();
}

TEST(WindowGpu, OpsGiveTheCpuBits) {
  NNUC_REQUIRE_GPU();
  const Tensor image = testing::random_uniform(Shape{3, 17, 21, 13}, DType::f32, -3, 3);
  const TileSize tile{8, 12, 16};
  const std::vector<TileOrigin> origins = random_origins(6, Shape{17, 21, 13}, tile);
  const Tensor image_gpu = image.copy_to(gpu());
  for (unsigned flips = 0; flips < 8; ++flips) {
    const Tensor cpu = extract_tiles(cpu_ctx, image, origins, tile, flips, DType::f32);
    EXPECT_TRUE(same_values(extract_tiles(gpu(), image_gpu, origins, tile, flips, DType::f32), cpu)) << flips;
    EXPECT_TRUE(
        same_values(extract_tiles(gpu(), image_gpu, origins, tile, flips, DType::bf16), testing::round_to_bf16(cpu)))
        << flips;
  }
  const Shape logits_shape{6, 8, 12, 16, 3};
  const Tensor first = testing::round_to_bf16(testing::random_uniform(logits_shape, DType::f32, -4, 4));
  const Tensor second = testing::round_to_bf16(testing::random_uniform(logits_shape, DType::f32, -4, 4));
  for (DType dtype : {DType::f32, DType::bf16}) {
    for (unsigned flips : {0u, 5u, 7u}) {
      Tensor sum_cpu = Tensor::empty_cpu(logits_shape, DType::f32);
      add_flipped_tiles(cpu_ctx, first, 0, sum_cpu, true);
      add_flipped_tiles(cpu_ctx, second, flips, sum_cpu, false);
      Tensor sum_gpu = Tensor::empty(logits_shape, DType::f32, gpu());
      add_flipped_tiles(gpu(), testing::to_device(first, dtype), 0, sum_gpu, true);
      add_flipped_tiles(gpu(), testing::to_device(second, dtype), flips, sum_gpu, false);
      EXPECT_TRUE(same_values(sum_gpu, sum_cpu)) << dtype_name(dtype) << " flips " << flips;

      const Tensor gaussian = gaussian_importance_map(tile);
      Tensor acc_cpu = testing::random_uniform(Shape{3, 17, 21, 13}, DType::f32);
      Tensor weights_cpu = testing::random_uniform(Shape{17, 21, 13}, DType::f32, 0.5, 1);
      Tensor acc_gpu = acc_cpu.copy_to(gpu()), weights_gpu = weights_cpu.copy_to(gpu());
      accumulate_tiles(cpu_ctx, sum_cpu, gaussian, 0.125f, origins, acc_cpu, weights_cpu);
      accumulate_tiles(gpu(), sum_gpu, gaussian.copy_to(gpu()), 0.125f, origins, acc_gpu, weights_gpu);
      EXPECT_TRUE(same_values(weights_gpu, weights_cpu));
      EXPECT_TRUE(same_values(acc_gpu, acc_cpu));
      normalize_by_weights(cpu_ctx, acc_cpu, weights_cpu);
      normalize_by_weights(gpu(), acc_gpu, weights_gpu);
      EXPECT_TRUE(same_values(acc_gpu, acc_cpu));
    }
  }
}

UNetConfig gpu_config(bool two_d, int channels, int classes) {
  UNetConfig config;
  config.input_channels = channels;
  config.num_classes = classes;
  config.features_per_stage = {8, 16, 32};
  const Triple k = two_d ? Triple{1, 3, 3} : Triple{3, 3, 3}, s = two_d ? Triple{1, 2, 2} : Triple{2, 2, 2};
  config.kernel_sizes = {k, k, k};
  config.strides = {Triple{1, 1, 1}, s, s};
  config.n_conv_per_stage = {2, 2, 2};
  config.n_conv_per_stage_decoder = {2, 2};
  config.deep_supervision = false;
  return config;
}

// The same networks on the CPU and on the GPU (weights copied).
struct Twins {
  std::vector<std::unique_ptr<UNet>> cpu, cuda;
  static std::vector<UNet*> raw(const std::vector<std::unique_ptr<UNet>>& owned) {
    std::vector<UNet*> out;
    for (const auto& n : owned) out.push_back(n.get());
    return out;
  }
};

Twins make_twins(const UNetConfig& config, int folds) {
  Twins twins;
  for (int f = 0; f < folds; ++f) {
    const std::uint64_t seed = testing::rng()();
    twins.cpu.push_back(std::make_unique<UNet>(cpu_ctx, config, DType::f32, seed));
    twins.cuda.push_back(std::make_unique<UNet>(gpu(), config, DType::f32, seed));
    std::vector<NamedParameter> a = twins.cpu.back()->parameters(), b = twins.cuda.back()->parameters();
    for (std::size_t i = 0; i < a.size(); ++i) {
      Tensor target = b[i].var->value();
      target.copy_from(a[i].var->value(), gpu());
    }
  }
  gpu().synchronize();
  return twins;
}

// |cuda - cpu| <= atol * max|cpu| + rtol * |cpu|, and prints the largest difference (for the tolerances).
void expect_close(const Tensor& cuda, const Tensor& cpu, const Tolerance& tolerance, const char* what) {
  double largest = 0, worst = 0;
  const std::vector<double> c = cpu.to_vector<double>(), g = cuda.to_vector<double>();
  for (double v : c) largest = std::max(largest, std::fabs(v));
  for (std::size_t i = 0; i < c.size(); ++i) worst = std::max(worst, std::fabs(g[i] - c[i]));
  std::printf("[sliding window] %s: max |cuda - cpu| = %.3g, max |cpu| = %.3g (ratio %.3g)\n", what, worst, largest,
              worst / largest);
  EXPECT_TRUE(testing::all_close(cuda, cpu, tolerance.atol * largest, tolerance.rtol)) << what;
}

struct GpuCase {
  const char* name;
  bool two_d;
  Shape image;
  TileSize patch;
  std::vector<int> mirror_axes;
  int folds;
};

TEST(SlidingWindowGpu, CudaMatchesTheCpu) {
  NNUC_REQUIRE_GPU();
  const GpuCase cases[] = {
      {"3d, all mirrorings", false, Shape{1, 29, 45, 37}, {16, 24, 32}, {0, 1, 2}, 1},
      {"3d, smaller than the patch, two folds", false, Shape{2, 12, 50, 20}, {16, 32, 24}, {1, 2}, 2},
      {"2d", true, Shape{1, 5, 70, 41}, {1, 32, 32}, {0, 1}, 1},
  };
  for (const GpuCase& c : cases) {
    const Twins twins = make_twins(gpu_config(c.two_d, static_cast<int>(c.image[0]), 3), c.folds);
    const Tensor image = testing::random_uniform(c.image, DType::f32, -2, 2);
    SlidingWindowOptions options;
    options.patch = c.patch;
    options.is_2d = c.two_d;
    options.mirror_axes = c.mirror_axes;
    options.tile_batch = 3;
    const Tensor cpu = predict_sliding_window(cpu_ctx, Twins::raw(twins.cpu), image, options);
    for (DType activations : {DType::f32, DType::bf16}) {
      options.activations = activations;
      options.tile_batch = 0;  // automatic on CUDA
      SlidingWindowStats stats;
      const Tensor cuda = predict_sliding_window(gpu(), Twins::raw(twins.cuda), image, options, &stats);
      EXPECT_EQ(cuda.device(), Device::CPU);
      EXPECT_GE(stats.final_tile_batch, 1);
      const std::string what = std::string(c.name) + ", " + dtype_name(activations);
      expect_close(cuda, cpu, activations == DType::bf16 ? kSlidingWindowToleranceBf16 : kSlidingWindowToleranceF32,
                   what.c_str());
      // The image may also come on the device.
      const Tensor from_device = predict_sliding_window(gpu(), Twins::raw(twins.cuda), image.copy_to(gpu()), options);
      expect_close(from_device, cuda, kSlidingWindowToleranceF32, (what + ", image on the device").c_str());
    }
  }
}

TEST(SlidingWindowGpu, HostAccumulationAndForcedFallbacksKeepTheValues) {
  NNUC_REQUIRE_GPU();
  const Twins twins = make_twins(gpu_config(false, 1, 3), 2);
  const Tensor image = testing::random_uniform(Shape{1, 40, 40, 24}, DType::f32);  // 4 x 4 x 2 = 32 tiles of 16^3
  SlidingWindowOptions options;
  options.patch = {16, 16, 16};
  options.mirror_axes = {0, 1, 2};
  options.activations = DType::bf16;
  options.tile_batch = 4;
  SlidingWindowStats normal_stats;
  const Tensor normal = predict_sliding_window(gpu(), Twins::raw(twins.cuda), image, options, &normal_stats);
  EXPECT_FALSE(normal_stats.fell_back_to_host);

  options.accumulate_on_device = false;
  expect_close(predict_sliding_window(gpu(), Twins::raw(twins.cuda), image, options), normal,
               kSlidingWindowToleranceF32, "host accumulation");
  options.accumulate_on_device = true;

  Allocator& allocator = allocator_for(Device::CUDA);
  for (int out_of_memories : {1, 3}) {
    bool armed = false;
    auto inject = [&](std::int64_t done, std::int64_t) {
      if (armed || done != 8) return;
      armed = true;
      allocator.fail_next_allocations(2 * out_of_memories);  // two tries per OutOfMemory
    };
    SlidingWindowStats stats;
    const Tensor forced = predict_sliding_window(gpu(), Twins::raw(twins.cuda), image, options, &stats, inject);
    EXPECT_TRUE(armed);
    EXPECT_TRUE(stats.fell_back_to_host);
    EXPECT_EQ(stats.final_tile_batch, out_of_memories == 1 ? 4 : 1);
    expect_close(forced, normal, kSlidingWindowToleranceF32,
                 out_of_memories == 1 ? "fallback to the host" : "fallback to the host and tile batch 1");
  }
  allocator.fail_next_allocations(0);
}

}  // namespace
}  // namespace nnuc::nn
