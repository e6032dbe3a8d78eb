// Deterministic mode on a GPU (Context::set_deterministic): two mixed-precision training steps of a
// small U-Net, run twice from the same seed and inputs on fresh contexts, end with bit-identical
// weights. Every algorithm cuDNN picks in that mode reports CUDNN_DETERMINISTIC, and nnuc's own
// kernels reduce without atomics (kernels/README.md).
#include <cstring>
#include <memory>
#include <vector>

#include "nn/training_step.h"
#include "tests/support/test_support.h"

namespace nnuc::nn {
namespace {

UNetConfig small_config() {
  UNetConfig config;
  config.input_channels = 1;
  config.num_classes = 3;
  config.features_per_stage = {16, 32, 64};
  config.kernel_sizes.assign(3, Triple{3, 3, 3});
  config.strides = {Triple{1, 1, 1}, Triple{2, 2, 2}, Triple{2, 2, 2}};
  config.n_conv_per_stage = {2, 2, 2};
  config.n_conv_per_stage_decoder = {2, 2};
  return config;
}

// The f32 weights after two steps, as raw bytes per parameter.
std::vector<std::vector<float>> train_two_steps(const Tensor& input_host, const Tensor& labels_host) {
  std::unique_ptr<Context> gpu = Context::cuda(0);
  gpu->set_deterministic(true);
  UNet network(*gpu, small_config(), DType::f32, 1234);
  SGD optimizer(*gpu, network.parameters(), OptimizerConfig{});
  const Tensor input = testing::to_device(input_host, DType::bf16).copy_to(*gpu);
  const Tensor labels = labels_host.copy_to(*gpu);
  for (int step = 0; step < 2; ++step) training_step(*gpu, network, optimizer, input, labels, LossConfig{}, 0.01);
  gpu->synchronize();
  std::vector<std::vector<float>> weights;
  for (const NamedParameter& parameter : network.parameters())
    weights.push_back(parameter.var->value().to_vector<float>());
  return weights;
}

TEST(DeterministicGpu, TwoRunsOfTwoTrainingStepsGiveBitIdenticalWeights) {
  NNUC_REQUIRE_GPU();
  const Tensor input = testing::random_uniform(Shape{2, 32, 32, 32, 1}, DType::f32);
  const Tensor labels = testing::random_labels(Shape{2, 32, 32, 32, 1}, DType::i16, 3);
  const std::vector<std::vector<float>> first = train_two_steps(input, labels);
  const std::vector<std::vector<float>> second = train_two_steps(input, labels);
  ASSERT_EQ(first.size(), second.size());
  std::size_t differing = 0;
  for (std::size_t p = 0; p < first.size(); ++p) {
    ASSERT_EQ(first[p].size(), second[p].size());
    if (std::memcmp(first[p].data(), second[p].data(), first[p].size() * sizeof(float)) != 0) ++differing;
  }
  EXPECT_EQ(differing, 0u) << differing << " of " << first.size() << " parameters differ between the runs";
  // The steps did change the weights (the comparison is not of two untouched initializations).
  std::unique_ptr<Context> gpu = Context::cuda(0);
  UNet untouched(*gpu, small_config(), DType::f32, 1234);
  std::size_t changed = 0;
  std::size_t index = 0;
  for (const NamedParameter& parameter : untouched.parameters())
    if (parameter.var->value().to_vector<float>() != first[index++]) ++changed;
  EXPECT_GT(changed, first.size() / 2);
}

}  // namespace
}  // namespace nnuc::nn
