// On a GPU: a real mixed-precision training step against measure mode's prediction for the same step.
//   - The allocator peak: the prediction charges each convolution the workspace cap until an
//     algorithm is cached, the real run the chosen algorithm's workspace, so the prediction is an upper
//     bound within the cap.
//   - The device's own view (cudaMemGetInfo, through cuda_memory_state): the memory the step takes on
//     the device, and the whole device use after it against the prediction's device total (allocator
//     peak + kCudaFixedOverheadBytes).
//   - The fixed overhead measured (measure_cuda_fixed_overhead) against the stated constant; only
//     meaningful as the first CUDA work of the process (tests/gpu/run_gpu_checks.sh runs each suite in
//     a process of its own).
// Each prints its numbers ("[step memory]" lines) for bench/results/.
#include <cstdio>
#include <string>
#include <vector>

#include "kernels/core/allocator.h"
#include "nn/training_step.h"
#include "tests/support/test_support.h"

namespace nnuc::nn {
namespace {

double mib(std::uint64_t bytes) { return static_cast<double>(bytes) / (1 << 20); }
std::uint64_t growth(std::uint64_t from, std::uint64_t to) { return to > from ? to - from : 0; }

// The default 3-D network for 64³ (4 poolings: stages >= 4³), batch 2, bf16.
TrainingStepSpec step_spec(std::size_t workspace_cap) {
  TrainingStepSpec spec;
  spec.network = default_3d_config(1, 3);
  spec.batch_size = 2;
  spec.patch_size = {64, 64, 64};
  spec.network.features_per_stage.pop_back();
  spec.network.kernel_sizes.pop_back();
  spec.network.strides.pop_back();
  spec.network.n_conv_per_stage.pop_back();
  spec.network.n_conv_per_stage_decoder.pop_back();
  spec.activations = DType::bf16;
  spec.device = Device::CUDA;
  spec.workspace_cap = workspace_cap;
  return spec;
}

TEST(StepMemoryGpu, PredictionBoundsTheRealCudaStep) {
  NNUC_REQUIRE_GPU();
  Context& gpu = *testing::gpu();
  const TrainingStepSpec spec = step_spec(gpu.workspace_cap());
  const TrainingStepMemory predicted = predict_training_step_memory(spec);

  Allocator& cuda = allocator_for(Device::CUDA);
  const std::uint64_t base = cuda.stats().current_bytes;
  UNet network(gpu, spec.network, DType::f32, 1);
  SGD optimizer(gpu, network.parameters(), OptimizerConfig{});
  const Triple& p = spec.patch_size;
  const Tensor input =
      testing::to_device(testing::random_uniform(Shape{2, p[0], p[1], p[2], 1}, DType::f32), DType::bf16);
  const Tensor labels = testing::random_labels(Shape{2, p[0], p[1], p[2], 1}, DType::i16, 3).copy_to(gpu);
  training_step(gpu, network, optimizer, input, labels, spec.loss, 0.01);  // chooses algorithms
  cuda.reset_peak();
  training_step(gpu, network, optimizer, input, labels, spec.loss, 0.01);
  gpu.synchronize();
  const std::uint64_t measured = cuda.stats().peak_bytes - base;
  std::printf("[step memory] 64^3 batch 2 bf16: predicted %llu bytes, measured %llu, difference %lld\n",
              (unsigned long long)predicted.peak_bytes, (unsigned long long)measured,
              (long long)predicted.peak_bytes - (long long)measured);
  EXPECT_GE(predicted.peak_bytes, measured);
  EXPECT_LE(predicted.peak_bytes - measured, spec.workspace_cap);
}

TEST(StepMemoryGpu, DeviceMemoryOfARealStepAgainstThePrediction) {
  NNUC_REQUIRE_GPU();
  Context& gpu = *testing::gpu();
  const TrainingStepSpec spec = step_spec(gpu.workspace_cap());
  const TrainingStepMemory predicted = predict_training_step_memory(spec);
  Allocator& cuda = allocator_for(Device::CUDA);
  cuda.release_cached();  // from here the pool grows by what the step needs
  const CudaMemoryState before = *cuda_memory_state();
  const std::uint64_t live_before = cuda.stats().current_bytes;
  cuda.reset_peak();
  {
    UNet network(gpu, spec.network, DType::f32, 1);
    SGD optimizer(gpu, network.parameters(), OptimizerConfig{});
    const Triple& p = spec.patch_size;
    const Tensor input =
        testing::to_device(testing::random_uniform(Shape{2, p[0], p[1], p[2], 1}, DType::f32), DType::bf16);
    const Tensor labels = testing::random_labels(Shape{2, p[0], p[1], p[2], 1}, DType::i16, 3).copy_to(gpu);
    for (int step = 0; step < 2; ++step) training_step(gpu, network, optimizer, input, labels, spec.loss, 0.01);
    gpu.synchronize();
    const CudaMemoryState after = *cuda_memory_state();
    const std::uint64_t allocator_peak = cuda.stats().peak_bytes - live_before;
    const std::uint64_t pool_growth = growth(before.pool_reserved, after.pool_reserved);
    const std::uint64_t device_growth = growth(after.device_free, before.device_free);
    const std::uint64_t device_used = after.device_total - after.device_free;
    std::printf(
        "[step memory] device view, 64^3 batch 2 bf16 (MiB): predicted peak %.1f + fixed overhead %.1f = "
        "%.1f; allocator peak %.1f; pool grew %.1f; device free fell %.1f; device used in all %.1f\n",
        mib(predicted.peak_bytes), mib(predicted.fixed_overhead), mib(predicted.device_total()), mib(allocator_peak),
        mib(pool_growth), mib(device_growth), mib(device_used));
    // The pool holds at least what the allocator counted at its peak (its blocks are whole pages).
    EXPECT_GE(static_cast<double>(pool_growth), 0.95 * static_cast<double>(allocator_peak));
    // The step's growth of device use (pool, plus modules loaded on first use) stays within the
    // prediction's peak plus the fixed overhead.
    EXPECT_LE(device_growth, predicted.device_total());
    // Everything on the device (this process alone on it: context, handles, modules, pool) stays
    // within the predicted device total; a failure here means kCudaFixedOverheadBytes is too small.
    EXPECT_LE(device_used, predicted.device_total())
        << "device use " << mib(device_used) << " MiB above the predicted " << mib(predicted.device_total()) << " MiB";
  }
}

// One bf16 training step of a small U-Net (what loads the kernels a step uses).
void small_step(const Context& ctx) {
  UNetConfig config;
  config.features_per_stage = {16, 32, 64};
  config.kernel_sizes.assign(3, Triple{3, 3, 3});
  config.strides = {Triple{1, 1, 1}, Triple{2, 2, 2}, Triple{2, 2, 2}};
  config.n_conv_per_stage = {2, 2, 2};
  config.n_conv_per_stage_decoder = {2, 2};
  config.num_classes = 3;
  UNet network(ctx, config, DType::f32, 1);
  SGD optimizer(ctx, network.parameters(), OptimizerConfig{});
  const Shape shape{2, 32, 32, 32, 1};
  Tensor input_host = Tensor::empty_cpu(shape, DType::bf16);  // (testing::to_device would start another context)
  const std::vector<float> values = testing::random_uniform(shape, DType::f32).to_vector<float>();
  for (std::size_t i = 0; i < values.size(); ++i) input_host.data<bf16>()[i] = float_to_bf16(values[i]);
  const Tensor input = input_host.copy_to(ctx);
  const Tensor labels = testing::random_labels(shape, DType::i16, 3).copy_to(ctx);
  training_step(ctx, network, optimizer, input, labels, LossConfig{}, 0.01);
}

// Run first in its process (the script's per-suite runs), before anything else creates the context.
TEST(CudaOverheadGpu, MeasuredFixedOverheadAgainstTheStatedConstant) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  const CudaFixedOverhead overhead = measure_cuda_fixed_overhead(0, small_step);
  std::printf(
      "[step memory] fixed overhead (MiB): context %s, handles %.1f, first use of kernels %.1f, total %.1f; "
      "stated %.1f\n",
      overhead.context_bytes ? std::to_string(mib(*overhead.context_bytes)).c_str() : "not measured",
      mib(overhead.handles_bytes), mib(overhead.first_use_bytes), mib(overhead.total()), mib(kCudaFixedOverheadBytes));
  EXPECT_GT(overhead.device_total_bytes, 0u);
  if (!overhead.context_bytes) GTEST_SKIP() << "the CUDA context existed before the measurement (or no NVML)";
  EXPECT_GT(*overhead.context_bytes, 0u);
  EXPECT_LE(overhead.total(), kCudaFixedOverheadBytes) << "kCudaFixedOverheadBytes (nn/training_step.h) is too small";
}

}  // namespace
}  // namespace nnuc::nn
