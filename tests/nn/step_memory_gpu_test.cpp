// On a GPU: a real mixed-precision training step's allocator peak against measure mode's
// prediction for the same step. The prediction charges each convolution the workspace cap until
// an algorithm is cached, the real run the chosen algorithm's workspace: the test checks the
// prediction is an upper bound within the cap and prints the difference for bench/results/.
#include <cstdio>

#include "kernels/core/allocator.h"
#include "nn/training_step.h"
#include "tests/support/test_support.h"

namespace nnuc::nn {
namespace {

TEST(StepMemoryGpu, PredictionBoundsTheRealCudaStep) {
  NNUC_REQUIRE_GPU();
  Context& gpu = *testing::gpu();
  TrainingStepSpec spec;
  spec.network = default_3d_config(1, 3);
  spec.batch_size = 2;
  spec.patch_size = {64, 64, 64};
  spec.network.features_per_stage.pop_back();  // 64³ takes 4 poolings (stages >= 4³)
  spec.network.kernel_sizes.pop_back();
  spec.network.strides.pop_back();
  spec.network.n_conv_per_stage.pop_back();
  spec.network.n_conv_per_stage_decoder.pop_back();
  spec.activations = DType::bf16;
  spec.device = Device::CUDA;
  spec.workspace_cap = gpu.workspace_cap();
  const TrainingStepMemory predicted = predict_training_step_memory(spec);

  Allocator& cuda = allocator_for(Device::CUDA);
  const std::uint64_t base = cuda.stats().current_bytes;
  UNet network(gpu, spec.network, DType::f32, 1);
  SGD optimizer(gpu, network.parameters(), OptimizerConfig{});
  const Triple& p = spec.patch_size;
  const Tensor input = testing::to_device(testing::random_uniform(Shape{2, p[0], p[1], p[2], 1}, DType::f32), DType::bf16);
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

}  // namespace
}  // namespace nnuc::nn
